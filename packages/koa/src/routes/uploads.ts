import type Router from '@koa/router';
import type { Context } from 'koa';
import { RegistryError, handOverChunks, type BlobInfo } from '@berth/core';
import { covers, parseContentRange, repositoryScope } from '@berth/core/internal';
import { rangeHeader, uploadLocation, type ByteStream } from '@berth/registry/internal';
import type { AccessGate, RequestAccess } from '../access-control.js';
import { emptyBody, param, queryParam, repositoryParam, type RouteDeps } from '../context.js';
import { hasBody, requestBody } from '../request-body.js';
import { requestContext } from '../request-context.js';

export function registerUploadRoutes(router: Router, { service, access }: RouteDeps): void {
  // Start an upload, upload a whole blob in one request (`?digest=`), or mount one (`?mount=&from=`).
  router.post('/v2/*name/blobs/uploads', async (ctx) => {
    const repository = repositoryParam(ctx);
    const mount = queryParam(ctx, 'mount');
    const from = queryParam(ctx, 'from');
    const digest = queryParam(ctx, 'digest');
    // A mount asks about both repositories at once, so a challenge names them all.
    const operation = mount === undefined ? { kind: 'push' as const, repository } : { kind: 'mount' as const, repository, ...(from !== undefined && { from }) };
    const granted = await access.required(ctx, operation);
    if (mount !== undefined) {
      // Only from repositories the caller may pull: otherwise a plain upload, telling nothing of what others hold.
      const readable = readableBy(ctx, access, granted);
      const mounted = await service.blobs.mount(repository, mount, {
        ...(from !== undefined && { from }),
        readable,
        context: requestContext(ctx, granted.principal),
      });
      if (mounted) return created(ctx, repository, mounted);
    } else if (digest !== undefined) {
      const blob = await service.uploads.putMonolithic(repository, digest, uploadBody(ctx), requestContext(ctx, granted.principal));
      return created(ctx, repository, blob);
    }
    const state = await service.uploads.start(repository);
    ctx.status = 202;
    ctx.set({
      Location: uploadLocation(repository, state.id),
      Range: rangeHeader(0),
      'Docker-Upload-UUID': state.id,
    });
    emptyBody(ctx);
  });

  router.get('/v2/*name/blobs/uploads/:uuid', async (ctx) => {
    const repository = repositoryParam(ctx);
    await access.required(ctx, { kind: 'push', repository });
    const state = await service.uploads.status(repository, param(ctx, 'uuid'));
    ctx.status = 204;
    uploadHeaders(ctx, repository, state.id, state.size);
  });

  router.patch('/v2/*name/blobs/uploads/:uuid', async (ctx) => {
    const repository = repositoryParam(ctx);
    await access.required(ctx, { kind: 'push', repository });
    const range = parseContentRange(ctx.get('Content-Range'));
    const declaredLength = ctx.get('Content-Length');
    if (range && declaredLength !== '' && Number(declaredLength) !== range.end - range.start + 1) {
      throw new RegistryError('BLOB_UPLOAD_INVALID', 'Content-Length does not match Content-Range', { status: 416 });
    }
    const state = await service.uploads.append(repository, param(ctx, 'uuid'), uploadBody(ctx), range);
    ctx.status = 202;
    uploadHeaders(ctx, repository, state.id, state.size);
  });

  router.put('/v2/*name/blobs/uploads/:uuid', async (ctx) => {
    const repository = repositoryParam(ctx);
    const granted = await access.required(ctx, { kind: 'push', repository });
    const digest = queryParam(ctx, 'digest');
    if (digest === undefined) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required');
    const range = parseContentRange(ctx.get('Content-Range'));
    const lastChunk = hasBody(ctx) ? uploadBody(ctx) : undefined;
    const blob = await service.uploads.complete(repository, param(ctx, 'uuid'), digest, lastChunk, range, requestContext(ctx, granted.principal));
    created(ctx, repository, blob);
  });

  router.delete('/v2/*name/blobs/uploads/:uuid', async (ctx) => {
    const repository = repositoryParam(ctx);
    await access.required(ctx, { kind: 'push', repository });
    await service.uploads.cancel(repository, param(ctx, 'uuid'));
    ctx.status = 204;
  });
}

/** Which of some repositories the caller may pull: what the request was granted already, else one more question. */
function readableBy(ctx: Context, access: AccessGate, granted: RequestAccess): (names: string[]) => Promise<string[]> {
  const pull = (name: string) => repositoryScope(name, ['pull']);
  return async (names) => {
    const unknown = names.filter((name) => !granted.allows(pull(name)));
    const more = await access.granted(ctx, unknown.map(pull));
    return names.filter((name) => granted.allows(pull(name)) || covers(more, pull(name)));
  };
}

function created(ctx: Context, repository: string, blob: BlobInfo): void {
  ctx.status = 201;
  ctx.set({
    Location: `/v2/${repository}/blobs/${blob.digest}`,
    'Docker-Content-Digest': blob.digest,
  });
  emptyBody(ctx);
}

function uploadHeaders(ctx: Context, repository: string, id: string, size: number): void {
  ctx.set({
    Location: uploadLocation(repository, id),
    Range: rangeHeader(size),
    'Docker-Upload-UUID': id,
  });
  emptyBody(ctx);
}

/**
 * An upload's body. Node gives an HTTP/1 request each body chunk in memory of its own, read by nobody after
 * the registry took it, so the blob store may free each one as soon as it is on its way to disk (HTTP/2
 * chunks share their memory).
 */
function uploadBody(ctx: Context): ByteStream {
  const body = requestBody(ctx);
  return ctx.req.httpVersionMajor === 1 ? handOverChunks(body) : body;
}
