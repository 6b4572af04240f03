import type Router from '@koa/router';
import { queryParam } from '../context.js';
import { requestContext } from '../request-context.js';
import { badParameter, pageSize, parseTagCursor, requiredParam, tagCursor, tagParam } from './api-params.js';
import { canDelete } from './can-delete.js';
import type { UiRouteDeps } from './ui-context.js';

const ORDERS = { name: 'name', '-pushed': 'newest' } as const;

export function registerTagRoutes(router: Router, { service, access }: UiRouteDeps): void {
  router.get('/tags', async (ctx) => {
    const repository = requiredParam(ctx, 'repository');
    await access.required(ctx, { kind: 'pull', repository });
    const sort = queryParam(ctx, 'sort') ?? 'name';
    if (!(sort in ORDERS)) throw badParameter(`invalid sort "${sort}": name or -pushed`);
    const contains = queryParam(ctx, 'q');
    const n = pageSize(ctx);
    const last = queryParam(ctx, 'last');
    const page = await service.browse.tags(repository, {
      order: ORDERS[sort as keyof typeof ORDERS],
      ...(contains && { contains }),
      ...(n !== undefined && { n }),
      ...(last && { after: parseTagCursor(last) }),
    });
    ctx.body = {
      repository,
      canDelete: await canDelete(ctx, access, repository),
      tags: page.items.map((tag) => ({
        name: tag.name,
        digest: tag.digest,
        mediaType: tag.mediaType,
        size: tag.size,
        platforms: tag.platforms,
        pushedAt: tag.pushedAt.toISOString(),
      })),
      next: page.next ? tagCursor(page.next) : null,
    };
  });

  // Removes the tag only, as DELETE /v2/<name>/manifests/<tag> does; the manifest stays.
  router.delete('/tag', async (ctx) => {
    const repository = requiredParam(ctx, 'repository');
    const tag = tagParam(ctx);
    const granted = await access.required(ctx, { kind: 'delete', repository });
    await service.manifests.delete(repository, tag, requestContext(ctx, granted.principal));
    ctx.status = 204;
  });
}
