import { randomBytes } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import type request from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSignInLimiter } from '@berth/auth';
import { RegistryError, type AccessDecision, type Authorize } from '../src/index.js';
import { OCI_MANIFEST, expectError, pushBlob, pushImage, sha256 } from './support/content.js';
import {
  ACCESS_RULES,
  BASIC_REALM,
  PASSWORDS,
  SERVICE,
  TOKEN_REALM,
  basic,
  openAccessRegistry,
  type AccessMode,
  type AccessRegistry,
  type UserName,
} from './support/access-registry.js';

/** The Authorization header of a user for a request needing `scopes`: Basic, or a token fetched for exactly them. */
function signedIn(t: AccessRegistry, mode: AccessMode) {
  return async (user: UserName, scopes: string[]): Promise<string> =>
    mode === 'basic' ? basic(user, PASSWORDS[user]) : `Bearer ${(await t.token(user, scopes)).token}`;
}

const pushScope = (repository: string) => `repository:${repository}:pull,push`;
const pullScope = (repository: string) => `repository:${repository}:pull`;

describe.each(['basic', 'token'] as const)('mounts tell nothing of repositories the caller may not pull, %s mode', (mode) => {
  let t: AccessRegistry;
  let as: ReturnType<typeof signedIn>;
  /** In secret/app only. */
  let secret: string;
  /** In secret/app and public/app. */
  let shared: string;
  const nowhere = sha256('a blob nobody pushed');

  beforeAll(async () => {
    t = await openAccessRegistry({ mode, tokenAccess: ACCESS_RULES });
    as = signedIn(t, mode);
    secret = await pushBlob(t.backdoor, 'secret/app', randomBytes(40));
    const sharedBytes = randomBytes(40);
    shared = await pushBlob(t.backdoor, 'secret/app', sharedBytes);
    await pushBlob(t.backdoor, 'public/app', sharedBytes);
  });
  afterAll(async () => t.close());

  /** A mount that fell back to a plain upload: 202 with the upload's headers, nothing about the blob. */
  function expectPlainUpload(response: request.Response, repository: string): void {
    expect(response.status).toBe(202);
    expect(response.headers['location']).toMatch(new RegExp(`^/v2/${repository}/blobs/uploads/[0-9a-f-]{36}$`));
    expect(response.headers['range']).toBe('0-0');
    expect(response.headers['docker-upload-uuid']).toBe((response.headers['location'] as string).split('/').pop());
    expect(response.headers['docker-content-digest']).toBeUndefined();
  }

  /** A mount by `user`, whose token (token mode) is for the scopes the challenge names, plus `alsoPull`. */
  async function mount(user: UserName, repository: string, digest: string, from?: string, alsoPull: string[] = []): Promise<request.Response> {
    const scopes = [pushScope(repository), ...[...(from === undefined ? [] : [from]), ...alsoPull].map(pullScope)];
    const query = from === undefined ? `mount=${digest}` : `mount=${digest}&from=${from}`;
    return t.http.post(`/v2/${repository}/blobs/uploads/?${query}`).set('Authorization', await as(user, scopes));
  }

  it('starts a plain upload when the caller may not pull `from`, exactly as for a blob that is nowhere', async () => {
    const before = await t.snapshot();
    const leaked = await mount('writer', 'writer/app', secret, 'secret/app');
    expectPlainUpload(leaked, 'writer/app');
    const absent = await mount('writer', 'writer/app', nowhere, 'secret/app');
    expectPlainUpload(absent, 'writer/app');
    expect(Object.keys(leaked.headers).sort()).toEqual(Object.keys(absent.headers).sort());
    expect(await t.metadata.blobLink('writer/app', secret)).toBeUndefined();
    const head = await t.http.head(`/v2/writer/app/blobs/${secret}`).set('Authorization', await as('writer', [pullScope('writer/app')]));
    expectError(head, 404, 'BLOB_UNKNOWN');
    // Only the two upload sessions were added.
    const after = await t.snapshot();
    expect(after.tables['blob_links']).toEqual(before.tables['blob_links']);
    expect(after.tables['upload_sessions']!.length).toBe(before.tables['upload_sessions']!.length + 2);
  });

  it('does not mount automatically (no `from`) from a repository the caller may not pull', async () => {
    expectPlainUpload(await mount('writer', 'writer/app', secret), 'writer/app');
    expect(await t.metadata.blobLink('writer/app', secret)).toBeUndefined();
    expectPlainUpload(await mount('writer', 'writer/app', nowhere), 'writer/app');
    // A blob that is also somewhere the caller may pull is mounted from there; with tokens, only when the token
    // lets it pull there (a token holds only the scopes asked for, and an automatic mount names no source).
    if (mode === 'token') expectPlainUpload(await mount('writer', 'writer/app', shared), 'writer/app');
    const fromPublic = await mount('writer', 'writer/app', shared, undefined, mode === 'token' ? ['public/app', 'secret/app'] : []);
    expect(fromPublic.status).toBe(201);
    expect(fromPublic.headers['location']).toBe(`/v2/writer/app/blobs/${shared}`);
  });

  it('mounts for a caller who may pull `from`, with or without naming it', async () => {
    const named = await mount('admin', 'admin/app', secret, 'secret/app');
    expect(named.status).toBe(201);
    expect(named.headers['location']).toBe(`/v2/admin/app/blobs/${secret}`);
    expect(named.headers['docker-content-digest']).toBe(secret);
    await t.metadata.unlinkBlob('admin/app', secret);
    if (mode === 'token') expectPlainUpload(await mount('admin', 'admin/app', secret), 'admin/app');
    const automatic = await mount('admin', 'admin/app', secret, undefined, mode === 'token' ? ['secret/app'] : []);
    expect(automatic.status).toBe(201);
    expect(automatic.headers['location']).toBe(`/v2/admin/app/blobs/${secret}`);
  });

  it('challenges a first unauthenticated mount naming the target and `from`', async () => {
    const before = await t.snapshot();
    const response = await t.http.post(`/v2/writer/app/blobs/uploads/?mount=${secret}&from=secret/app`);
    expectError(response, 401, 'UNAUTHORIZED');
    expect(response.headers['www-authenticate']).toBe(
      mode === 'basic'
        ? `Basic realm="${BASIC_REALM}"`
        : `Bearer realm="${TOKEN_REALM}",service="${SERVICE}",scope="repository:writer/app:pull,push repository:secret/app:pull"`,
    );
    expect(await t.snapshot()).toEqual(before);
  });
});

describe('mounts with a hook that refuses by throwing (the single-repository shape)', () => {
  let t: AccessRegistry;
  let secret: string;
  beforeAll(async () => {
    // Allows everything but secret/**, judged on `repository` alone, as hooks written before scopes were.
    const hook: Authorize = (_ctx, { repository }) => {
      if (repository?.startsWith('secret/')) throw new RegistryError('DENIED');
    };
    t = await openAccessRegistry({ mode: 'hook', authorize: hook });
    secret = await pushBlob(t.backdoor, 'secret/app', randomBytes(40));
  });
  afterAll(async () => t.close());

  it('refuses what the hook refuses', async () => {
    expectError(await t.http.get(`/v2/secret/app/blobs/${secret}`), 403, 'DENIED');
    await t.http.get(`/v2/mine/app/tags/list`).expect(404);
  });

  it('does not mount automatically from a repository the hook refuses, and answers as for a blob that is nowhere', async () => {
    const response = await t.http.post(`/v2/mine/app/blobs/uploads/?mount=${secret}`);
    expect(response.status).toBe(202);
    expect(response.headers['location']).toMatch(/^\/v2\/mine\/app\/blobs\/uploads\//);
    expect(await t.metadata.blobLink('mine/app', secret)).toBeUndefined();
    expect((await t.http.post(`/v2/mine/app/blobs/uploads/?mount=${sha256('nowhere')}`)).status).toBe(202);
  });

  // A hook that allows by returning nothing was shown the target (`repository`): it is asked about `from` on its own.
  it('does not mount from a repository the hook refuses when `from` names it: a plain upload', async () => {
    const response = await t.http.post(`/v2/other/app/blobs/uploads/?mount=${secret}&from=secret/app`);
    expect(await t.metadata.blobLink('other/app', secret)).toBeUndefined();
    expect(response.status).toBe(202);
    expect(response.headers['location']).toMatch(/^\/v2\/other\/app\/blobs\/uploads\//);
  });
});

describe.each(['basic', 'token'] as const)('the catalog lists what the caller may pull, %s mode', (mode) => {
  let t: AccessRegistry;
  let as: ReturnType<typeof signedIn>;
  const names = ['aaa/x', 'zzz/y'];
  for (let i = 0; i < 6; i++) names.push(`public/p${i}`, `secret/s${i}`, `team/t${i}`, `writer/w${i}`);
  const all = [...names].sort();

  beforeAll(async () => {
    t = await openAccessRegistry({ mode, tokenAccess: ACCESS_RULES });
    as = signedIn(t, mode);
    for (const name of names) await pushBlob(t.backdoor, name, Buffer.from(name));
  });
  afterAll(async () => t.close());

  /** Follows `Link` from the first page of `n`, checking that every page but the last is full. */
  async function pages(authorization: string, n: number): Promise<string[][]> {
    const result: string[][] = [];
    let next: string | undefined = `/v2/_catalog?n=${n}`;
    while (next !== undefined) {
      const response = await t.http.get(next).set('Authorization', authorization).expect(200);
      const page = response.body.repositories as string[];
      result.push(page);
      const link = response.headers['link'] as string | undefined;
      if (link === undefined) break;
      const last = page[page.length - 1]!;
      expect(page).toHaveLength(n);
      expect(link).toBe(`</v2/_catalog?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`);
      next = /^<([^>]+)>; rel="next"$/.exec(link)![1];
      expect(result.length).toBeLessThan(30);
    }
    return result;
  }

  const byRule: Record<'reader' | 'writer' | 'admin', string[]> = {
    reader: all.filter((name) => name.startsWith('public/') || name.startsWith('team/')),
    writer: all.filter((name) => name.startsWith('public/') || name.startsWith('team/') || name.startsWith('writer/')),
    admin: all,
  };

  it.each(mode === 'basic' ? (['reader', 'writer', 'admin'] as const) : (['admin'] as const))(
    'lists for %s only the repositories the rules let them pull, in full pages with a Link',
    async (user) => {
      const authorization = await as(user, ['registry:catalog:*']);
      const whole = await t.http.get('/v2/_catalog').set('Authorization', authorization).expect(200);
      expect(whole.body.repositories).toEqual(byRule[user]);
      expect(whole.headers['link']).toBeUndefined();
      for (const n of [1, 5, byRule[user].length, byRule[user].length - 1]) {
        const paged = await pages(authorization, n);
        expect(paged.flat()).toEqual(byRule[user]);
        expect(paged).toHaveLength(Math.ceil(byRule[user].length / n));
      }
    },
  );

  if (mode === 'basic') {
    it('asks anonymous callers to sign in', async () => {
      const response = await t.http.get('/v2/_catalog');
      expectError(response, 401, 'UNAUTHORIZED');
      expect(response.headers['www-authenticate']).toBe(`Basic realm="${BASIC_REALM}"`);
    });
  } else {
    it('lists, for a token without registry:catalog:*, what its repository scopes let it pull', async () => {
      const catalogOnly = await as('writer', ['registry:catalog:*']);
      expect((await t.http.get('/v2/_catalog').set('Authorization', catalogOnly).expect(200)).body.repositories).toEqual([]);
      // The token service narrows the asked scopes to the rules: secret/s1 is dropped, team/t1 and writer/w2 stay.
      const some = await as('writer', ['registry:catalog:*', pullScope('team/t1'), pullScope('secret/s1'), pullScope('writer/w2')]);
      const response = await t.http.get('/v2/_catalog?n=1').set('Authorization', some).expect(200);
      expect(response.body.repositories).toEqual(['team/t1']);
      expect(response.headers['link']).toBe('</v2/_catalog?n=1&last=team%2Ft1>; rel="next"');
      const rest = await t.http.get('/v2/_catalog?n=1&last=team%2Ft1').set('Authorization', some).expect(200);
      expect(rest.body.repositories).toEqual(['writer/w2']);
      expect(rest.headers['link']).toBeUndefined();
    });

    it('challenges a catalog request without a token for registry:catalog:*', async () => {
      const response = await t.http.get('/v2/_catalog');
      expectError(response, 401, 'UNAUTHORIZED');
      expect(response.headers['www-authenticate']).toBe(`Bearer realm="${TOKEN_REALM}",service="${SERVICE}",scope="registry:catalog:*"`);
    });
  }
});

/** A RegistryError as a second copy of @berth/core would make it: another class, the same registry-wide brand. */
const BRAND = Symbol.for('@berth/core.RegistryError');
class SecondCopyRegistryError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly headers: Record<string, string> = {},
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
  toJSON() {
    return { errors: [{ code: this.code, message: this.message, ...(this.detail !== undefined && { detail: this.detail }) }] };
  }
}

describe('plain authorize hooks (compatibility)', () => {
  let t: AccessRegistry;
  let hook: Authorize = () => undefined;
  /** What the host's own sign-in puts on ctx.state.user for the next request. */
  let hostUser: unknown;

  beforeAll(async () => {
    const hostSignIn: Middleware = async (ctx, next) => {
      if (hostUser !== undefined) ctx.state['user'] = hostUser;
      await next();
      // After the registry answered: what it took the caller for.
      ctx.set('X-Principal', JSON.stringify(ctx.state['principal'] ?? null));
    };
    t = await openAccessRegistry({ mode: 'hook', authorize: (ctx, request) => hook(ctx, request), before: [hostSignIn] });
    await pushImage(t.backdoor, 'app', 'latest');
  });
  afterAll(async () => t.close());
  beforeEach(() => {
    hook = () => undefined;
    hostUser = undefined;
  });

  /** The spec's error body, exactly, and nothing stored changed. */
  async function expectRefused(send: () => request.Test, status: number, code: string, message: string): Promise<request.Response> {
    const before = await t.snapshot();
    const response = await send();
    expectError(response, status, code);
    expect(JSON.parse(response.text)).toEqual({ errors: [{ code, message }] });
    expect(await t.snapshot()).toEqual(before);
    return response;
  }

  const putManifest = () => t.http.put('/v2/app/manifests/next').set('Content-Type', OCI_MANIFEST).send('{}');

  it('answers a thrown RegistryError DENIED with 403 DENIED', async () => {
    hook = () => {
      throw new RegistryError('DENIED');
    };
    const response = await expectRefused(() => t.http.get('/v2/app/manifests/latest'), 403, 'DENIED', 'requested access to the resource is denied');
    expect(response.headers['www-authenticate']).toBeUndefined();
    await expectRefused(putManifest, 403, 'DENIED', 'requested access to the resource is denied');
  });

  it('answers ctx.throw(401, …, { headers }) with 401 UNAUTHORIZED and the header kept', async () => {
    hook = (ctx) => ctx.throw(401, 'no', { headers: { 'WWW-Authenticate': 'Basic realm="x"' } });
    const response = await expectRefused(putManifest, 401, 'UNAUTHORIZED', 'no');
    expect(response.headers['www-authenticate']).toBe('Basic realm="x"');
    const head = await t.http.head('/v2/app/manifests/latest');
    expectError(head, 401, 'UNAUTHORIZED');
    expect(head.headers['www-authenticate']).toBe('Basic realm="x"');
  });

  it('answers ctx.throw(429, …, { headers }) with 429 TOOMANYREQUESTS and Retry-After', async () => {
    hook = (ctx) => ctx.throw(429, 'slow down', { headers: { 'Retry-After': '7' } });
    const response = await expectRefused(() => t.http.post('/v2/app/blobs/uploads/'), 429, 'TOOMANYREQUESTS', 'slow down');
    expect(response.headers['retry-after']).toBe('7');
  });

  it('answers ctx.throw(403) with 403 DENIED', async () => {
    hook = (ctx) => ctx.throw(403, 'not yours');
    await expectRefused(() => t.http.delete('/v2/app/manifests/latest'), 403, 'DENIED', 'not yours');
  });

  it('renders a RegistryError of a second copy of the class with its code, status and headers', async () => {
    hook = () => {
      throw new SecondCopyRegistryError('TOOMANYREQUESTS', 'from the other copy', 429, { 'Retry-After': '3' });
    };
    const response = await expectRefused(() => t.http.get('/v2/app/tags/list'), 429, 'TOOMANYREQUESTS', 'from the other copy');
    expect(response.headers['retry-after']).toBe('3');
    expect(new SecondCopyRegistryError('DENIED', 'x', 403) instanceof RegistryError).toBe(true);
  });

  it('renders an Object.create-made error carrying the brand with its code', async () => {
    hook = () => {
      const error = Object.create(SecondCopyRegistryError.prototype) as SecondCopyRegistryError;
      Object.assign(error, { code: 'DENIED', message: 'made without the constructor', status: 403, headers: {}, detail: undefined });
      Object.defineProperty(error, BRAND, { value: true });
      throw error;
    };
    await expectRefused(() => t.http.get('/v2/app/manifests/latest'), 403, 'DENIED', 'made without the constructor');
  });

  it('allows everything when the hook returns nothing', async () => {
    hook = () => undefined;
    const image = await pushImage(t.http, 'app', 'v2');
    await t.http.get(`/v2/app/manifests/${image.digest}`).expect(200);
    await t.http.delete(`/v2/app/manifests/v2`).expect(202);
    expect((await t.http.get('/v2/_catalog').expect(200)).body.repositories).toEqual(['app']);
  });

  it('narrows to the scopes a hook returns', async () => {
    // Pull only, wherever asked.
    hook = (_ctx, request) =>
      request.scopes.flatMap((scope) =>
        scope.type === 'repository' && scope.actions.includes('pull') ? [{ ...scope, actions: ['pull' as const] }] : [],
      );
    await t.http.get('/v2/app/manifests/latest').set('Accept', OCI_MANIFEST).expect(200);
    await t.http.get('/v2/app/tags/list').expect(200);
    // Anonymous (nobody on ctx.state.user): 401 without a challenge of berth's own; signed in: 403.
    const anonymous = await expectRefused(putManifest, 401, 'UNAUTHORIZED', 'authentication required');
    expect(anonymous.headers['www-authenticate']).toBeUndefined();
    hostUser = { name: 'alice' };
    await expectRefused(putManifest, 403, 'DENIED', 'requested access to the resource is denied');
    await expectRefused(() => t.http.delete('/v2/app/manifests/latest'), 403, 'DENIED', 'requested access to the resource is denied');
    await expectRefused(() => t.http.post('/v2/app/blobs/uploads/'), 403, 'DENIED', 'requested access to the resource is denied');
    // The catalog scope was not returned: the catalog lists what the hook lets the caller pull.
    expect((await t.http.get('/v2/_catalog').expect(200)).body.repositories).toEqual(['app']);
  });

  it('uses the refusal of an AccessDecision', async () => {
    hook = (): AccessDecision => ({
      principal: { kind: 'user', name: 'carol' },
      granted: [],
      refuse: (needed) => new RegistryError('DENIED', `needs ${needed.map((scope) => `${scope.name}:${scope.actions.join(',')}`).join(' ')}`),
    });
    const response = await expectRefused(() => t.http.post('/v2/app/blobs/uploads/'), 403, 'DENIED', 'needs app:pull,push');
    expect(JSON.parse(response.headers['x-principal'] as string)).toEqual({ kind: 'user', name: 'carol' });
  });

  it.each([
    ['a string', 'alice', { kind: 'user', name: 'alice' }],
    ['an object with name', { name: 'bob' }, { kind: 'user', name: 'bob' }],
    ['an object with username', { username: 'carol' }, { kind: 'user', name: 'carol' }],
    ['an object with a numeric id', { id: 42 }, { kind: 'user', name: '42' }],
    ['nothing', undefined, { kind: 'anonymous' }],
  ])('takes the principal from ctx.state.user set by the host (%s) and leaves it on ctx.state.principal', async (_label, user, principal) => {
    hostUser = user;
    let seen: unknown;
    hook = (ctx: Context) => {
      seen = ctx.state['user'];
    };
    const response = await t.http.get('/v2/app/tags/list').expect(200);
    expect(seen).toEqual(user);
    expect(JSON.parse(response.headers['x-principal'] as string)).toEqual(principal);
  });
});

describe('sign-in limit', () => {
  let t: AccessRegistry;
  beforeEach(async () => {
    // The limiter as shipped (10 failures per account and address within a minute), shared by Basic and the token service.
    t = await openAccessRegistry({ mode: 'basic', limiter: createSignInLimiter() });
    t.app.proxy = true; // so X-Forwarded-For gives each request its address
  });
  afterEach(async () => t.close());

  const from = (address: string, authorization: string) => t.http.get('/v2/').set('X-Forwarded-For', address).set('Authorization', authorization);

  it('makes an account wait after 10 wrong passwords from one address, even with the right one', async () => {
    for (let attempt = 1; attempt <= 10; attempt++) {
      const response = await from('203.0.113.7', basic('alice', `guess-${attempt}`));
      expectError(response, 401, 'UNAUTHORIZED');
      expect(response.headers['www-authenticate']).toBe(`Basic realm="${BASIC_REALM}"`);
    }
    const blocked = await from('203.0.113.7', basic('alice', PASSWORDS.alice));
    expectError(blocked, 429, 'TOOMANYREQUESTS');
    const retryAfter = Number(blocked.headers['retry-after']);
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
    // Still blocked for the registry's other endpoints.
    expectError(await t.http.get('/v2/public/app/tags/list').set('X-Forwarded-For', '203.0.113.7').set('Authorization', basic('alice', PASSWORDS.alice)), 429, 'TOOMANYREQUESTS');

    // Another account from the same address, and the same account from another address, are unaffected.
    await from('203.0.113.7', basic('bob', PASSWORDS.bob)).expect(200);
    expectError(await from('203.0.113.7', basic('bob', 'wrong')), 401, 'UNAUTHORIZED');
    await from('198.51.100.1', basic('alice', PASSWORDS.alice)).expect(200);
  });

  it('forgets the failures of an account that signs in before reaching the limit', async () => {
    for (let attempt = 1; attempt <= 9; attempt++) expectError(await from('203.0.113.7', basic('alice', 'wrong')), 401, 'UNAUTHORIZED');
    await from('203.0.113.7', basic('alice', PASSWORDS.alice)).expect(200);
    for (let attempt = 1; attempt <= 9; attempt++) expectError(await from('203.0.113.7', basic('alice', 'wrong')), 401, 'UNAUTHORIZED');
    await from('203.0.113.7', basic('alice', PASSWORDS.alice)).expect(200);
  });
});

describe('token service, as far as token mode needs it', () => {
  let t: AccessRegistry;
  beforeAll(async () => {
    t = await openAccessRegistry({ mode: 'token', tokenAccess: ACCESS_RULES });
  });
  afterAll(async () => t.close());

  it('issues tokens narrowed to the rules that the registry accepts', async () => {
    const { token } = await t.token('reader', ['repository:team/app:pull,push']);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
    expect(claims).toMatchObject({ sub: 'reader', aud: SERVICE, access: [{ type: 'repository', name: 'team/app', actions: ['pull'] }] });
    await t.http.get('/v2/').set('Authorization', `Bearer ${token}`).expect(200);
  });

  it('refuses a wrong password with 401 and no token', async () => {
    const response = await t.http.get(`/token?service=${SERVICE}&scope=repository:team/app:pull`).set('Authorization', basic('reader', 'wrong'));
    expectError(response, 401, 'UNAUTHORIZED');
    expect(response.text).not.toContain('token":');
  });
});
