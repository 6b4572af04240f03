import type { Context, Next } from 'koa';
import { ERROR_CODES, RegistryError, isRegistryError, type ErrorCode } from '@berth/core';
import { missingBlobBehind } from '@berth/registry/internal';

/** Header every registry response carries, errors included, so clients know they reached a v2 registry. */
export const API_VERSION_HEADER = 'Docker-Distribution-API-Version';

/**
 * The status recorded (never sent) for a request whose client closed the connection before the whole
 * request arrived: nginx's "client closed request", which log tooling knows. Not a server error.
 */
export const CLIENT_CLOSED_REQUEST = 499;

/**
 * Turns every failure below it into the spec's JSON error body. RegistryErrors keep their code and
 * status; anything else is a server fault, reported to the app's error listeners and answered as
 * 500 UNKNOWN without internals. A RegistryError of status 500 (a body parser read the request body
 * first) or 507 (the registry's storage is full) is answered with its code and message but reported
 * too: it is the registry's trouble, for an operator to fix. A client that went away
 * mid-request is neither answered (it cannot be) nor reported: the status is set to 499 for the
 * access log, and that is all. A blob the metadata links but the blob store lacks is answered as the
 * spec says (BLOB_UNKNOWN) and reported to the error listeners as a MissingBlobError.
 */
export async function registryErrors(ctx: Context, next: Next): Promise<void> {
  ctx.set(API_VERSION_HEADER, 'registry/2.0');
  try {
    await next();
  } catch (error) {
    if (clientWentAway(ctx, error)) {
      ctx.status = CLIENT_CLOSED_REQUEST;
      return;
    }
    if (isServerTrouble(error)) ctx.app.emit('error', error, ctx);
    // The client gets the spec's answer; the operator hears of the damaged storage behind it.
    const missingBlob = missingBlobBehind(error);
    if (missingBlob) ctx.app.emit('error', missingBlob, ctx);
    renderError(ctx, toRegistryError(error));
  }
}

export function renderError(ctx: Context, error: RegistryError): void {
  ctx.status = error.status;
  ctx.set(error.headers);
  ctx.set(API_VERSION_HEADER, 'registry/2.0');
  ctx.type = 'application/json; charset=utf-8';
  ctx.body = error.toJSON();
}

/**
 * What the app's error listeners hear of: faults (answered 500, a RegistryError of that status too:
 * a request body a host's body parser read first) and a full storage (507).
 */
function isServerTrouble(error: unknown): boolean {
  if (isRegistryError(error)) return error.status === 500 || error.status === 507;
  return !isClientFault(error);
}

/**
 * True when the error is the request body's own failure because the connection closed before the body
 * was complete (Node destroys the request with an `aborted` ECONNRESET; a stream cut short without an
 * error is a premature close). A failure of the registry's own (which may also stop reading the body)
 * is never one of these: it is thrown as itself, not as the request's error.
 */
function clientWentAway(ctx: Context, error: unknown): boolean {
  if (isRegistryError(error) || ctx.req.complete) return false;
  if (error === ctx.req.errored) return true;
  const code = (error as { code?: unknown } | null)?.code;
  // The socket is closed: the client's doing (a request the registry stops reading keeps its socket, detached).
  const socket = ctx.req.socket as { destroyed?: boolean } | null;
  return (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE') && socket?.destroyed === true;
}

function isClientFault(error: unknown): boolean {
  const status = (error as { status?: unknown } | null)?.status;
  return error instanceof URIError || (typeof status === 'number' && status >= 400 && status < 500);
}

/** Codes for the statuses a host's own access code throws the Koa way (`ctx.throw(401, …)`, http-errors). */
const ACCESS_STATUS_CODES: Record<number, ErrorCode> = { 401: 'UNAUTHORIZED', 403: 'DENIED', 429: 'TOOMANYREQUESTS' };

function toRegistryError(error: unknown): RegistryError {
  if (isRegistryError(error)) return ownCopy(error);
  // URL decoding failures from the router are the client's fault.
  if (error instanceof URIError) return new RegistryError('NAME_INVALID', 'malformed URL encoding');
  if (isClientFault(error)) {
    const { status, message, headers } = error as { status: number; message: string; headers?: unknown };
    return new RegistryError(ACCESS_STATUS_CODES[status] ?? 'UNSUPPORTED', message, { status, headers: stringHeaders(headers) });
  }
  return new RegistryError('UNKNOWN');
}

/**
 * A RegistryError made by another copy of @berth/core (or anything wearing its brand), as one of this
 * copy's, so rendering relies on nothing but its code, message, status, detail and headers.
 */
function ownCopy(error: RegistryError): RegistryError {
  if (typeof error.toJSON === 'function' && typeof error.status === 'number') return error;
  const code = typeof error.code === 'string' && error.code in ERROR_CODES ? error.code : 'UNKNOWN';
  return new RegistryError(code, typeof error.message === 'string' ? error.message : undefined, {
    ...(typeof error.status === 'number' && { status: error.status }),
    detail: error.detail,
    headers: stringHeaders(error.headers),
  });
}

/** The headers an http-errors error carries (`WWW-Authenticate`, `Retry-After`), as strings. */
function stringHeaders(headers: unknown): Record<string, string> {
  if (typeof headers !== 'object' || headers === null) return {};
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string' || typeof value === 'number') result[name] = String(value);
  }
  return result;
}
