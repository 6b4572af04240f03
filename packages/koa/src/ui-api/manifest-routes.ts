import type Router from '@koa/router';
import { RegistryError } from '@berth/core';
import { isValidDigest } from '@berth/core';
import type { ManifestDetail } from '@berth/registry';
import { requestContext } from '../request-context.js';
import { requiredParam } from './api-params.js';
import { canDelete } from './can-delete.js';
import type { UiRouteDeps } from './ui-context.js';

export function registerManifestRoutes(router: Router, { service, access }: UiRouteDeps): void {
  router.get('/manifest', async (ctx) => {
    const repository = requiredParam(ctx, 'repository');
    await access.required(ctx, { kind: 'pull', repository });
    const detail = await service.browse.manifest(repository, requiredParam(ctx, 'reference'));
    ctx.body = { ...manifestJson(detail), canDelete: await canDelete(ctx, access, repository) };
  });

  // The manifest and every tag pointing at it, as DELETE /v2/<name>/manifests/<digest> (202 like it).
  router.delete('/manifest', async (ctx) => {
    const repository = requiredParam(ctx, 'repository');
    const digest = requiredParam(ctx, 'digest');
    if (!isValidDigest(digest)) throw new RegistryError('DIGEST_INVALID', `"${digest}" is not a digest`, { status: 400, detail: { digest } });
    const granted = await access.required(ctx, { kind: 'delete', repository });
    await service.manifests.delete(repository, digest, requestContext(ctx, granted.principal));
    ctx.status = 202;
    ctx.body = '';
    ctx.remove('Content-Type');
  });
}

function manifestJson(detail: ManifestDetail): Record<string, unknown> {
  const config = detail.config;
  return {
    repository: detail.repository,
    digest: detail.digest,
    mediaType: detail.mediaType,
    size: detail.size,
    tags: detail.tags,
    raw: Buffer.from(detail.content.buffer, detail.content.byteOffset, detail.content.byteLength).toString('utf8'),
    children: detail.children.map((child) => ({ ...child, platform: child.platform ?? null })),
    config: config
      ? {
          digest: config.digest,
          os: config.summary.platform?.os ?? null,
          architecture: config.summary.platform?.architecture ?? null,
          ...(config.summary.platform?.variant !== undefined && { variant: config.summary.platform.variant }),
          ...(config.summary.created !== undefined && { created: config.summary.created }),
          ...(config.summary.entrypoint && { entrypoint: config.summary.entrypoint }),
          ...(config.summary.cmd && { cmd: config.summary.cmd }),
          env: config.summary.env,
          labels: config.summary.labels,
          history: config.summary.history,
        }
      : null,
    layers: detail.layers.map((layer) => ({ digest: layer.digest, mediaType: layer.mediaType, size: layer.size })),
    annotations: detail.annotations,
    subject: detail.subject ?? null,
    artifactType: detail.artifactType ?? null,
    referrers: detail.referrers.map((referrer) => ({ ...referrer, artifactType: referrer.artifactType ?? null })),
    schema1: detail.schema1,
  };
}
