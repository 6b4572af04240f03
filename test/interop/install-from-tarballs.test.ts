// The packages as a user gets them: every publishable package is packed the way a release packs it,
// served from a throwaway registry for the @berth scope (everything else comes from the public registry),
// and installed by name into fresh apps outside the workspace, with npm and with pnpm (isolated layout,
// no hoisting, so an import a package does not declare fails). Each app then takes a push and a pull
// from skopeo; so does the `berth` command installed globally from @berth/server.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../../packages/storage-postgres/src/testing.js';
import { readOciLayout } from '../support/image-readback.js';
import { writeImageLayout } from '../support/oci-image.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { REPO_ROOT, watch } from '../support/servers.js';
import { createSkopeo, dockerRef, type Skopeo } from '../support/skopeo.js';
import { startTarballRegistry, type PackedPackage, type TarballRegistry } from '../support/tarball-registry.js';

const run = promisify(execFile);
const INSTALL_TIMEOUT_MS = 480_000;
/** npm's download cache, kept under the repository's .tmp so a second run on the same clone downloads nothing. */
const NPM_CACHE = join(REPO_ROOT, '.tmp', 'install-from-tarballs', 'npm-cache');

let scratch: Scratch;
let registry: TarballRegistry;
let skopeo: Skopeo;
let unpacked: string;

/** The caller's environment without what pnpm sets for the scripts it runs (those would steer the installs). */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(npm_|pnpm_|INIT_CWD$)/i.test(key)));
  return { ...env, npm_config_nodedir: '/usr', npm_config_cache: NPM_CACHE, npm_config_update_notifier: 'false', ...extra };
}

async function sh(bin: string, args: readonly string[], cwd: string, env = cleanEnv()): Promise<string> {
  try {
    const { stdout } = await run(bin, args, { cwd, env, maxBuffer: 64 * 1024 * 1024, timeout: INSTALL_TIMEOUT_MS });
    return stdout;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${bin} ${args.join(' ')} failed in ${cwd}:\n${failed.stderr ?? ''}\n${failed.stdout ?? ''}\n${failed.message}`);
  }
}

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'packages', 'koa', 'dist', 'index.js'))) {
    throw new Error('the packages are not built: run `pnpm exec tsc -b` first (pnpm test does)');
  }
  scratch = await createScratch('berth-install-');
  const tarballs = join(scratch.path, 'tarballs');
  await sh('node', [join(REPO_ROOT, 'scripts', 'pack.mjs'), tarballs], REPO_ROOT);
  registry = await startTarballRegistry(tarballs);
  unpacked = join(scratch.path, 'unpacked');
  for (const { file, manifest } of registry.packages) {
    const dir = join(unpacked, manifest.name);
    await mkdir(dir, { recursive: true });
    await sh('tar', ['-xzf', file, '-C', dir, '--strip-components=1'], scratch.path);
  }
  skopeo = await createSkopeo();
}, INSTALL_TIMEOUT_MS);

afterAll(async () => {
  await skopeo?.dispose();
  await registry?.close();
  await scratch?.dispose();
});

describe('packed tarballs', () => {
  const publishable = ['@berth/auth', '@berth/blobs-fs', '@berth/blobs-s3', '@berth/core', '@berth/koa', '@berth/registry', '@berth/server', '@berth/storage-postgres', '@berth/storage-sql', '@berth/storage-sqlite', '@berth/storage-testing', '@berth/ui'];

  it('are one per publishable package, each with a license, a description, engines and no workspace ranges', () => {
    expect(registry.packages.map((pkg) => pkg.manifest.name).sort()).toEqual(publishable);
    for (const { manifest } of registry.packages) {
      expect(manifest, manifest.name).toMatchObject({ license: 'MIT', engines: { node: '>=20' }, type: 'module' });
      expect(typeof manifest['description'], manifest.name).toBe('string');
      expect(JSON.stringify(manifest), manifest.name).not.toMatch(/workspace:|@berth\/source/);
      expect(manifest['private'], manifest.name).toBeUndefined();
    }
  });

  it('hold dist, README.md and LICENSE only, with every export and bin target present and self-contained source maps', () => {
    for (const { manifest } of registry.packages) {
      const dir = join(unpacked, manifest.name);
      const files = listFiles(dir);
      expect(files, manifest.name).toContain('README.md');
      expect(files, manifest.name).toContain('LICENSE');
      expect(readFileSync(join(dir, 'LICENSE'), 'utf8')).toBe(readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8'));
      for (const file of files) {
        // @berth/ui also ships its page shell and stylesheet as they are (static/).
        const shipped = manifest.name === '@berth/ui' ? /^(package\.json|README\.md|LICENSE|dist\/.+\.(js|d\.ts|js\.map)|static\/(index\.html|style\.css))$/ : /^(package\.json|README\.md|LICENSE|dist\/.+\.(js|d\.ts|js\.map))$/;
        expect(file, manifest.name).toMatch(shipped);
        expect(file, manifest.name).not.toMatch(/\.test\.|tsbuildinfo|\.d\.ts\.map$/);
      }
      for (const target of exportTargets(manifest)) expect(files, `${manifest.name} exports ${target}`).toContain(target.replace(/^\.\//, ''));
      // A map may name ../src/*.ts, which the tarball does not hold, only with those sources inlined.
      for (const map of files.filter((file) => file.endsWith('.js.map'))) {
        const parsed = JSON.parse(readFileSync(join(dir, map), 'utf8')) as { sources: string[]; sourcesContent?: unknown[] };
        expect(parsed.sourcesContent?.length, `${manifest.name}/${map}`).toBe(parsed.sources.length);
      }
    }
  });

  it('declare every package their code imports (dependencies or peerDependencies)', () => {
    const builtins = new Set(builtinModules);
    for (const { manifest } of registry.packages) {
      const dir = join(unpacked, manifest.name);
      const declared = new Set([
        ...Object.keys((manifest['dependencies'] as Record<string, string> | undefined) ?? {}),
        ...Object.keys((manifest['peerDependencies'] as Record<string, string> | undefined) ?? {}),
      ]);
      const imported = new Set<string>();
      for (const file of listFiles(dir).filter((name) => /\.(js|d\.ts)$/.test(name))) {
        const text = readFileSync(join(dir, file), 'utf8');
        // Module-level import/export … from, side-effect imports, and import('…') (code and d.ts type references).
        const specifiers = [
          ...text.matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm),
          ...text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
          ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
        ].map((match) => match[1]!);
        for (const specifier of specifiers) {
          if (specifier.startsWith('.')) continue;
          if (specifier.startsWith('node:') || builtins.has(specifier)) continue;
          imported.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);
        }
      }
      expect(imported.size, manifest.name).toBeGreaterThan(0);
      for (const name of imported) expect(declared.has(name), `${manifest.name} imports ${name} without declaring it`).toBe(true);
    }
  });
});

describe('installed by name into a fresh Koa app', () => {
  let database: ScratchDatabase | undefined;
  afterAll(async () => {
    await database?.drop();
  });

  it('with npm: @berth/koa + @berth/storage-postgres + @berth/blobs-fs serve a skopeo push and pull', { timeout: INSTALL_TIMEOUT_MS }, async () => {
    const app = await freshApp('npm-app', 'postgres');
    await sh('npm', ['install', '--no-audit', '--no-fund', 'koa', '@berth/koa', '@berth/storage-postgres', '@berth/blobs-fs'], app);
    expect(installedVersion(app, '@berth/koa')).toBe(packed('@berth/koa').manifest.version);
    // npm ls exits non-zero on a missing or unmet (peer) dependency anywhere in the tree.
    await sh('npm', ['ls', '--all'], app);
    database = await createScratchDatabase();
    await pushAndPull(app, ['app.mjs'], { DATABASE_URL: database.url, BLOB_DIR: join(app, 'blobs') }, 'npm/app');
  });

  it('with pnpm (no hoisting): @berth/koa + @berth/storage-sqlite + @berth/blobs-fs serve a skopeo push and pull', { timeout: INSTALL_TIMEOUT_MS }, async () => {
    const app = await freshApp('pnpm-app', 'sqlite');
    // An app's own settings: let better-sqlite3 build, and keep each package to what it declares.
    await writeFile(join(app, 'pnpm-workspace.yaml'), 'allowBuilds:\n  better-sqlite3: true\nhoist: false\n');
    await sh('pnpm', ['add', 'koa', '@berth/koa', '@berth/storage-sqlite', '@berth/blobs-fs'], app);
    await sh('pnpm', ['add', '--save-dev', '@berth/storage-testing', '@berth/core'], app);
    expect(installedVersion(app, '@berth/storage-sqlite')).toBe(packed('@berth/storage-sqlite').manifest.version);
    // The adapter kit loads on its own too (its only dependency, @berth/core, is a peer).
    await sh('node', ['--input-type=module', '-e', "const kit = await import('@berth/storage-testing'); if (typeof kit.metadataStoreContract !== 'function') process.exit(1);"], app);
    await pushAndPull(app, ['app.mjs'], { SQLITE_FILE: join(app, 'berth.sqlite'), BLOB_DIR: join(app, 'blobs') }, 'pnpm/app');
  });

  it('with pnpm add -g: the `berth` command of @berth/server serves a skopeo push and pull', { timeout: INSTALL_TIMEOUT_MS }, async () => {
    const home = scratch.child('pnpm-home');
    const cwd = scratch.child('global');
    await mkdir(cwd, { recursive: true });
    // The machine's package store, so what the workspace install built (better-sqlite3) is reused.
    const store = (await sh('pnpm', ['store', 'path'], cwd)).trim();
    // pnpm's global bin directory is $PNPM_HOME/bin, and pnpm refuses a global install while it is not on PATH.
    // A global install reads only the global config: a throwaway one for the scope's registry and the store.
    const env = cleanEnv({ PNPM_HOME: home, PATH: `${join(home, 'bin')}:${process.env['PATH'] ?? ''}`, XDG_CONFIG_HOME: scratch.child('config') });
    await sh('pnpm', ['config', 'set', '--global', '@berth:registry', registry.url], cwd, env);
    await sh('pnpm', ['config', 'set', '--global', 'store-dir', store], cwd, env);
    await sh('pnpm', ['add', '--global', '--allow-build=better-sqlite3', '@berth/server'], cwd, env);
    const berth = join((await sh('pnpm', ['bin', '--global'], cwd, env)).trim(), 'berth');
    expect(existsSync(berth)).toBe(true);
    expect((await sh(berth, ['--version'], cwd, env)).trim()).toBe(`berth ${packed('@berth/server').manifest.version}`);
    const data = join(cwd, 'data');
    await pushAndPull(cwd, [berth, 'serve', '--host', '127.0.0.1', '--port', '0', '--data', data], {}, 'server/app', env, true);
  });

  /** A directory outside the workspace with a package.json, the scope's registry, and an app that mounts berth. */
  async function freshApp(name: string, metadata: 'postgres' | 'sqlite'): Promise<string> {
    const dir = scratch.child(name);
    await mkdir(dir, { recursive: true });
    expect(relative(REPO_ROOT, dir).startsWith('..')).toBe(true);
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module' }, null, 2));
    await writeFile(join(dir, '.npmrc'), `@berth:registry=${registry.url}\n`);
    const store =
      metadata === 'postgres'
        ? "import { openPostgresMetadataStore } from '@berth/storage-postgres';\nconst metadata = await openPostgresMetadataStore({ connection: process.env.DATABASE_URL });"
        : "import { openSqliteMetadataStore } from '@berth/storage-sqlite';\nconst metadata = await openSqliteMetadataStore({ filename: process.env.SQLITE_FILE });";
    await writeFile(
      join(dir, 'app.mjs'),
      `import Koa from 'koa';
import { createRegistry } from '@berth/koa';
import { openFsBlobStore } from '@berth/blobs-fs';
${store}
const blobs = await openFsBlobStore({ root: process.env.BLOB_DIR });
const registry = createRegistry({ metadata, blobs });
const app = new Koa();
app.use(registry.routes()).use(registry.allowedMethods());
const server = app.listen(0, '127.0.0.1', () => console.log('listening on http://127.0.0.1:' + server.address().port));
process.once('SIGTERM', () => server.close(() => metadata.close().then(() => process.exit(0))));
`,
    );
    return dir;
  }

  /** Starts the app (node ARGS, or the command itself with `direct`), pushes an image with skopeo, pulls it back and compares. */
  async function pushAndPull(cwd: string, args: readonly string[], appEnv: Record<string, string>, repository: string, env = cleanEnv(), direct = false): Promise<void> {
    const child = direct
      ? spawn(args[0]!, args.slice(1), { cwd, env: { ...env, ...appEnv }, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, args, { cwd, env: { ...env, ...appEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    const watched = watch(child, repository);
    try {
      const url = await watched.waitForLine((line) => /listening on (https?:\/\/[^\s"']+)/.exec(line)?.[1]);
      const host = new URL(url).host;
      const layout = await writeImageLayout({ dir: scratch.child('image'), layers: 2, seed: 31, tag: 'v1' });
      const pushed = await skopeo.copy(layout.ref, dockerRef(host, repository, 'v1'), { format: 'oci' });
      expect(pushed.digest).toBe(layout.root.digest);
      const back = scratch.child('pulled');
      await skopeo.copy(dockerRef(host, repository, 'v1'), `oci:${back}:v1`);
      const pulled = await readOciLayout(back, 'v1');
      expect(pulled.manifest.equals(layout.root.bytes)).toBe(true);
      for (const [digest, bytes] of layout.blobs) {
        if (digest === layout.root.digest) continue;
        expect(pulled.blobs.get(digest)?.equals(bytes), digest).toBe(true);
      }
    } finally {
      await watched.stop();
    }
    expect(registry.missing).toEqual([]);
  }
});

function packed(name: string): PackedPackage {
  const found = registry.packages.find((pkg) => pkg.manifest.name === name);
  if (!found) throw new Error(`${name} was not packed`);
  return found;
}

function installedVersion(app: string, name: string): string {
  return (JSON.parse(readFileSync(join(app, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

function listFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix)).flatMap((name) => {
    const path = prefix ? `${prefix}/${name}` : name;
    return statSync(join(dir, path)).isDirectory() ? listFiles(dir, path) : [path];
  });
}

function exportTargets(manifest: PackedPackage['manifest']): string[] {
  const targets: string[] = [];
  const collect = (value: unknown) => {
    if (typeof value === 'string') targets.push(value);
    else if (value && typeof value === 'object') Object.values(value).forEach(collect);
  };
  collect(manifest['exports']);
  collect(manifest['bin']);
  return targets;
}
