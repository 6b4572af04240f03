import type Router from '@koa/router';
import type { Context } from 'koa';
import { covers, repositoryScope } from '@berth/core/internal';
import { queryParam } from '../context.js';
import { pageSize } from './api-params.js';
import type { UiRouteDeps } from './ui-context.js';

export function registerRepositoryRoutes(router: Router, { service, access }: UiRouteDeps): void {
  // Only the repositories the caller may pull, asked of the same hook as /v2 (page by page, never the whole list).
  router.get('/repositories', async (ctx) => {
    const contains = queryParam(ctx, 'q');
    const n = pageSize(ctx);
    const last = queryParam(ctx, 'last');
    const page = await service.browse.repositories(
      { ...(contains && { contains }), ...(n !== undefined && { n }), ...(last && { last }) },
      pullable(ctx, access),
    );
    ctx.body = {
      repositories: page.items.map((repository) => ({
        name: repository.repository,
        tagCount: repository.tagCount,
        size: repository.size,
        lastPushed: repository.lastPushed?.toISOString() ?? null,
      })),
      next: page.next?.repository ?? null,
    };
  });
}

function pullable(ctx: Context, access: UiRouteDeps['access']): (names: string[]) => Promise<string[]> {
  return async (names) => {
    const granted = await access.granted(ctx, names.map((name) => repositoryScope(name, ['pull'])));
    return names.filter((name) => covers(granted, repositoryScope(name, ['pull'])));
  };
}
