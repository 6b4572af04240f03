import type Router from '@koa/router';
import type { Context } from 'koa';
import { type ServedManifest } from '@berth/registry';
import { isNegotiationRefusal } from '@berth/registry/internal';
import { emptyBody, param, repositoryParam, type RouteDeps } from '../context.js';
import { requestContext } from '../request-context.js';
import { requestBody } from '../request-body.js';

export function registerManifestRoutes(router: Router, { service, access }: RouteDeps): void {
  // GET also answers HEAD: the headers (length, digest, type) must be those of the body GET would send.
  router.get('/v2/*name/manifests/:reference', async (ctx) => {
    const repository = repositoryParam(ctx);
    const granted = await access.required(ctx, { kind: 'pull', repository });
    const reference = param(ctx, 'reference');
    let served: ServedManifest;
    try {
      served = await service.manifests.get(repository, reference, acceptHeaders(ctx));
    } catch (error) {
      if (isNegotiationRefusal(error)) ctx.state['negotiation'] = 'refused';
      throw error;
    }
    // For the host's request log: how this client's Accept was answered.
    ctx.state['negotiation'] = served.negotiation;
    const etag = `"${served.digest}"`;
    ctx.set({ 'Docker-Content-Digest': served.digest, ETag: etag });
    // A mirrored tag the upstream could not confirm (RFC 7234's warn-code 110).
    if (served.stale) ctx.set('Warning', '110 - "Response is Stale"');
    if (ifNoneMatch(ctx, served.digest)) {
      ctx.status = 304;
      return;
    }
    ctx.status = 200;
    ctx.type = served.mediaType;
    ctx.body = Buffer.from(served.body.buffer, served.body.byteOffset, served.body.byteLength);
    if (ctx.method === 'GET') {
      const tag = reference.includes(':') ? undefined : reference;
      service.events.pulled(
        { action: 'pull', kind: 'manifest', repository, digest: served.digest, mediaType: served.mediaType, size: served.body.byteLength, ...(tag !== undefined && { tag }) },
        requestContext(ctx, granted.principal),
      );
    }
  });

  router.put('/v2/*name/manifests/:reference', async (ctx) => {
    const repository = repositoryParam(ctx);
    const granted = await access.required(ctx, { kind: 'push', repository });
    const contentType = ctx.get('Content-Type') || undefined;
    const pushed = await service.manifests.put(repository, param(ctx, 'reference'), requestBody(ctx), contentType, requestContext(ctx, granted.principal));
    ctx.status = 201;
    ctx.set({
      Location: `/v2/${repository}/manifests/${pushed.digest}`,
      'Docker-Content-Digest': pushed.digest,
    });
    emptyBody(ctx);
    if (pushed.subject) ctx.set('OCI-Subject', pushed.subject);
  });

  router.delete('/v2/*name/manifests/:reference', async (ctx) => {
    const repository = repositoryParam(ctx);
    const granted = await access.required(ctx, { kind: 'delete', repository });
    await service.manifests.delete(repository, param(ctx, 'reference'), requestContext(ctx, granted.principal));
    ctx.status = 202;
    emptyBody(ctx);
  });
}

/** Every Accept header value (a client may send several). */
function acceptHeaders(ctx: Context): string[] {
  // HTTP/2 requests (Node's compatibility API) have no headersDistinct: Node joins repeated Accept fields there.
  const accept = ctx.req.headersDistinct?.['accept'] ?? ctx.req.headers['accept'];
  if (accept === undefined) return [];
  return typeof accept === 'string' ? [accept] : accept;
}

/** If-None-Match as a list of entity tags; a weak or bare digest also matches, as does `*`. */
function ifNoneMatch(ctx: Context, digest: string): boolean {
  const header = ctx.get('If-None-Match');
  if (header === '') return false;
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1'))
    .some((tag) => tag === digest || tag === '*');
}
