import { execFileSync } from 'node:child_process';
import { createPublicKey, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa, { type Middleware } from 'koa';
import request from 'supertest';
import type { AccessRule, MetadataStore } from '@berth/core';
import {
  createTokenVerifier,
  openHtpasswd,
  parseTrustedKeys,
  resolveTokenSigningKey,
  type SignInLimiter,
  type TokenSigningKey,
  type TokenVerifier,
} from '@berth/auth';
import { openFsBlobStore } from '@berth/blobs-fs';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';
import { createRegistry, tokenAuth, tokenService, type TokenService, type TokenServiceOptions } from '../../src/index.js';

// bcryptjs is @berth/auth's dependency, not @berth/koa's: load it the way @berth/auth does.
const requireFromAuth = createRequire(new URL('../../../auth/package.json', import.meta.url));
const bcrypt = requireFromAuth('bcryptjs') as { hashSync(password: string, rounds: number): string };

/** An htpasswd line with a cheap bcryptjs hash (`$2b$04$`). */
export function bcryptLine(user: string, password: string): string {
  return `${user}:${bcrypt.hashSync(password, 4)}`;
}

/** A line as the real tool writes it (`$2y$`, what distribution's documentation tells people to run). */
export function htpasswdToolLine(user: string, password: string): string {
  return execFileSync('htpasswd', ['-B', '-C', '4', '-b', '-n', user, password], { encoding: 'utf8' }).trim();
}

export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export const SERVICE = 'berth';
export const ISSUER = 'berth-token-test';

/**
 * Who may do what in these tests: everyone everything below their own name, signed-in users pull
 * `team/**`, everyone (anonymous included) pulls `public/**`, and `admin` pulls everything.
 */
export const TEST_RULES: AccessRule[] = [
  { repositories: ['${user}/**'], users: ['*'], actions: ['*'] },
  { repositories: ['team/**'], users: ['*'], actions: ['pull'] },
  { repositories: ['public/**'], users: ['anonymous', '*'], actions: ['pull'] },
  { repositories: ['**'], users: ['admin'], actions: ['pull'] },
];

export interface TokenServiceUnderTest {
  /** The app: the token service at `/token` and a registry protected by `tokenAuth` at `/v2/`. */
  http: ReturnType<typeof request>;
  tokens: TokenService;
  signingKey: TokenSigningKey;
  metadata: MetadataStore;
  /** Verifies access tokens as `tokenAuth` does, trusting the service's certificate. */
  verifier: TokenVerifier;
  htpasswdFile: string;
  /** Rewrites the htpasswd file (the service re-reads it on the next request). */
  writeUsers(...lines: string[]): Promise<void>;
  close(): Promise<void>;
}

export interface TokenServiceFixtureOptions {
  users: string[];
  access?: readonly AccessRule[];
  limiter?: SignInLimiter;
  /**
   * Rules `tokenAuth` narrows tokens with; none by default (the tokens are narrowed already, and
   * `tokenAuth` with rules drops the catalog scope).
   */
  registryAccess?: readonly AccessRule[];
  /** Middleware run before the routes (a host's body parser). */
  before?: Middleware[];
  options?: Partial<Omit<TokenServiceOptions, 'htpasswd' | 'signingKey'>>;
}

export async function openTokenService(fixture: TokenServiceFixtureOptions): Promise<TokenServiceUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-token-'));
  const htpasswdFile = join(dir, 'users.htpasswd');
  const writeUsers = (...lines: string[]) => writeFile(htpasswdFile, lines.map((line) => `${line}\n`).join(''));
  await writeUsers(...fixture.users);
  const metadata = await openSqliteMetadataStore({ filename: join(dir, 'berth.sqlite') });
  const signingKey = await resolveTokenSigningKey(metadata);
  const htpasswd = await openHtpasswd(htpasswdFile, { recheckIntervalMs: 0 });
  const access = fixture.access ?? TEST_RULES;
  const tokens = tokenService({
    htpasswd,
    access,
    signingKey,
    service: SERVICE,
    issuer: ISSUER,
    ...(fixture.limiter !== undefined && { limiter: fixture.limiter }),
    ...fixture.options,
  });
  const keys = parseTrustedKeys(signingKey.certificatePem, 'token service certificate');
  const registry = createRegistry({
    metadata,
    blobs: await openFsBlobStore({ root: join(dir, 'blobs') }),
    authorize: tokenAuth({ issuer: ISSUER, service: SERVICE, keys, realm: 'http://registry.test/token',
      ...(fixture.registryAccess !== undefined && { access: fixture.registryAccess }),
    }),
  });
  const app = new Koa();
  app.on('error', () => undefined); // 500s are asserted on; no noise
  for (const middleware of fixture.before ?? []) app.use(middleware);
  app.use(tokens.routes()).use(registry.routes()).use(registry.allowedMethods());
  return {
    http: request(app.callback()),
    tokens,
    signingKey,
    metadata,
    verifier: createTokenVerifier({ issuer: ISSUER, service: SERVICE, keys }),
    htpasswdFile,
    writeUsers,
    async close() {
      await metadata.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/** A JWT's header and claims, decoded by hand (no JOSE library). */
export function decodeJwt(token: string): DecodedJwt {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error(`not a compact JWS: ${parts.length} parts`);
  const json = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: json(parts[0]!), payload: json(parts[1]!) };
}

/** True when an ES256 JWS verifies with the key (the signature is r||s, as JWS encodes it). */
export function es256Verifies(token: string, publicKey: KeyObject): boolean {
  const [header, payload, signature] = token.split('.');
  return verify(
    'sha256',
    Buffer.from(`${header}.${payload}`),
    { key: publicKey, dsaEncoding: 'ieee-p1363' },
    Buffer.from(signature ?? '', 'base64url'),
  );
}

export function certificateKey(pem: string): KeyObject {
  return new X509Certificate(pem).publicKey;
}

export function jwkKey(jwk: Record<string, unknown>): KeyObject {
  return createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
}
