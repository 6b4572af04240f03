import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';

/** One packed tarball and the manifest inside it. */
export interface PackedPackage {
  readonly file: string;
  readonly manifest: PackedManifest;
}

export interface PackedManifest {
  readonly name: string;
  readonly version: string;
  readonly [field: string]: unknown;
}

/**
 * A throwaway npm registry for one scope, serving the tarballs of a directory by the registry protocol
 * npm and pnpm speak (a packument per name, tarballs with their integrity). Clients get it as that scope's
 * registry only (`@berth:registry=…`), so every other package comes from the public registry as for
 * any user, and a name of the scope that was not packed is a 404, never a public package of that name.
 */
export interface TarballRegistry {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string;
  readonly packages: readonly PackedPackage[];
  /** Names clients asked for that the directory does not hold. */
  readonly missing: readonly string[];
  close(): Promise<void>;
}

/** The package.json inside a tarball made by `npm pack` / `pnpm pack`. */
export function readPackedManifest(file: string): PackedManifest {
  return JSON.parse(execFileSync('tar', ['-xzOf', file, 'package/package.json'], { encoding: 'utf8' })) as PackedManifest;
}

export async function startTarballRegistry(dir: string): Promise<TarballRegistry> {
  const packages = readdirSync(dir)
    .filter((name) => name.endsWith('.tgz'))
    .map((name) => ({ file: join(dir, name), manifest: readPackedManifest(join(dir, name)) }));
  const tarballs = new Map(packages.map((pkg) => [tarballName(pkg.manifest), pkg.file]));
  const missing: string[] = [];
  let url = '';

  const packument = (name: string): unknown => {
    const versions = packages.filter((pkg) => pkg.manifest.name === name);
    if (versions.length === 0) return undefined;
    const latest = versions[versions.length - 1]!.manifest.version;
    return {
      name,
      'dist-tags': { latest },
      versions: Object.fromEntries(
        versions.map(({ file, manifest }) => {
          const bytes = readFileSync(file);
          const dist = {
            tarball: `${url}-/${tarballName(manifest)}`,
            integrity: `sha512-${createHash('sha512').update(bytes).digest('base64')}`,
            shasum: createHash('sha1').update(bytes).digest('hex'),
          };
          return [manifest.version, { ...manifest, _id: `${name}@${manifest.version}`, dist }];
        }),
      ),
    };
  };

  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://registry').pathname).slice(1);
    const reply = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'application/json', '{"error":"read-only"}');
    if (path.startsWith('-/')) {
      const file = tarballs.get(path.slice(2));
      return file ? reply(200, 'application/octet-stream', readFileSync(file)) : reply(404, 'application/json', '{"error":"not found"}');
    }
    const body = packument(path);
    if (body === undefined) {
      missing.push(path);
      return reply(404, 'application/json', '{"error":"not found"}');
    }
    reply(200, 'application/json', JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('registry has no TCP address');
  url = `http://127.0.0.1:${address.port}/`;
  return {
    url,
    packages,
    missing,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function tarballName(manifest: PackedManifest): string {
  return `${manifest.name.replace(/^@/, '').replace('/', '-')}-${manifest.version}.tgz`;
}
