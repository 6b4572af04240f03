import type { Context } from 'koa';
import { RegistryError } from '@berth/core';
import type { ByteStream } from '@berth/registry';

/** `detail.reason` of the error answered when a body parser in front of the registry read the request body first. */
export const BODY_ALREADY_READ = 'REQUEST_BODY_ALREADY_READ';

/**
 * The raw request stream: digests are over the exact bytes, so no body parser may touch it. When one
 * did (the stream was read, or has ended, before the registry asked for it), the bytes are gone: the
 * request is refused with a 500 naming the cause, never hashed as an empty body and answered as a
 * digest mismatch the client could do nothing about.
 */
export function requestBody(ctx: Context): ByteStream {
  if (hasBody(ctx) && bodyAlreadyRead(ctx)) throw bodyAlreadyReadError(ctx);
  return ctx.req;
}

/** True when the request carries body bytes (a declared non-zero length, or chunked encoding). */
export function hasBody(ctx: Context): boolean {
  const length = ctx.get('Content-Length');
  if (length !== '') return Number(length) > 0;
  return ctx.get('Transfer-Encoding') !== '';
}

/**
 * Some middleware read the stream already. `ctx.request.body` alone proves nothing: koa-bodyparser and
 * @koa/bodyparser set it to `{}` for a type they do not parse and leave the stream alone.
 */
function bodyAlreadyRead(ctx: Context): boolean {
  const req = ctx.req as Context['req'] & { readableDidRead?: boolean };
  return req.readableDidRead === true || req.readableEnded;
}

function bodyAlreadyReadError(ctx: Context): RegistryError {
  const parsed = (ctx.request as { body?: unknown }).body !== undefined;
  const who = parsed ? 'a body parser (ctx.request.body is set)' : 'another middleware';
  return new RegistryError(
    'UNKNOWN',
    `the request body was read by ${who} before the registry: mount the registry's routes before the body parser, or leave /v2/ out of it`,
    { status: 500, detail: { reason: BODY_ALREADY_READ } },
  );
}
