import type { Context, Middleware } from 'koa';
import { loadAssetBundle, type Asset } from './asset-bundle.js';

/** Options of {@link uiAssets}. */
export interface UiAssetsOptions {
  /**
   * Where the UI is mounted: `''` (the default) for the site root, or a path such as `'/registry-ui'` (leading
   * slash, no trailing slash). The pages' links and API calls are made under it.
   */
  prefix?: string;
}

// Registry endpoints at the site root that the UI never answers for, even when mounted at `/`.
const RESERVED_ROOTS = ['/v2', '/token', '/healthz', '/readyz', '/metrics'];

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';
// The shell loads only its own scripts and styles and talks only to its own origin.
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/**
 * Koa middleware serving the web UI's built pages under `prefix`: versioned files under `{prefix}/assets/…` with
 * a year-long immutable cache, and index.html (revalidated by ETag) for every other GET or HEAD under the prefix
 * so deep links work. Responses are brotli or gzip compressed when the client accepts it. It never answers
 * `{prefix}/api/…` (the JSON API) nor `/v2`, `/token`, `/healthz`, `/readyz` or `/metrics`; those, other methods
 * and paths outside the prefix go to `next`.
 *
 * @param options - Where the UI is mounted.
 * @returns The middleware; it reads and compresses the assets once, when called.
 */
export function uiAssets(options: UiAssetsOptions = {}): Middleware {
  const prefix = normalizePrefix(options.prefix ?? '');
  const bundle = loadAssetBundle();
  const shell = bundle.shellFor(prefix);
  const assetsPath = `${prefix}/assets/`;
  const versionedPath = `${assetsPath}${bundle.version}/`;

  return async function serveUiAssets(ctx, next) {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    const path = ctx.path;
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return next();
    if (isUnder(path, `${prefix}/api`) || RESERVED_ROOTS.some((root) => isUnder(path, root))) return next();
    if (path === prefix && prefix !== '') {
      ctx.redirect(`${prefix}/`); // relative links and cookies (Path=prefix/) need the slash
      return;
    }
    if (path.startsWith(versionedPath)) {
      const asset = bundle.files.get(path.slice(versionedPath.length));
      if (asset !== undefined) return send(ctx, asset, IMMUTABLE);
    }
    if (path.startsWith(assetsPath)) {
      // An unknown file, or one of an older build: answering the shell here would hand HTML to a <script>.
      ctx.status = 404;
      ctx.set('Cache-Control', REVALIDATE);
      ctx.type = 'text/plain';
      ctx.body = 'not found';
      return;
    }
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    ctx.set('Referrer-Policy', 'same-origin');
    return send(ctx, shell, REVALIDATE);
  };
}

function send(ctx: Context, asset: Asset, cacheControl: string): void {
  ctx.set('Cache-Control', cacheControl);
  ctx.set('ETag', asset.etag);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.vary('Accept-Encoding');
  ctx.type = asset.contentType;
  ctx.status = 200;
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  const encoding = ctx.acceptsEncodings('br', 'gzip', 'identity');
  const body = encoding === 'br' ? asset.brotli : encoding === 'gzip' ? asset.gzip : asset.identity;
  if (encoding === 'br' || encoding === 'gzip') ctx.set('Content-Encoding', encoding);
  ctx.body = body;
}

function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(`${root}/`);
}

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  if (trimmed !== '' && !trimmed.startsWith('/')) {
    throw new Error(`@berth/ui: prefix must start with "/" (got ${JSON.stringify(prefix)})`);
  }
  return trimmed;
}
