import type Router from '@koa/router';
import { RegistryError } from '@berth/core';
import { parseRangeHeader } from '@berth/core/internal';
import { RecycledBufferSender } from '../blob-sender.js';
import { emptyBody, param, repositoryParam, type RouteDeps } from '../context.js';
import { requestContext } from '../request-context.js';

export function registerBlobRoutes(router: Router, { service, access }: RouteDeps): void {
  const sender = new RecycledBufferSender();
  // HEAD before GET: a GET route would also answer HEAD, and opening a stream for a HEAD is waste.
  router.head('/v2/*name/blobs/:digest', async (ctx) => {
    const repository = repositoryParam(ctx);
    await access.required(ctx, { kind: 'pull', repository });
    const blob = await service.blobs.stat(repository, param(ctx, 'digest'));
    ctx.status = 200;
    ctx.set({
      'Content-Length': String(blob.size),
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': blob.digest,
      'Accept-Ranges': 'bytes',
      ETag: `"${blob.digest}"`,
    });
  });

  router.get('/v2/*name/blobs/:digest', async (ctx) => {
    const repository = repositoryParam(ctx);
    const granted = await access.required(ctx, { kind: 'pull', repository });
    const digest = param(ctx, 'digest');
    const { info, upstream } = await service.blobs.locate(repository, digest);
    if (upstream) {
      // A mirrored blob arriving from the upstream: sent whole as it comes (a Range is answered with all of it, which HTTP allows).
      service.events.pulled({ action: 'pull', kind: 'blob', repository, digest: info.digest, size: info.size }, requestContext(ctx, granted.principal));
      ctx.set({ 'Docker-Content-Digest': info.digest, ETag: `"${info.digest}"` });
      ctx.type = 'application/octet-stream';
      ctx.status = 200;
      ctx.length = info.size;
      ctx.body = upstream;
      return;
    }
    const request = parseRangeHeader(ctx.get('Range'), info.size);
    if (request.kind === 'unsatisfiable') {
      throw new RegistryError('SIZE_INVALID', `requested range is outside the blob's ${info.size} bytes`, {
        status: 416,
        headers: { 'Content-Range': `bytes */${info.size}` },
      });
    }
    const range = request.kind === 'partial' ? request.range : undefined;
    // A store that offers it (S3 with redirect on) serves whole blobs itself; ranges still come from here.
    const location = range ? undefined : await service.blobs.redirectUrl(info);
    if (location !== undefined) {
      service.events.pulled({ action: 'pull', kind: 'blob', repository, digest: info.digest, size: info.size }, requestContext(ctx, granted.principal));
      ctx.set('Docker-Content-Digest', info.digest);
      ctx.status = 307;
      ctx.set('Location', location);
      emptyBody(ctx);
      return;
    }
    const content = await service.blobs.content(info, range);
    ctx.set({ 'Docker-Content-Digest': info.digest, 'Accept-Ranges': 'bytes', ETag: `"${info.digest}"` });
    ctx.type = 'application/octet-stream';
    ctx.status = range ? 206 : 200;
    if (range) ctx.set('Content-Range', `bytes ${range.start}-${range.end}/${info.size}`);
    ctx.length = range ? range.end - range.start + 1 : info.size;
    // Only a whole blob counts as pulled: a range is one piece of a download.
    if (!range) service.events.pulled({ action: 'pull', kind: 'blob', repository, digest: info.digest, size: info.size }, requestContext(ctx, granted.principal));
    if (content.reader) await sender.send(ctx, content.reader);
    else ctx.body = content.stream;
  });

  router.delete('/v2/*name/blobs/:digest', async (ctx) => {
    const repository = repositoryParam(ctx);
    const granted = await access.required(ctx, { kind: 'delete', repository });
    await service.blobs.delete(repository, param(ctx, 'digest'), requestContext(ctx, granted.principal));
    ctx.status = 202;
    emptyBody(ctx);
  });
}
