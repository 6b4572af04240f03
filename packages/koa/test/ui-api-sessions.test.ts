// Sign-in sessions of the web UI's API: cookie flags, CSRF, expiry, sign-out, the sign-in limiter, sessions
// across instances, the external token service (no sign-in), a host's own principal, and a mount prefix.
import { join } from 'node:path';
import Koa from 'koa';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSignInLimiter, openHtpasswd } from '@berth/auth';
import { basicAuth, createRegistry, principalFromState } from '../src/index.js';
import { ACCESS_RULES, PASSWORDS, openAccessRegistry, writeHtpasswd, type AccessRegistry, type Http } from './support/access-registry.js';
import { seedRepository } from './support/access-fixtures.js';

const json = (body: unknown) => JSON.stringify(body);

/** Not async: awaiting a supertest request sends it, and the caller may still add `.expect()`. */
function signIn(http: Http, user: keyof typeof PASSWORDS, password: string = PASSWORDS[user]) {
  return http.post('/api/session').set('Content-Type', 'application/json').send(json({ username: user, password }));
}

/** The cookie as a browser sends it back (name=value) and its attributes, lower-cased. */
function sessionCookie(response: request.Response): { pair: string; attributes: string[] } {
  const header = (response.headers['set-cookie'] as unknown as string[] | undefined)?.find((cookie) => cookie.startsWith('berth_session='));
  if (!header) throw new Error(`no session cookie in ${JSON.stringify(response.headers)}`);
  const [pair, ...attributes] = header.split(';').map((part) => part.trim());
  return { pair: pair!, attributes: attributes.map((attribute) => attribute.toLowerCase()) };
}

describe('web UI sessions (basic sign-in)', { timeout: 30_000 }, () => {
  let t: AccessRegistry;

  beforeAll(async () => {
    t = await openAccessRegistry({ mode: 'basic', ui: { assets: false } });
    t.app.proxy = true;
    await seedRepository(t.backdoor, 'team/app');
  }, 60_000);
  afterAll(() => t.close());

  it('says sign-in is available and nobody is signed in', async () => {
    const response = await t.http.get('/api/session').expect(200);
    expect(response.body).toEqual({ user: null, csrfToken: null, signIn: { available: true } });
  });

  it('signs in with an HttpOnly, SameSite=Strict cookie for the prefix, Secure only under TLS, with an expiry', async () => {
    const response = await signIn(t.http, 'reader');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ user: 'reader', csrfToken: expect.stringMatching(/^[\w-]{20,}$/) });
    const { attributes } = sessionCookie(response);
    expect(attributes).toEqual(expect.arrayContaining(['httponly', 'samesite=strict', 'path=/']));
    expect(attributes.some((attribute) => attribute.startsWith('expires='))).toBe(true);
    expect(attributes).not.toContain('secure');
    // Behind a TLS-terminating proxy the app trusts (app.proxy), the browser is told to send it over TLS only.
    const secure = await t.http.post('/api/session').set('X-Forwarded-Proto', 'https').set('Content-Type', 'application/json').send(json({ username: 'reader', password: PASSWORDS.reader }));
    expect(sessionCookie(secure).attributes).toContain('secure');
    // The password is nowhere in what comes back.
    expect(JSON.stringify(response.headers) + response.text).not.toContain(PASSWORDS.reader);
  });

  it('refuses a wrong password with 401 and no cookie, and no Basic challenge', async () => {
    const response = await signIn(t.http, 'reader', 'wrong');
    expect(response.status).toBe(401);
    expect(response.body.errors[0].code).toBe('UNAUTHORIZED');
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(response.headers['www-authenticate']).toBeUndefined();
  });

  it('refuses a sign-in that is not JSON', async () => {
    const response = await t.http.post('/api/session').type('form').send({ username: 'reader', password: PASSWORDS.reader });
    expect(response.status).toBe(415);
    expect(response.headers['set-cookie']).toBeUndefined();
  });

  it('needs the CSRF token for every change made with the session: missing or wrong, 403 and nothing changes', async () => {
    const session = await signIn(t.http, 'admin');
    const { pair } = sessionCookie(session);
    const csrfToken = session.body.csrfToken as string;
    expect((await t.http.get('/api/session').set('Cookie', pair)).body).toEqual({ user: 'admin', csrfToken, signIn: { available: true } });
    const before = await t.snapshot();
    for (const token of [undefined, 'not-the-token', csrfToken.slice(1)]) {
      const attempt = t.http.delete('/api/tag?repository=team/app&tag=gone').set('Cookie', pair);
      if (token !== undefined) attempt.set('X-CSRF-Token', token);
      const response = await attempt;
      expect(response.status, `token ${token}`).toBe(403);
      expect(response.body.errors[0].code).toBe('DENIED');
    }
    expect(await t.snapshot()).toEqual(before);
    // Another session's token is not this one's.
    const other = await signIn(t.http, 'admin');
    const crossed = await t.http.delete('/api/tag?repository=team/app&tag=gone').set('Cookie', pair).set('X-CSRF-Token', other.body.csrfToken);
    expect(crossed.status).toBe(403);
    await t.http.delete('/api/tag?repository=team/app&tag=gone').set('Cookie', pair).set('X-CSRF-Token', csrfToken).expect(204);
    expect(await t.http.get('/api/tags?repository=team/app&q=gone').set('Cookie', pair).then((response) => response.body.tags)).toEqual([]);
  });

  it('signs out: the cookie is cleared, and a sign-out without the CSRF token is refused', async () => {
    const session = await signIn(t.http, 'reader');
    const { pair } = sessionCookie(session);
    await t.http.delete('/api/session').set('Cookie', pair).expect(403);
    const out = await t.http.delete('/api/session').set('Cookie', pair).set('X-CSRF-Token', session.body.csrfToken).expect(204);
    const cleared = sessionCookie(out);
    expect(cleared.pair).toBe('berth_session=');
    expect(cleared.attributes).toContain('expires=thu, 01 jan 1970 00:00:00 gmt');
    expect((await t.http.get('/api/session').set('Cookie', cleared.pair)).body.user).toBeNull();
  });

  it('ignores a forged or tampered cookie (the request is anonymous)', async () => {
    const session = await signIn(t.http, 'reader');
    const { pair } = sessionCookie(session);
    const [, body, mac] = pair.slice('berth_session='.length).split('.');
    const claims = JSON.parse(Buffer.from(body!, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = `berth_session=v1.${Buffer.from(json({ ...claims, u: 'admin' })).toString('base64url')}.${mac}`;
    expect((await t.http.get('/api/session').set('Cookie', forged)).body.user).toBeNull();
    expect((await t.http.get('/api/tags?repository=team/app').set('Cookie', forged)).status).toBe(401);
  });

  it('works on another instance over the same metadata store (the key is kept there)', async () => {
    const session = await signIn(t.http, 'reader');
    const htpasswd = await openHtpasswd(join(t.dir, 'users.htpasswd'));
    const other = createRegistry({ metadata: t.metadata, blobs: t.blobs, authorize: basicAuth({ htpasswd, access: ACCESS_RULES }) });
    const app = new Koa().use(other.ui({ assets: false }));
    const response = await request(app.callback()).get('/api/tags?repository=team/app').set('Cookie', sessionCookie(session).pair);
    expect(response.status).toBe(200);
    expect(response.body.canDelete).toBe(false);
  });
});

describe('web UI session expiry and the sign-in limiter', { timeout: 30_000 }, () => {
  let t: AccessRegistry;

  beforeAll(async () => {
    t = await openAccessRegistry({ mode: 'basic', ui: { assets: false, sessionTtlSeconds: 1 }, limiter: createSignInLimiter({ maxFailures: 2 }) });
    await seedRepository(t.backdoor, 'team/app');
  }, 60_000);
  afterAll(() => t.close());

  it('ends a session at its expiry: the request is anonymous again', async () => {
    const session = await signIn(t.http, 'reader');
    const { pair, attributes } = sessionCookie(session);
    expect(attributes.some((attribute) => attribute.startsWith('max-age=1') || attribute.startsWith('expires='))).toBe(true);
    expect((await t.http.get('/api/tags?repository=team/app').set('Cookie', pair)).status).toBe(200);
    // The browser would drop the cookie itself; one sent anyway after the expiry is refused by the server.
    const expiresAt = Date.now() + 1000;
    while (Date.now() <= expiresAt) await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await t.http.get('/api/session').set('Cookie', pair)).body.user).toBeNull();
    expect((await t.http.get('/api/tags?repository=team/app').set('Cookie', pair)).status).toBe(401);
  });

  it("ends a user's sessions when their password changes", async () => {
    const session = await signIn(t.http, 'alice');
    const { pair } = sessionCookie(session);
    expect((await t.http.get('/api/session').set('Cookie', pair)).body.user).toBe('alice');
    await writeHtpasswd(join(t.dir, 'users.htpasswd'), { ...PASSWORDS, alice: 'a-new-password' });
    // The htpasswd file is re-read when it changes (checked at most once a second): wait for that, then the session is over.
    let user: unknown = 'alice';
    for (let tries = 0; tries < 100 && user !== null; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      user = (await t.http.get('/api/session').set('Cookie', pair)).body.user;
    }
    expect(user).toBeNull();
    expect((await t.http.get('/api/tags?repository=alice/app').set('Cookie', pair)).status).toBe(401);
    expect((await signIn(t.http, 'alice', 'a-new-password')).status).toBe(200);
  });

  it('applies the sign-in limiter: 429 after too many failures, even with the right password', async () => {
    await signIn(t.http, 'writer', 'wrong').expect(401);
    await signIn(t.http, 'writer', 'wrong').expect(401);
    const blocked = await signIn(t.http, 'writer');
    expect(blocked.status).toBe(429);
    expect(blocked.body.errors[0].code).toBe('TOOMANYREQUESTS');
    expect(blocked.headers['retry-after']).toMatch(/^\d+$/);
    expect(blocked.headers['set-cookie']).toBeUndefined();
  });
});

// Each test opens a registry of its own (bcrypt users, an RSA token key): slow on a loaded machine.
describe('web UI with token sign-in', { timeout: 60_000 }, () => {
  it('an external token service: no sign-in, with the reason', async () => {
    const t = await openAccessRegistry({ mode: 'token', ui: { assets: false } });
    try {
      expect((await t.http.get('/api/session').expect(200)).body).toEqual({
        user: null,
        csrfToken: null,
        signIn: { available: false, reason: 'signed in by an external token service' },
      });
      const attempt = await signIn(t.http, 'reader');
      expect(attempt.status).toBe(404);
      expect(attempt.headers['set-cookie']).toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it('an external token service: a visitor sees what an anonymous token from it grants, read-only', async () => {
    // The token service of the test plays the external one: the registry asks its realm as a client without credentials would.
    const t = await openAccessRegistry({ mode: 'token', realm: (ctx) => `${ctx.protocol}://${ctx.host}/token`, ui: { assets: false } });
    try {
      await seedRepository(t.backdoor, 'public/app');
      await seedRepository(t.backdoor, 'team/app');
      const list = await t.http.get('/api/repositories').expect(200);
      expect(list.body.repositories.map((repository: { name: string }) => repository.name)).toEqual(['public/app']);
      const tags = await t.http.get('/api/tags?repository=public/app').expect(200);
      expect(tags.body.canDelete).toBe(false);
      const hidden = await t.http.get('/api/tags?repository=team/app');
      expect(hidden.status).toBe(401);
      expect(hidden.headers['www-authenticate']).toBeUndefined();
      const before = await t.snapshot();
      await t.http.delete('/api/tag?repository=public/app&tag=gone').expect(401);
      expect(await t.snapshot()).toEqual(before);
    } finally {
      await t.close();
    }
  });

  it("the built-in token service's users sign in, judged by its rules", async () => {
    const t = await openAccessRegistry({ mode: 'token', tokenSignIn: true, ui: { assets: false } });
    try {
      await seedRepository(t.backdoor, 'team/app');
      const session = await signIn(t.http, 'writer');
      expect(session.status).toBe(200);
      const { pair } = sessionCookie(session);
      expect((await t.http.get('/api/repositories').set('Cookie', pair)).body.repositories.map((r: { name: string }) => r.name)).toEqual(['team/app']);
      const refused = await t.http.delete('/api/tag?repository=team/app&tag=gone').set('Cookie', pair).set('X-CSRF-Token', session.body.csrfToken);
      expect(refused.status).toBe(403);
    } finally {
      await t.close();
    }
  });
});

describe('web UI in a host app with its own sign-in, under a prefix', { timeout: 30_000 }, () => {
  let t: AccessRegistry;

  beforeAll(async () => {
    t = await openAccessRegistry({
      mode: 'hook',
      // The host's own authentication put the user on ctx.state.user; its hook lets alice pull alice/** only.
      before: [
        async (ctx, next) => {
          const user = ctx.get('X-Host-User');
          if (user !== '') ctx.state['user'] = user;
          await next();
        },
      ],
      authorize: (ctx, request) => {
        const principal = principalFromState(ctx);
        const granted = request.scopes.filter((scope) => principal.kind === 'user' && scope.type === 'repository' && scope.name.startsWith(`${principal.name}/`));
        return { principal, granted };
      },
      ui: { prefix: '/registry', assets: false },
    });
    await seedRepository(t.backdoor, 'alice/app');
    await seedRepository(t.backdoor, 'bob/app');
  }, 60_000);
  afterAll(() => t.close());

  it("hands the host's principal to the UI and lists what its hook lets the user pull", async () => {
    const session = await t.http.get('/registry/api/session').set('X-Host-User', 'alice').expect(200);
    expect(session.body).toEqual({ user: 'alice', csrfToken: null, signIn: { available: false, reason: expect.any(String) } });
    const list = await t.http.get('/registry/api/repositories').set('X-Host-User', 'alice').expect(200);
    expect(list.body.repositories.map((repository: { name: string }) => repository.name)).toEqual(['alice/app']);
    await t.http.get('/registry/api/tags?repository=bob/app').set('X-Host-User', 'alice').expect(403);
    await t.http.get('/registry/api/tags?repository=alice/app').set('X-Host-User', 'alice').expect(200);
  });

  it('leaves /v2 and everything outside the prefix to the registry and the host', async () => {
    await t.http.get('/api/session').expect(404);
    const v2 = await t.http.get('/v2/alice/app/tags/list').set('X-Host-User', 'alice');
    expect(v2.status).toBe(200);
    expect(v2.body.name).toBe('alice/app');
    const unknown = await t.http.get('/registry/api/nothing-here');
    expect(unknown.status).toBe(404);
    expect(unknown.body.errors[0].code).toBe('UNSUPPORTED');
    const wrongMethod = await t.http.put('/registry/api/tags');
    expect(wrongMethod.status).toBe(405);
  });
});

describe('web UI at the site root, pages and API together', { timeout: 30_000 }, () => {
  let t: AccessRegistry;

  beforeAll(async () => {
    t = await openAccessRegistry({ mode: 'basic', ui: {} });
  }, 60_000);
  afterAll(() => t.close());

  it('serves the pages for deep links, the API under /api, and never shadows the registry or its probes', async () => {
    for (const path of ['/', '/repositories/team/app']) {
      const page = await t.http.get(path).expect(200);
      expect(page.headers['content-type'], path).toMatch(/^text\/html/);
    }
    expect((await t.http.get('/api/session').expect(200)).body.signIn).toEqual({ available: true });
    const v2 = await t.http.get('/v2/');
    expect(v2.status).toBe(401);
    expect(v2.headers['www-authenticate']).toMatch(/^Basic /);
    for (const path of ['/v2/nothing/here', '/token', '/healthz', '/readyz', '/metrics']) {
      const response = await t.http.get(path);
      expect(response.headers['content-type'] ?? '', path).not.toMatch(/^text\/html/);
    }
  });
});
