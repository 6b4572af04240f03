import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import type { Principal, RequestContext } from '@berth/core';

/**
 * The request as events record it: who (the principal the access check found), the request id (the one
 * the host or the request log set on `ctx.state.requestId`, else a new one kept there), the client's
 * `address:port` (or the first forwarded address when the app trusts proxies), Host, method, User-Agent,
 * and the origin the registry is reached at, for the event's `url`.
 */
export function requestContext(ctx: Context, principal?: Principal): RequestContext {
  const state = ctx.state as { requestId?: unknown };
  if (typeof state.requestId !== 'string' || state.requestId === '') state.requestId = randomUUID();
  const socket = ctx.req.socket;
  const forwarded = ctx.app.proxy && ctx.request.ips.length > 0;
  const address = socket.remoteAddress;
  const clientAddress = forwarded
    ? ctx.ip
    : address === undefined
      ? undefined
      : `${address.includes(':') ? `[${address}]` : address}:${socket.remotePort ?? 0}`;
  return {
    ...(principal !== undefined && { principal }),
    requestId: state.requestId as string,
    ...(clientAddress !== undefined && { clientAddress }),
    host: ctx.host,
    method: ctx.method,
    userAgent: ctx.get('User-Agent'),
    origin: `${ctx.protocol}://${ctx.host}`,
  };
}
