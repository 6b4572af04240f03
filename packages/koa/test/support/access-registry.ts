// A registry with sign-in on (basic, token or a hook of the test's own) over SQLite + filesystem stores,
// a back door to seed it (the same stores, no access check), and snapshots of everything it stores.
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import Koa, { type Middleware } from 'koa';
import request from 'supertest';
import type { AccessRule } from '@berth/core';
import { openFsBlobStore } from '@berth/blobs-fs';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';
import {
  createSignInLimiter,
  openHtpasswd,
  parseTrustedKeys,
  resolveTokenSigningKey,
  type SignInLimiter,
  type TokenSigningKey,
} from '@berth/auth';
import {
  basicAuth,
  createRegistry,
  tokenAuth,
  tokenService,
  type Authorize,
  type CreateRegistryOptions,
  type Registry,
  type UiOptions,
} from '../../src/index.js';

export type Http = ReturnType<typeof request>;
export type SqliteMetadata = Awaited<ReturnType<typeof openSqliteMetadataStore>>;
export type BlobStore = Awaited<ReturnType<typeof openFsBlobStore>>;

/** The users of the htpasswd file and their passwords. */
export const PASSWORDS = { reader: 'reader-secret', writer: 'writer-secret', admin: 'admin-secret', alice: 'alice-secret', bob: 'bob-secret' } as const;
export type UserName = keyof typeof PASSWORDS;

export const BASIC_REALM = 'berth-test';
export const TOKEN_REALM = 'http://auth.test/token';
export const SERVICE = 'registry.test';
export const ISSUER = 'berth-test-issuer';

/**
 * The access file of these tests: `public/**` pull for everyone (signed in or not), everything below one's
 * own name, `team/**` pull for reader, pull+push for writer, and everything everywhere for admin.
 */
export const ACCESS_RULES: AccessRule[] = [
  { repositories: ['public/**'], users: ['anonymous', '*'], actions: ['pull'] },
  { repositories: ['${user}/**'], users: ['*'], actions: ['*'] },
  { repositories: ['team/**'], users: ['reader'], actions: ['pull'] },
  { repositories: ['team/**'], users: ['writer'], actions: ['pull', 'push'] },
  { repositories: ['**'], users: ['admin'], actions: ['*'] },
];

/** `Authorization: Basic …` for a user name and password. */
export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** A real htpasswd file, made by `htpasswd -B` at cost 4 (the lowest bcrypt allows, so sign-ins stay fast). */
export async function writeHtpasswd(path: string, users: Readonly<Record<string, string>>): Promise<void> {
  const lines = Object.entries(users).map(([user, password]) =>
    execFileSync('htpasswd', ['-nbB', '-C', '4', user, password], { encoding: 'utf8' }).trim(),
  );
  await writeFile(path, `${lines.join('\n')}\n`);
}

export type AccessMode = 'basic' | 'token';

export interface AccessRegistryOptions {
  /** `basic` (basicAuth), `token` (tokenAuth + the token service at /token), or `authorize`: the test's own hook. */
  mode: AccessMode | 'hook';
  authorize?: Authorize;
  /** Rules of basicAuth and the token service (default ACCESS_RULES). */
  access?: readonly AccessRule[];
  /** Rules tokenAuth narrows tokens with; undefined: none (tokens are taken as the token service made them). */
  tokenAccess?: readonly AccessRule[];
  /** Failed sign-ins (default: a limiter that never blocks, so tables can send wrong passwords freely). */
  limiter?: SignInLimiter;
  /** Host middleware that runs before the registry (a host's own sign-in, for example). */
  before?: Middleware[];
  registry?: Partial<CreateRegistryOptions>;
  /** Mounts the web UI's API (`registry.ui(options)`) before the registry's routes. */
  ui?: UiOptions;
  /** Token mode: where clients get tokens (default TOKEN_REALM, a name that resolves nowhere). */
  realm?: string | ((ctx: Koa.Context) => string);
  /** Token mode: the token service's users may sign in to the UI (`tokenAuth({ signIn: tokens.signIn })`). */
  tokenSignIn?: boolean;
}

export interface AccessRegistry {
  registry: Registry;
  metadata: SqliteMetadata;
  blobs: BlobStore;
  dir: string;
  app: Koa;
  /** The registry as clients see it. */
  http: Http;
  /** The same stores without any access check: for seeding and repairing state. */
  backdoor: Http;
  /** The token service's signing key (token mode only). */
  signingKey?: TokenSigningKey;
  /** A token from the token service at GET /token for `scopes`, signed in with the user's password. */
  token(user: UserName, scopes: readonly string[], options?: { offline?: boolean }): Promise<{ token: string; refresh_token?: string }>;
  snapshot(): Promise<StoredState>;
  close(): Promise<void>;
}

/** A registry on SQLite + filesystem stores in a fresh temporary directory, with sign-in as `options.mode` says. */
export async function openAccessRegistry(options: AccessRegistryOptions): Promise<AccessRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-access-'));
  const metadata = await openSqliteMetadataStore({ filename: join(dir, 'berth.sqlite') });
  const blobs = await openFsBlobStore({ root: join(dir, 'blobs') });
  const htpasswdPath = join(dir, 'users.htpasswd');
  await writeHtpasswd(htpasswdPath, PASSWORDS);
  const htpasswd = await openHtpasswd(htpasswdPath);
  const limiter = options.limiter ?? createSignInLimiter({ maxFailures: Number.MAX_SAFE_INTEGER });
  const access = options.access ?? ACCESS_RULES;

  const app = new Koa();
  app.on('error', () => undefined);
  for (const middleware of options.before ?? []) app.use(middleware);
  let authorize: Authorize | undefined;
  let signingKey: TokenSigningKey | undefined;
  if (options.mode === 'basic') {
    authorize = basicAuth({ htpasswd, access, realm: BASIC_REALM, limiter });
  } else if (options.mode === 'token') {
    signingKey = await resolveTokenSigningKey(metadata);
    const tokens = tokenService({ htpasswd, access, signingKey, service: SERVICE, issuer: ISSUER, limiter });
    app.use(tokens.routes());
    authorize = tokenAuth({
      issuer: ISSUER,
      service: SERVICE,
      keys: parseTrustedKeys(signingKey.certificatePem, 'the test token service certificate'),
      realm: options.realm ?? TOKEN_REALM,
      ...(options.tokenAccess !== undefined && { access: options.tokenAccess }),
      ...(options.tokenSignIn && { signIn: tokens.signIn }),
    });
  } else {
    authorize = options.authorize;
  }
  const registry = createRegistry({ metadata, blobs, ...(authorize !== undefined && { authorize }), ...options.registry });
  if (options.ui) app.use(registry.ui(options.ui));
  app.use(registry.routes()).use(registry.allowedMethods());
  // Listening servers for the whole run: supertest would otherwise start one per request.
  const servers = await Promise.all([app.callback(), createRegistry({ metadata, blobs }).callback()].map(listen));
  const http = request(servers[0]!);
  const backdoor = request(servers[1]!);

  return {
    registry,
    metadata,
    blobs,
    dir,
    app,
    http,
    backdoor,
    ...(signingKey !== undefined && { signingKey }),
    async token(user, scopes, { offline = false } = {}) {
      const query = new URLSearchParams({ service: SERVICE });
      for (const scope of scopes) query.append('scope', scope);
      if (offline) query.set('offline_token', 'true');
      const response = await http.get(`/token?${query.toString()}`).set('Authorization', basic(user, PASSWORDS[user]));
      if (response.status !== 200) throw new Error(`token for ${user} ${scopes.join(' ')}: ${response.status} ${response.text}`);
      return response.body as { token: string; refresh_token?: string };
    },
    snapshot: () => snapshotState(metadata, join(dir, 'blobs')),
    async close() {
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve).closeAllConnections())));
      await metadata.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function listen(handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Every row of the metadata tables and every file of the blob store (blobs, uploads with their sizes). */
export interface StoredState {
  tables: Record<string, string[]>;
  files: string[];
}

const TABLES = ['manifests', 'manifest_references', 'tags', 'blob_links', 'upload_sessions', 'converted_manifests', 'settings'];

/** Reads the SQLite tables directly (the store's own connection) and walks the blob directory. */
export async function snapshotState(metadata: SqliteMetadata, blobRoot: string): Promise<StoredState> {
  const tables: Record<string, string[]> = {};
  const everyTable: Array<Array<Record<string, unknown>>> = await Promise.all(TABLES.map((table) => metadata.knex(table).select('*')));
  for (const [index, table] of TABLES.entries()) {
    tables[table] = everyTable[index]!
      .map((row) => JSON.stringify(Object.entries(row).map(([column, value]) => [column, Buffer.isBuffer(value) ? value.toString('hex') : value])))
      .sort();
  }
  return { tables, files: await listFiles(blobRoot) };
}

async function listFiles(root: string, dir = root): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const files: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    const name = relative(root, path);
    if (entry.isDirectory()) files.push(...(await listFiles(root, path)));
    // Published blobs are named by their digest and never change; the rest (uploads) with their sizes.
    else files.push(name.startsWith('blobs/') ? name : `${name} ${(await stat(path)).size}`);
  }
  return files.sort();
}
