import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';

/** One servable file, held with its precompressed forms. */
export interface Asset {
  readonly contentType: string;
  readonly identity: Buffer;
  readonly gzip: Buffer;
  readonly brotli: Buffer;
  /** A strong validator over the uncompressed bytes. */
  readonly etag: string;
}

/** Everything the UI serves: the shell page and the versioned files it loads. */
export interface AssetBundle {
  /** Short hash over every asset: part of their URLs, so they can be cached for good. */
  readonly version: string;
  /** Files by their path under `assets/{version}/` (`app.js`, `pages/tags.js`, `style.css`). */
  readonly files: ReadonlyMap<string, Asset>;
  /** index.html for a mount prefix (the prefix and the asset URLs written in). */
  shellFor(prefix: string): Asset;
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

// Both src/ (tests, from sources) and dist/ (built) sit one level under the package root.
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Reads the built pages (dist/web) and the static files (static/) once. They are a few tens of KB, so
 * they are held in memory with their gzip and brotli forms rather than read and compressed per request.
 */
export function loadAssetBundle(root: string = packageRoot): AssetBundle {
  const webDir = join(root, 'dist', 'web');
  const staticDir = join(root, 'static');
  if (!existsSync(join(webDir, 'app.js'))) {
    throw new Error(`@berth/ui: the pages are not built (${webDir}/app.js is missing); run \`tsc -b\``);
  }
  const files = new Map<string, Asset>();
  for (const dir of [webDir, staticDir]) {
    for (const path of listFiles(dir)) {
      const contentType = CONTENT_TYPES[extname(path)];
      if (contentType === undefined) continue; // declarations, build info
      files.set(relative(dir, path).split(sep).join('/'), makeAsset(readFileSync(path), contentType));
    }
  }
  const versionHash = createHash('sha256');
  for (const [name, asset] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    versionHash.update(name).update('\0').update(asset.etag);
  }
  const version = versionHash.digest('hex').slice(0, 12);
  const template = readFileSync(join(staticDir, 'index.html'), 'utf8');
  const shells = new Map<string, Asset>();
  return {
    version,
    files,
    shellFor(prefix) {
      let shell = shells.get(prefix);
      if (shell === undefined) {
        const assets = escapeHtml(`${prefix}/assets/${version}`);
        // Every module up front, so the browser fetches them in parallel rather than import by import.
        const preloads = [...files.keys()]
          .filter((name) => name.endsWith('.js') && name !== 'app.js')
          .sort()
          .map((name) => `<link rel="modulepreload" href="${assets}/${escapeHtml(name)}">`)
          .join('\n');
        const html = template
          .replaceAll('%PREFIX%', escapeHtml(prefix))
          .replaceAll('%ASSETS%', assets)
          .replace('%MODULE_PRELOADS%', preloads);
        shell = makeAsset(Buffer.from(html), 'text/html; charset=utf-8');
        shells.set(prefix, shell);
      }
      return shell;
    },
  };
}

function makeAsset(identity: Buffer, contentType: string): Asset {
  return {
    contentType,
    identity,
    gzip: gzipSync(identity, { level: 9 }),
    brotli: brotliCompressSync(identity, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11 } }),
    etag: `"${createHash('sha256').update(identity).digest('base64url').slice(0, 22)}"`,
  };
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
