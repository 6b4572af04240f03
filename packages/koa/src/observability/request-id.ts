import { randomFillSync } from 'node:crypto';
import type { Context, Next } from 'koa';

export const REQUEST_ID_HEADER = 'X-Request-Id';

/** What an incoming `X-Request-Id` may be to be kept: short, and nothing a log line could be confused by. */
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives every registry request an id, in `ctx.state.requestId` (for the host's log line and events) and
 * in the `X-Request-Id` response header, errors included. A proxy's id (`X-Request-Id`) is kept when it
 * is acceptable, as is one the host app already set; otherwise 16 random hex characters.
 */
export async function assignRequestId(ctx: Context, next: Next): Promise<void> {
  setRequestId(ctx);
  await next();
}

/**
 * The same, synchronously, for a host's own middleware (its request log): it must not await before
 * passing the request on, or body bytes that arrived with the headers are parsed before anyone counts them.
 */
export function setRequestId(ctx: Context): string {
  const id = existingId(ctx) ?? randomId();
  ctx.state['requestId'] = id;
  ctx.set(REQUEST_ID_HEADER, id);
  return id;
}

/** Random bytes drawn a page at a time: one call into OpenSSL per 512 ids rather than one per request. */
const RANDOM_POOL_BYTES = 4096;
const randomPool = Buffer.allocUnsafe(RANDOM_POOL_BYTES);
let randomOffset = RANDOM_POOL_BYTES;

/** 16 random hex characters. */
function randomId(): string {
  if (randomOffset === RANDOM_POOL_BYTES) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  const id = randomPool.toString('hex', randomOffset, randomOffset + 8);
  randomOffset += 8;
  return id;
}

function existingId(ctx: Context): string | undefined {
  const assigned = ctx.state['requestId'] as unknown;
  if (typeof assigned === 'string' && ACCEPTABLE_REQUEST_ID.test(assigned)) return assigned;
  const incoming = ctx.get(REQUEST_ID_HEADER);
  return ACCEPTABLE_REQUEST_ID.test(incoming) ? incoming : undefined;
}
