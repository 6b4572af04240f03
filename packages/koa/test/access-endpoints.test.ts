import { randomBytes } from 'node:crypto';
import type request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OCI_MANIFEST, sha256 } from './support/content.js';
import {
  ACCESS_RULES,
  BASIC_REALM,
  ISSUER,
  PASSWORDS,
  SERVICE,
  TOKEN_REALM,
  basic,
  openAccessRegistry,
  type AccessMode,
  type AccessRegistry,
  type Http,
} from './support/access-registry.js';
import { putManifest, seedRepository, startUpload, type SeededRepository } from './support/access-fixtures.js';
import {
  algNoneToken,
  expiredToken,
  hs256WithPublicKeyToken,
  misaddressedToken,
  tamperedToken,
  unconfiguredKeyToken,
  type HostileTokenContext,
} from './support/access-tokens.js';

type Action = 'pull' | 'push' | 'delete';
/** What an endpoint needs: nothing but a caller (`GET /v2/`), the catalog, or actions on the repository in the path. */
type Need = 'version' | 'catalog' | 'pull' | 'push' | 'delete' | 'mount';
/** Whose rights a credential carries: a user's (as the rules give them), an anonymous caller's, or none at all. */
type Rights = 'anonymous' | 'reader' | 'writer' | 'admin' | 'nobody';

const REPOSITORIES = ['public/app', 'secret/app', 'team/app', 'writer/app'];
/** Where mounts come from: reader, writer and admin may pull it, anonymous callers may not. */
const MOUNT_FROM = 'team/app';
/** Where the identities whose credentials are refused anyway are tried (every valid user may do something there). */
const BAD_CREDENTIALS_REPOSITORY = 'team/app';

/**
 * The access file (ACCESS_RULES) written out again, independently of berth's rule engine: `public/**`
 * pull for anyone, `${user}/**` everything, `team/**` pull for reader and pull+push for writer, admin
 * everything everywhere.
 */
function rulesAllow(who: Rights, repository: string, actions: readonly Action[]): boolean {
  const namespace = repository.split('/')[0];
  const granted = new Set<Action>();
  const grant = (...more: Action[]) => more.forEach((action) => granted.add(action));
  if (who === 'nobody') return false;
  if (namespace === 'public') grant('pull');
  if (who !== 'anonymous') {
    if (namespace === who || who === 'admin') grant('pull', 'push', 'delete');
    if (namespace === 'team' && who === 'reader') grant('pull');
    if (namespace === 'team' && who === 'writer') grant('pull', 'push');
  }
  return actions.every((action) => granted.has(action));
}

const ACTIONS: Record<'pull' | 'push' | 'delete' | 'mount', Action[]> = {
  pull: ['pull'],
  push: ['pull', 'push'],
  delete: ['delete'],
  mount: ['pull', 'push'],
};

/** The scopes a request needs, as a Bearer challenge names them. */
function neededScopes(need: Need, repository: string | undefined): string[] {
  if (need === 'version') return [];
  if (need === 'catalog') return ['registry:catalog:*'];
  const own = `repository:${repository}:${ACTIONS[need].join(',')}`;
  return need === 'mount' && repository !== MOUNT_FROM ? [own, `repository:${MOUNT_FROM}:pull`] : [own];
}

function bearerChallenge(scopes: readonly string[], error?: string): string {
  const parts = [`realm="${TOKEN_REALM}"`, `service="${SERVICE}"`];
  if (scopes.length > 0) parts.push(`scope="${scopes.join(' ')}"`);
  if (error !== undefined) parts.push(`error="${error}"`);
  return `Bearer ${parts.join(',')}`;
}

const BASIC_CHALLENGE = `Basic realm="${BASIC_REALM}"`;

interface Cell {
  http: Http;
  backdoor: Http;
  repository: string;
  seed: SeededRepository;
  mountDigest: string;
}

interface Endpoint {
  label: string;
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  need: Need;
  /** The status when allowed (a mount: 201 when it mounts, else 202). */
  success: number;
  /** Runs before the request (and before the state snapshot): an upload session started by someone allowed to. */
  prepare?: (cell: Cell) => Promise<string>;
  /** Not async: awaiting a supertest request sends it. */
  request: (cell: Cell, prepared: string) => request.Test;
  /** Puts back what an allowed request removed, so later cells find it. */
  repair?: (cell: Cell) => Promise<void>;
}

const repo = (cell: Cell) => `/v2/${cell.repository}`;

const ENDPOINTS: Endpoint[] = [
  { label: 'GET /v2/', method: 'GET', need: 'version', success: 200, request: (c) => c.http.get('/v2/') },
  { label: 'GET /v2/_catalog', method: 'GET', need: 'catalog', success: 200, request: (c) => c.http.get('/v2/_catalog') },
  {
    label: 'GET manifest by tag',
    method: 'GET',
    need: 'pull',
    success: 200,
    request: (c) => c.http.get(`${repo(c)}/manifests/latest`).set('Accept', OCI_MANIFEST),
  },
  {
    label: 'HEAD manifest by tag',
    method: 'HEAD',
    need: 'pull',
    success: 200,
    request: (c) => c.http.head(`${repo(c)}/manifests/latest`).set('Accept', OCI_MANIFEST),
  },
  {
    label: 'GET manifest by digest',
    method: 'GET',
    need: 'pull',
    success: 200,
    request: (c) => c.http.get(`${repo(c)}/manifests/${c.seed.image.digest}`),
  },
  {
    label: 'HEAD manifest by digest',
    method: 'HEAD',
    need: 'pull',
    success: 200,
    request: (c) => c.http.head(`${repo(c)}/manifests/${c.seed.image.digest}`),
  },
  {
    label: 'PUT manifest',
    method: 'PUT',
    need: 'push',
    success: 201,
    request: (c) => c.http.put(`${repo(c)}/manifests/pushed`).set('Content-Type', OCI_MANIFEST).send(c.seed.image.body),
  },
  {
    label: 'DELETE manifest by digest',
    method: 'DELETE',
    need: 'delete',
    success: 202,
    request: (c) => c.http.delete(`${repo(c)}/manifests/${c.seed.doomed.digest}`),
    repair: (c) => putManifest(c.backdoor, c.repository, 'doomed', c.seed.doomed.body),
  },
  {
    label: 'DELETE manifest by tag',
    method: 'DELETE',
    need: 'delete',
    success: 202,
    request: (c) => c.http.delete(`${repo(c)}/manifests/gone`),
    repair: (c) => putManifest(c.backdoor, c.repository, 'gone', c.seed.image.body),
  },
  { label: 'GET blob', method: 'GET', need: 'pull', success: 200, request: (c) => c.http.get(`${repo(c)}/blobs/${c.seed.image.layers[0]}`) },
  { label: 'HEAD blob', method: 'HEAD', need: 'pull', success: 200, request: (c) => c.http.head(`${repo(c)}/blobs/${c.seed.image.layers[0]}`) },
  {
    label: 'DELETE blob',
    method: 'DELETE',
    need: 'delete',
    success: 202,
    request: (c) => c.http.delete(`${repo(c)}/blobs/${c.seed.spare.digest}`),
    repair: async (c) => {
      await c.backdoor.post(`${repo(c)}/blobs/uploads/?digest=${c.seed.spare.digest}`).send(c.seed.spare.bytes).expect(201);
    },
  },
  { label: 'POST upload', method: 'POST', need: 'push', success: 202, request: (c) => c.http.post(`${repo(c)}/blobs/uploads/`) },
  {
    label: 'POST monolithic upload',
    method: 'POST',
    need: 'push',
    success: 201,
    request: (c) => {
      const bytes = randomBytes(48);
      return c.http.post(`${repo(c)}/blobs/uploads/?digest=${sha256(bytes)}`).set('Content-Type', 'application/octet-stream').send(bytes);
    },
  },
  {
    label: 'PATCH upload session',
    method: 'PATCH',
    need: 'push',
    success: 202,
    prepare: (c) => startUpload(c.backdoor, c.repository),
    request: (c, location) => c.http.patch(location).set('Content-Type', 'application/octet-stream').send(randomBytes(16)),
  },
  {
    label: 'PUT upload session',
    method: 'PUT',
    need: 'push',
    success: 201,
    prepare: (c) => startUpload(c.backdoor, c.repository),
    request: (c, location) => {
      const bytes = randomBytes(16);
      return c.http.put(`${location}?digest=${sha256(bytes)}`).set('Content-Type', 'application/octet-stream').send(bytes);
    },
  },
  {
    label: 'GET upload session',
    method: 'GET',
    need: 'push',
    success: 204,
    prepare: (c) => startUpload(c.backdoor, c.repository),
    request: (c, location) => c.http.get(location),
  },
  {
    label: 'DELETE upload session',
    method: 'DELETE',
    need: 'push',
    success: 204,
    prepare: (c) => startUpload(c.backdoor, c.repository),
    request: (c, location) => c.http.delete(location),
  },
  {
    label: 'POST mount',
    method: 'POST',
    need: 'mount',
    success: 201,
    request: (c) => c.http.post(`${repo(c)}/blobs/uploads/?mount=${c.mountDigest}&from=${MOUNT_FROM}`),
  },
  { label: 'GET tags/list', method: 'GET', need: 'pull', success: 200, request: (c) => c.http.get(`${repo(c)}/tags/list`) },
  {
    label: 'GET referrers',
    method: 'GET',
    need: 'pull',
    success: 200,
    request: (c) => c.http.get(`${repo(c)}/referrers/${c.seed.image.digest}`),
  },
];

interface Identity {
  label: string;
  /** Whose rights apply once the credential is accepted; `refused` when it never is. */
  rights: Rights | 'refused';
  /** The Authorization header for a request needing `scopes` (a token for exactly them, as a client would fetch). */
  authorization(scopes: string[]): Promise<string | undefined>;
}

/** What a response said, reduced to what the rules decide. */
interface Outcome {
  status: number;
  code?: string;
  challenge?: string;
  /** A mount's Location: to the mounted blob, or to a new upload session. */
  location?: 'blob' | 'upload' | string;
  repositories?: string[];
}

function observe(response: request.Response, endpoint: Endpoint, cell: Cell): Outcome {
  const outcome: Outcome = { status: response.status };
  if (response.status >= 400 && endpoint.method !== 'HEAD') {
    try {
      outcome.code = (JSON.parse(response.text) as { errors: Array<{ code: string }> }).errors[0]!.code;
    } catch {
      outcome.code = `not the spec's JSON: ${response.text}`;
    }
  }
  const challenge = response.headers['www-authenticate'] as string | undefined;
  if (challenge !== undefined) outcome.challenge = challenge;
  if (endpoint.need === 'mount' && response.status < 300) {
    const location = String(response.headers['location']);
    if (location === `/v2/${cell.repository}/blobs/${cell.mountDigest}`) outcome.location = 'blob';
    else if (location.startsWith(`/v2/${cell.repository}/blobs/uploads/`)) outcome.location = 'upload';
    else outcome.location = location;
  }
  if (endpoint.need === 'catalog' && response.status === 200) outcome.repositories = response.body.repositories;
  return outcome;
}

/** The outcome the rules call for. */
function expectedOutcome(mode: AccessMode, identity: Identity, endpoint: Endpoint, repository: string | undefined): Outcome {
  const scopes = neededScopes(endpoint.need, repository);
  const code = (value: string) => (endpoint.method === 'HEAD' ? {} : { code: value });
  const { rights } = identity;
  if (mode === 'basic') {
    const unauthorized: Outcome = { status: 401, ...code('UNAUTHORIZED'), challenge: BASIC_CHALLENGE };
    if (rights === 'refused') return unauthorized;
    // Anonymous callers are asked to sign in for the version check and the catalog, as distribution asks.
    if (rights === 'anonymous' && (endpoint.need === 'version' || endpoint.need === 'catalog')) return unauthorized;
    if (endpoint.need === 'version') return { status: 200 };
    if (endpoint.need === 'catalog') return { status: 200, repositories: REPOSITORIES.filter((name) => rulesAllow(rights, name, ['pull'])) };
    if (!rulesAllow(rights, repository!, ACTIONS[endpoint.need])) {
      return rights === 'anonymous' ? unauthorized : { status: 403, ...code('DENIED') };
    }
    return allowed(endpoint, rights, repository!);
  }
  if (rights === 'anonymous') return { status: 401, ...code('UNAUTHORIZED'), challenge: bearerChallenge(scopes) };
  if (rights === 'refused') return { status: 401, ...code('UNAUTHORIZED'), challenge: bearerChallenge(scopes, 'invalid_token') };
  if (endpoint.need === 'version') return { status: 200 };
  // Only a token with `registry:catalog:*` (the token service gives it to admin, who may pull everywhere) lists
  // everything; any other lists what its own repository scopes let it pull, and no catalog token has any.
  if (endpoint.need === 'catalog') return { status: 200, repositories: rights === 'admin' ? REPOSITORIES : [] };
  if (!rulesAllow(rights, repository!, ACTIONS[endpoint.need])) {
    return { status: 401, ...code('UNAUTHORIZED'), challenge: bearerChallenge(scopes, 'insufficient_scope') };
  }
  return allowed(endpoint, rights, repository!);
}

function allowed(endpoint: Endpoint, rights: Rights, repository: string): Outcome {
  if (endpoint.need !== 'mount') return { status: endpoint.success };
  // Mounted only from a repository the caller may pull; otherwise a plain upload starts.
  return rulesAllow(rights, MOUNT_FROM, ['pull']) || repository === MOUNT_FROM
    ? { status: 201, location: 'blob' }
    : { status: 202, location: 'upload' };
}

function basicIdentities(): Identity[] {
  const user = (name: 'reader' | 'writer' | 'admin'): Identity => ({
    label: name,
    rights: name,
    authorization: async () => basic(name, PASSWORDS[name]),
  });
  return [
    { label: 'anonymous', rights: 'anonymous', authorization: async () => undefined },
    user('reader'),
    user('writer'),
    user('admin'),
    { label: 'wrong password', rights: 'refused', authorization: async () => basic('admin', 'not-the-password') },
    { label: 'unknown user', rights: 'refused', authorization: async () => basic('mallory', PASSWORDS.admin) },
  ];
}

function tokenIdentities(t: AccessRegistry): Identity[] {
  const cache = new Map<string, Promise<string>>();
  /** The token service's token for the user and the scopes (as a client fetches it after the challenge). */
  const issued = (name: 'reader' | 'writer' | 'admin', scopes: string[]) => {
    const key = `${name} ${scopes.join(' ')}`;
    if (!cache.has(key)) cache.set(key, t.token(name, scopes).then((body) => body.token));
    return cache.get(key)!;
  };
  const hostile: HostileTokenContext = { signingKey: t.signingKey!, issuer: ISSUER, service: SERVICE };
  const bearer = (token: string) => `Bearer ${token}`;
  const user = (name: 'reader' | 'writer' | 'admin'): Identity => ({
    label: `${name} token`,
    rights: name,
    authorization: async (scopes) => bearer(await issued(name, scopes)),
  });
  // Every hostile token claims exactly what the request needs, for the admin: only the forgery stands in the way.
  const refusedToken = (label: string, make: (scopes: string[]) => string | Promise<string>): Identity => ({
    label,
    rights: 'refused',
    authorization: async (scopes) => bearer(await make(scopes)),
  });
  let refresh: Promise<string> | undefined;
  return [
    { label: 'no token', rights: 'anonymous', authorization: async () => undefined },
    user('reader'),
    user('writer'),
    user('admin'),
    refusedToken('expired token', (scopes) => expiredToken(hostile, 'admin', scopes)),
    {
      label: 'token for another repository',
      rights: 'nobody',
      authorization: async () => bearer(await issued('admin', ['repository:admin/elsewhere:*'])),
    },
    refusedToken('wrong aud', (scopes) => misaddressedToken(hostile, { service: 'another-registry' }, 'admin', scopes)),
    refusedToken('wrong iss', (scopes) => misaddressedToken(hostile, { issuer: 'another-issuer' }, 'admin', scopes)),
    refusedToken('alg none', (scopes) => algNoneToken(hostile, 'admin', scopes)),
    refusedToken('HS256 with the public key as secret', (scopes) => hs256WithPublicKeyToken(hostile, 'admin', scopes)),
    refusedToken('tampered payload', async (scopes) =>
      // The reader's genuine token for the request, made out to admin with every scope it needs.
      tamperedToken(await issued('reader', scopes), (claims) => {
        claims['sub'] = 'admin';
        claims['access'] = scopes.map((scope) => {
          const [type, name] = [scope.slice(0, scope.indexOf(':')), scope.slice(scope.indexOf(':') + 1, scope.lastIndexOf(':'))];
          return { type, name, actions: ['*'] };
        });
      }),
    ),
    refusedToken('unconfigured key', (scopes) => unconfiguredKeyToken(hostile, 'admin', scopes)),
    refusedToken('refresh token as Bearer', async () => {
      refresh ??= t.token('admin', [], { offline: true }).then((body) => body.refresh_token!);
      return refresh;
    }),
  ];
}

describe.each(['basic', 'token'] as const)('every endpoint for every identity, %s mode, on SQLite + filesystem', (mode) => {
  let t: AccessRegistry;
  const seeds = new Map<string, SeededRepository>();
  let mountDigest: string;

  beforeAll(async () => {
    // tokenAuth narrows tokens with the same rules the token service issues them under.
    t = await openAccessRegistry({ mode, tokenAccess: ACCESS_RULES });
    for (const repository of REPOSITORIES) seeds.set(repository, await seedRepository(t.backdoor, repository));
    mountDigest = seeds.get(MOUNT_FROM)!.image.layers[0]!;
  });
  afterAll(async () => t.close());

  const cellOf = (repository: string): Cell => ({ http: t.http, backdoor: t.backdoor, repository, seed: seeds.get(repository)!, mountDigest });

  it('answers as the rules say, with the exact status, code and challenge, and refusals change nothing stored', async () => {
    const identities = mode === 'basic' ? basicIdentities() : tokenIdentities(t);
    const results = new Map<string, Outcome>();
    let refusals = 0;
    for (const identity of identities) {
      const repositories = identity.rights === 'refused' ? [BAD_CREDENTIALS_REPOSITORY] : REPOSITORIES;
      for (const endpoint of ENDPOINTS) {
        const global = endpoint.need === 'version' || endpoint.need === 'catalog';
        for (const repository of global ? [undefined] : repositories) {
          const cell = cellOf(repository ?? BAD_CREDENTIALS_REPOSITORY);
          const label = `${identity.label} | ${endpoint.label}${repository === undefined ? '' : ` | ${repository}`}`;
          const expected = expectedOutcome(mode, identity, endpoint, repository);
          const prepared = endpoint.prepare ? await endpoint.prepare(cell) : '';
          const authorization = await identity.authorization(neededScopes(endpoint.need, repository));
          const refused = expected.status >= 400;
          const before = refused ? await t.snapshot() : undefined;
          const test = endpoint.request(cell, prepared);
          if (authorization !== undefined) test.set('Authorization', authorization);
          const response = await test;
          const observed = observe(response, endpoint, cell);
          results.set(label, observed);
          expect.soft(observed, label).toEqual(expected);
          expect.soft(response.headers['docker-distribution-api-version'], label).toBe('registry/2.0');
          if (refused) {
            refusals++;
            if (endpoint.method !== 'HEAD') expect.soft(response.headers['content-type'], label).toMatch(/^application\/json/);
            expect.soft(await t.snapshot(), `${label}: stored state after the refusal`).toEqual(before);
          }
          if (endpoint.repair && response.status === endpoint.success) await endpoint.repair(cell);
          // Upload sessions left open (prepared ones, started ones) go, so the stored state stays small.
          const started = response.status === 202 ? (response.headers['location'] as string | undefined) : undefined;
          for (const location of [prepared, started]) if (location?.includes('/blobs/uploads/')) await t.backdoor.delete(location);
        }
      }
    }
    // The table covered every identity and endpoint, and refused a good share of them.
    expect(results.size).toBe(
      identities.reduce((sum, identity) => sum + 2 + (ENDPOINTS.length - 2) * (identity.rights === 'refused' ? 1 : REPOSITORIES.length), 0),
    );
    expect(refusals).toBeGreaterThan(results.size / 3);

    // Some cells written out, so the rule model above cannot drift unnoticed.
    const cell = (label: string) => results.get(label);
    if (mode === 'basic') {
      expect(cell('anonymous | GET /v2/')).toEqual({ status: 401, code: 'UNAUTHORIZED', challenge: 'Basic realm="berth-test"' });
      expect(cell('anonymous | GET manifest by tag | public/app')).toEqual({ status: 200 });
      expect(cell('anonymous | HEAD blob | team/app')).toEqual({ status: 401, challenge: 'Basic realm="berth-test"' });
      expect(cell('anonymous | PUT manifest | public/app')).toEqual({ status: 401, code: 'UNAUTHORIZED', challenge: 'Basic realm="berth-test"' });
      expect(cell('anonymous | GET /v2/_catalog')).toEqual({ status: 401, code: 'UNAUTHORIZED', challenge: 'Basic realm="berth-test"' });
      expect(cell('reader | GET /v2/')).toEqual({ status: 200 });
      expect(cell('reader | GET /v2/_catalog')).toEqual({ status: 200, repositories: ['public/app', 'team/app'] });
      expect(cell('reader | PATCH upload session | team/app')).toEqual({ status: 403, code: 'DENIED' });
      expect(cell('reader | DELETE blob | team/app')).toEqual({ status: 403, code: 'DENIED' });
      expect(cell('writer | PUT upload session | team/app')).toEqual({ status: 201 });
      expect(cell('writer | DELETE manifest by tag | team/app')).toEqual({ status: 403, code: 'DENIED' });
      expect(cell('writer | DELETE manifest by digest | writer/app')).toEqual({ status: 202 });
      expect(cell('writer | POST mount | writer/app')).toEqual({ status: 201, location: 'blob' });
      expect(cell('writer | GET referrers | secret/app')).toEqual({ status: 403, code: 'DENIED' });
      expect(cell('admin | DELETE blob | secret/app')).toEqual({ status: 202 });
      expect(cell('wrong password | GET /v2/')).toEqual({ status: 401, code: 'UNAUTHORIZED', challenge: 'Basic realm="berth-test"' });
      expect(cell('unknown user | GET manifest by tag | team/app')).toEqual({ status: 401, code: 'UNAUTHORIZED', challenge: 'Basic realm="berth-test"' });
    } else {
      const realm = 'Bearer realm="http://auth.test/token",service="registry.test"';
      expect(cell('no token | GET /v2/')).toEqual({ status: 401, code: 'UNAUTHORIZED', challenge: realm });
      expect(cell('no token | GET manifest by tag | public/app')).toEqual({
        status: 401,
        code: 'UNAUTHORIZED',
        challenge: `${realm},scope="repository:public/app:pull"`,
      });
      expect(cell('no token | POST mount | writer/app')).toEqual({
        status: 401,
        code: 'UNAUTHORIZED',
        challenge: `${realm},scope="repository:writer/app:pull,push repository:team/app:pull"`,
      });
      expect(cell('no token | GET /v2/_catalog')).toEqual({ status: 401, code: 'UNAUTHORIZED', challenge: `${realm},scope="registry:catalog:*"` });
      expect(cell('reader token | GET /v2/')).toEqual({ status: 200 });
      expect(cell('reader token | PUT manifest | team/app')).toEqual({
        status: 401,
        code: 'UNAUTHORIZED',
        challenge: `${realm},scope="repository:team/app:pull,push",error="insufficient_scope"`,
      });
      expect(cell('writer token | POST mount | writer/app')).toEqual({ status: 201, location: 'blob' });
      expect(cell('writer token | DELETE blob | writer/app')).toEqual({ status: 202 });
      expect(cell('admin token | GET /v2/_catalog')).toEqual({ status: 200, repositories: REPOSITORIES });
      expect(cell('token for another repository | GET blob | public/app')).toEqual({
        status: 401,
        code: 'UNAUTHORIZED',
        challenge: `${realm},scope="repository:public/app:pull",error="insufficient_scope"`,
      });
      expect(cell('alg none | GET manifest by tag | team/app')).toEqual({
        status: 401,
        code: 'UNAUTHORIZED',
        challenge: `${realm},scope="repository:team/app:pull",error="invalid_token"`,
      });
      expect(cell('expired token | GET /v2/')).toEqual({ status: 401, code: 'UNAUTHORIZED', challenge: `${realm},error="invalid_token"` });
      expect(cell('refresh token as Bearer | DELETE manifest by digest | team/app')).toEqual({
        status: 401,
        code: 'UNAUTHORIZED',
        challenge: `${realm},scope="repository:team/app:delete",error="invalid_token"`,
      });
    }
  }, 60_000);

  it('answers a repository the caller may not pull the same whether it, or what is asked for, exists or not', async () => {
    const secret = seeds.get('secret/app')!;
    const unknownDigest = sha256('never pushed anywhere');
    const asks: Array<{ label: string; need: 'pull'; path: (repository: string, known: boolean) => string; head?: boolean }> = [
      { label: 'manifest by tag', need: 'pull', path: (r, known) => `/v2/${r}/manifests/${known ? 'latest' : 'no-such-tag'}` },
      { label: 'manifest by tag (HEAD)', need: 'pull', head: true, path: (r, known) => `/v2/${r}/manifests/${known ? 'latest' : 'no-such-tag'}` },
      { label: 'manifest by digest', need: 'pull', path: (r, known) => `/v2/${r}/manifests/${known ? secret.image.digest : unknownDigest}` },
      { label: 'manifest by digest (HEAD)', need: 'pull', head: true, path: (r, known) => `/v2/${r}/manifests/${known ? secret.image.digest : unknownDigest}` },
      { label: 'blob', need: 'pull', path: (r, known) => `/v2/${r}/blobs/${known ? secret.image.layers[0] : unknownDigest}` },
      { label: 'blob (HEAD)', need: 'pull', head: true, path: (r, known) => `/v2/${r}/blobs/${known ? secret.image.layers[0] : unknownDigest}` },
      { label: 'tags', need: 'pull', path: (r) => `/v2/${r}/tags/list` },
      { label: 'referrers', need: 'pull', path: (r, known) => `/v2/${r}/referrers/${known ? secret.image.digest : unknownDigest}` },
    ];
    const callers = (mode === 'basic' ? basicIdentities() : tokenIdentities(t)).filter(
      (identity) => identity.rights !== 'refused' && identity.rights !== 'nobody' && !rulesAllow(identity.rights, 'secret/app', ['pull']),
    );
    expect(callers.map((caller) => caller.label)).toEqual(
      mode === 'basic' ? ['anonymous', 'reader', 'writer'] : ['no token', 'reader token', 'writer token'],
    );
    for (const caller of callers) {
      for (const ask of asks) {
        const answers = [];
        // The repository with what is asked for, the repository without it, and a repository that does not exist.
        for (const [repository, known] of [['secret/app', true], ['secret/app', false], ['secret/never-created', true]] as const) {
          const authorization = await caller.authorization(neededScopes(ask.need, repository));
          const test = ask.head ? t.http.head(ask.path(repository, known)) : t.http.get(ask.path(repository, known));
          if (authorization !== undefined) test.set('Authorization', authorization);
          const response = await test;
          answers.push({
            status: response.status,
            challenge: (response.headers['www-authenticate'] as string | undefined)?.replaceAll(repository, '<repository>'),
            contentType: response.headers['content-type'],
            contentLength: response.headers['content-length'],
            digest: response.headers['docker-content-digest'],
            body: response.text,
          });
        }
        const label = `${caller.label} | ${ask.label}`;
        expect.soft(answers[0]!.status, label).toBe(mode === 'basic' && caller.rights !== 'anonymous' ? 403 : 401);
        expect.soft(answers[1], `${label}: unknown reference`).toEqual(answers[0]);
        expect.soft(answers[2], `${label}: unknown repository`).toEqual(answers[0]);
      }
    }
  });
});
