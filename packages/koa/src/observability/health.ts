import type { Context, Middleware, Next } from 'koa';
import { digestOf, isRegistryError, type BlobStore, type MetadataStore } from '@berth/core';

/** Options of `registry.health()`. */
export interface HealthOptions {
  /** Answers 200 while the process answers at all (liveness). Default `/healthz`. */
  livePath?: string;
  /** Answers 200 when both stores are reachable, else 503 naming which is not (readiness). Default `/readyz`. */
  readyPath?: string;
  /** A store that has not answered within this many milliseconds counts as unreachable. Default 5000. */
  timeoutMs?: number;
  /**
   * True while the host shuts down: `/readyz` then answers 503 `draining` without asking the stores, so a load
   * balancer probing over a kept-alive connection stops sending work before the connections close.
   */
  draining?: () => boolean;
}

/** What `/readyz` answers: each store's check, `ok` or why not (never internals such as paths or addresses). */
export interface Readiness {
  /** `ready` when both stores answered, `draining` while the host shuts down, else `unavailable` (both answered with 503). */
  status: 'ready' | 'unavailable' | 'draining';
  /** Each store's check: `ok`, or a short reason it failed (`not checked` while draining). */
  checks: { metadata: string; blobs: string };
}

const EMPTY_BLOB_DIGEST = digestOf(new Uint8Array());
const DRAINING: Readiness = { status: 'draining', checks: { metadata: 'not checked', blobs: 'not checked' } };

/**
 * The liveness and readiness endpoints, outside `/v2`, for every host and never behind the registry's
 * sign-in. Only GET and HEAD of the two paths are answered; everything else goes on to the app.
 */
export function healthEndpoints(stores: { metadata: MetadataStore; blobs: BlobStore }, options: HealthOptions = {}): Middleware {
  const livePath = options.livePath ?? '/healthz';
  const readyPath = options.readyPath ?? '/readyz';
  const timeoutMs = options.timeoutMs ?? 5_000;
  return async (ctx: Context, next: Next) => {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || (ctx.path !== livePath && ctx.path !== readyPath)) return next();
    ctx.set('Cache-Control', 'no-store');
    if (ctx.path === livePath) {
      ctx.body = { status: 'ok' };
      return;
    }
    const readiness = options.draining?.() ? DRAINING : await checkReadiness(stores, timeoutMs);
    ctx.status = readiness.status === 'ready' ? 200 : 503;
    ctx.body = readiness;
  };
}

/** Asks both stores at once; a store without `ping()` is asked for something cheap instead. */
export async function checkReadiness(stores: { metadata: MetadataStore; blobs: BlobStore }, timeoutMs: number): Promise<Readiness> {
  const { metadata, blobs } = stores;
  const [metadataCheck, blobsCheck] = await Promise.all([
    check(() => (metadata.ping ? metadata.ping() : metadata.listRepositories({ limit: 1 })), timeoutMs),
    check(() => (blobs.ping ? blobs.ping() : blobs.stat(EMPTY_BLOB_DIGEST)), timeoutMs),
  ]);
  const ready = metadataCheck === 'ok' && blobsCheck === 'ok';
  return { status: ready ? 'ready' : 'unavailable', checks: { metadata: metadataCheck, blobs: blobsCheck } };
}

async function check(probe: () => Promise<unknown>, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
  });
  try {
    return await Promise.race([probe().then(() => 'ok', reason), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Why a store failed, in words safe for an unauthenticated endpoint: a RegistryError's message (written
 * for clients), an errno code (`ENOENT`, `EROFS`), or no detail at all.
 */
function reason(error: unknown): string {
  if (isRegistryError(error)) return error.message;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]+$/.test(code) ? `unreachable: ${code}` : 'unreachable';
}
