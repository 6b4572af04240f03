import type Router from '@koa/router';
import type { Context } from 'koa';
import { RegistryError } from '@berth/core';
import { CATALOG_SCOPE, covers, repositoryScope } from '@berth/core/internal';
import type { AccessGate } from '../access-control.js';
import type { Page, PageRequest } from '@berth/registry';
import { param, queryParam, repositoryParam, type RouteDeps } from '../context.js';

export function registerListingRoutes(router: Router, { service, access }: RouteDeps): void {
  router.get('/v2/*name/tags/list', async (ctx) => {
    const repository = repositoryParam(ctx);
    await access.required(ctx, { kind: 'pull', repository });
    const page = await service.listing.tags(repository, pageRequest(ctx));
    linkNext(ctx, `/v2/${repository}/tags/list`, page);
    ctx.body = { name: repository, tags: page.items };
  });

  router.get('/v2/_catalog', async (ctx) => {
    // The whole list with `registry:catalog:*`; otherwise only the repositories the caller may pull.
    const granted = await access.operation(ctx, { kind: 'catalog' });
    // Anonymous callers are asked to sign in, as distribution asks; signed-in ones see what they may pull.
    if (granted.principal.kind === 'anonymous') granted.require();
    const visible = granted.allows(CATALOG_SCOPE) ? undefined : pullable(ctx, access);
    const page = await service.listing.repositories(pageRequest(ctx), visible);
    linkNext(ctx, '/v2/_catalog', page);
    ctx.body = { repositories: page.items };
  });

  router.get('/v2/*name/referrers/:digest', async (ctx) => {
    const repository = repositoryParam(ctx);
    await access.required(ctx, { kind: 'pull', repository });
    const artifactType = queryParam(ctx, 'artifactType');
    const referrers = await service.listing.referrers(repository, param(ctx, 'digest'), artifactType);
    if (referrers.filtersApplied.length > 0) ctx.set('OCI-Filters-Applied', referrers.filtersApplied.join(','));
    ctx.type = referrers.index.mediaType;
    ctx.body = JSON.stringify(referrers.index);
  });
}

function pullable(ctx: Context, access: AccessGate): (names: string[]) => Promise<string[]> {
  return async (names) => {
    const granted = await access.granted(ctx, names.map((name) => repositoryScope(name, ['pull'])));
    return names.filter((name) => covers(granted, repositoryScope(name, ['pull'])));
  };
}

function pageRequest(ctx: Context): PageRequest {
  const n = queryParam(ctx, 'n');
  const last = queryParam(ctx, 'last');
  if (n !== undefined && !/^\d+$/.test(n)) {
    throw new RegistryError('UNSUPPORTED', `invalid page size n="${n}"`, { status: 400 });
  }
  return { ...(n !== undefined && { n: Number(n) }), ...(last !== undefined && { last }) };
}

/** RFC 8288 `Link` to the next page, as the distribution spec describes for tags and the catalog. */
function linkNext(ctx: Context, path: string, page: Page<string>): void {
  if (!page.next) return;
  const query = new URLSearchParams({ n: String(page.next.n), last: page.next.last });
  ctx.set('Link', `<${path}?${query.toString()}>; rel="next"`);
}
