import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type request from 'supertest';
import type { Middleware } from 'koa';
import { type Scope } from '@berth/core';
import { libtrustKeyId } from '@berth/core/internal';
import { createSignInLimiter, createTokenVerifier, parseTrustedKeys, resolveTokenSigningKey } from '@berth/auth';
import { sha256 } from './support/content.js';
import {
  ISSUER,
  SERVICE,
  basic,
  bcryptLine,
  certificateKey,
  decodeJwt,
  es256Verifies,
  htpasswdToolLine,
  jwkKey,
  openTokenService,
  TEST_RULES,
  type TokenServiceFixtureOptions,
  type TokenServiceUnderTest,
} from './support/token-service-fixture.js';

const PASSWORDS = {
  alice: 'alice-Pa55w0rd-xyzzy',
  bob: 'bob-Pa55w0rd-plugh',
  admin: 'admin-Pa55w0rd-frotz',
  carol: 'carol-Pa55w0rd-gnusto',
} as const;
const WRONG_PASSWORD = 'wr0ng-Pa55w0rd-rezrov';
const SECRETS = [...Object.values(PASSWORDS), WRONG_PASSWORD];

/** alice, bob and admin with bcryptjs hashes; carol as `htpasswd -B` writes her. */
const users = () => [
  bcryptLine('alice', PASSWORDS.alice),
  bcryptLine('bob', PASSWORDS.bob),
  bcryptLine('admin', PASSWORDS.admin),
  htpasswdToolLine('carol', PASSWORDS.carol),
];

const repo = (name: string, ...actions: string[]) => ({ type: 'repository', name, actions });
const CATALOG = { type: 'registry', name: 'catalog', actions: ['*'] };

type Response = request.Response;

/** A refusal: a JSON error body in the spec's format, never a token, never a password. */
function expectRefusal(response: Response, status: number, code?: string): void {
  expect(response.status, response.text).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(response.text) as { errors: Array<{ code: string; message: string }>; token?: unknown };
  expect(body.errors).toHaveLength(1);
  if (code !== undefined) expect(body.errors[0]!.code).toBe(code);
  expect(typeof body.errors[0]!.message).toBe('string');
  expect(body).not.toHaveProperty('token');
  expect(body).not.toHaveProperty('access_token');
  expectNoSecrets(response);
}

function expectNoSecrets(response: Response): void {
  const everything = `${response.text ?? ''}\n${JSON.stringify(response.headers)}`;
  for (const secret of SECRETS) {
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(Buffer.from(secret).toString('base64'));
  }
}

describe('tokenService', () => {
  let t: TokenServiceUnderTest;
  const open = async (options: Partial<TokenServiceFixtureOptions> = {}) => {
    t = await openTokenService({ users: users(), ...options });
  };
  afterEach(async () => t?.close());

  /** What the token grants, as `tokenAuth`'s verifier reads it; checks the subject too. */
  async function grantedBy(token: string, subject: string): Promise<Scope[]> {
    const verified = await t.verifier.verify(token);
    expect(verified.subject).toBe(subject);
    return verified.access;
  }

  const login = (user: keyof typeof PASSWORDS, query = 'offline_token=true&client_id=docker') =>
    t.http.get(`/token?account=${user}&${query}&service=${SERVICE}`).set('Authorization', basic(user, PASSWORDS[user]));

  /** docker login's identity token. */
  async function refreshTokenOf(user: keyof typeof PASSWORDS): Promise<string> {
    const response = await login(user).expect(200);
    expect(typeof response.body.refresh_token).toBe('string');
    return response.body.refresh_token as string;
  }

  const postForm = (form: string) => t.http.post('/token').type('form').send(form);

  describe('GET with Basic credentials', () => {
    beforeEach(() => open());

    it('answers docker login with an access token and a refresh token (the identity token)', async () => {
      const response = await t.http
        .get('/token?account=alice&client_id=docker&offline_token=true&service=berth')
        .set('Authorization', basic('alice', PASSWORDS.alice))
        .expect(200);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.headers['cache-control']).toBe('no-store');
      const body = response.body as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'issued_at', 'refresh_token', 'token']);
      expect(body['access_token']).toBe(body['token']);
      expect(body['expires_in']).toBe(300);
      expect(body['issued_at']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(typeof body['refresh_token']).toBe('string');
      expect(body['refresh_token']).not.toBe(body['token']);
      expect(await grantedBy(body['token'] as string, 'alice')).toEqual([]);

      // The token itself, decoded by hand: what distribution checks.
      const { header, payload } = decodeJwt(body['token'] as string);
      const certKey = certificateKey(t.signingKey.certificatePem);
      expect(header).toMatchObject({ alg: 'ES256', typ: 'JWT', kid: libtrustKeyId(certKey) });
      expect(payload).toMatchObject({ iss: ISSUER, aud: SERVICE, sub: 'alice', access: [] });
      expect((payload['exp'] as number) - (payload['iat'] as number)).toBe(300);
      expect(new Date((payload['iat'] as number) * 1000).toISOString().replace('.000Z', 'Z')).toBe(body['issued_at']);
      expect(Math.abs((payload['iat'] as number) - Date.now() / 1000)).toBeLessThan(60);
      expect(typeof payload['jti']).toBe('string');
      expect(es256Verifies(body['token'] as string, certKey)).toBe(true);
    });

    it('gives no refresh token unless offline_token=true is asked', async () => {
      const response = await login('alice', 'client_id=docker').expect(200);
      expect(response.body).not.toHaveProperty('refresh_token');
      expect(await grantedBy(response.body.token, 'alice')).toEqual([]);
      const no = await login('alice', 'offline_token=false').expect(200);
      expect(no.body).not.toHaveProperty('refresh_token');
    });

    it('refuses a wrong password with 401, never an anonymous token', async () => {
      for (const path of [
        '/token?account=alice&client_id=docker&offline_token=true&service=berth',
        // even when anonymous callers could have had what is asked
        '/token?account=alice&scope=repository:public/x:pull&service=berth',
      ]) {
        const response = await t.http.get(path).set('Authorization', basic('alice', WRONG_PASSWORD));
        expectRefusal(response, 401, 'UNAUTHORIZED');
        expect(response.headers['www-authenticate']).toBe('Basic realm="berth"');
      }
      // another user's password is just as wrong
      expectRefusal(await t.http.get('/token?service=berth').set('Authorization', basic('alice', PASSWORDS.bob)), 401, 'UNAUTHORIZED');
    });

    it('refuses an unknown user with 401', async () => {
      const response = await t.http
        .get('/token?account=mallory&offline_token=true&service=berth')
        .set('Authorization', basic('mallory', WRONG_PASSWORD));
      expectRefusal(response, 401, 'UNAUTHORIZED');
      // user names are case-sensitive
      expectRefusal(await t.http.get('/token?service=berth').set('Authorization', basic('Alice', PASSWORDS.alice)), 401);
    });

    it('signs in a user whose line htpasswd -B wrote ($2y$)', async () => {
      const line = users()[3]!;
      expect(line).toMatch(/^carol:\$2y\$04\$/);
      const response = await login('carol').expect(200);
      expect(await grantedBy(response.body.token, 'carol')).toEqual([]);
    });

    it('grants what skopeo asks for, narrowed to the rules (fewer actions or none, never an error)', async () => {
      const own = await t.http
        .get('/token?account=alice&scope=repository:alice/app:pull,push&service=berth')
        .set('Authorization', basic('alice', PASSWORDS.alice))
        .expect(200);
      expect(await grantedBy(own.body.token, 'alice')).toEqual([repo('alice/app', 'pull', 'push')]);
      expect(decodeJwt(own.body.token).payload['access']).toEqual([repo('alice/app', 'pull', 'push')]);

      const team = await t.http
        .get('/token?account=alice&scope=repository:team/base:pull,push&service=berth')
        .set('Authorization', basic('alice', PASSWORDS.alice))
        .expect(200);
      expect(await grantedBy(team.body.token, 'alice')).toEqual([repo('team/base', 'pull')]);

      const other = await t.http
        .get('/token?account=alice&scope=repository:bob/app:pull,push,delete&service=berth')
        .set('Authorization', basic('alice', PASSWORDS.alice))
        .expect(200);
      expect(await grantedBy(other.body.token, 'alice')).toEqual([]);
      expect(decodeJwt(other.body.token).payload['access']).toEqual([]);

      const wildcard = await t.http
        .get('/token?scope=repository:alice/app:*&scope=repository:team/base:*&service=berth')
        .set('Authorization', basic('alice', PASSWORDS.alice))
        .expect(200);
      expect(await grantedBy(wildcard.body.token, 'alice')).toEqual([repo('alice/app', '*'), repo('team/base', 'pull')]);
    });

    it('evaluates both scopes of a cross-repository mount', async () => {
      const response = await t.http
        .get('/token?account=alice&scope=repository:alice/app:pull,push&scope=repository:team/base:pull&service=berth')
        .set('Authorization', basic('alice', PASSWORDS.alice))
        .expect(200);
      expect(await grantedBy(response.body.token, 'alice')).toEqual([repo('alice/app', 'pull', 'push'), repo('team/base', 'pull')]);
      // bob may pull team/base but not push to alice/app
      const bob = await t.http
        .get('/token?account=bob&scope=repository:alice/app:pull,push&scope=repository:team/base:pull&service=berth')
        .set('Authorization', basic('bob', PASSWORDS.bob))
        .expect(200);
      expect(await grantedBy(bob.body.token, 'bob')).toEqual([repo('team/base', 'pull')]);
    });

    it('takes the subject from the credentials, never from account', async () => {
      const response = await t.http
        .get('/token?account=bob&scope=repository:bob/app:pull,push&scope=repository:alice/app:pull&service=berth')
        .set('Authorization', basic('alice', PASSWORDS.alice))
        .expect(200);
      expect(await grantedBy(response.body.token, 'alice')).toEqual([repo('alice/app', 'pull')]);
      expect(decodeJwt(response.body.token).payload['sub']).toBe('alice');
      // and account without credentials is still anonymous
      const anonymous = await t.http.get('/token?account=alice&scope=repository:alice/app:pull&service=berth').expect(200);
      expect(await grantedBy(anonymous.body.token, '')).toEqual([]);
    });

    it('gives anonymous callers a token with an empty subject and the anonymous grants only', async () => {
      const response = await t.http.get('/token?scope=repository:public/x:pull&service=berth').expect(200);
      expect(response.body).not.toHaveProperty('refresh_token');
      expect(await grantedBy(response.body.token, '')).toEqual([repo('public/x', 'pull')]);
      expect(decodeJwt(response.body.token).payload['sub']).toBe('');

      const more = await t.http
        .get('/token?scope=repository:public/x:pull,push&scope=repository:alice/app:pull&scope=registry:catalog:*&offline_token=true&service=berth')
        .expect(200);
      expect(await grantedBy(more.body.token, '')).toEqual([repo('public/x', 'pull')]);
      expect(more.body).not.toHaveProperty('refresh_token');

      // An empty name and password is what containers/image sends when it has no credentials: nobody.
      const empty = await t.http
        .get('/token?scope=repository:public/x:pull&service=berth')
        .set('Authorization', `Basic ${Buffer.from(':').toString('base64')}`)
        .expect(200);
      expect(decodeJwt(empty.body.token).payload['sub']).toBe('');
      expect(await grantedBy(empty.body.token, '')).toEqual([repo('public/x', 'pull')]);
    });

    it('grants the catalog to users who may pull everything, and to no one else', async () => {
      const admin = await t.http
        .get('/token?scope=registry:catalog:*&service=berth')
        .set('Authorization', basic('admin', PASSWORDS.admin))
        .expect(200);
      expect(await grantedBy(admin.body.token, 'admin')).toEqual([CATALOG]);
      // only as asked: not for other actions, another class or no known action
      const narrowed = await t.http
        .get('/token?scope=registry:catalog:pull&scope=registry(plugin):catalog:*&scope=registry:catalog:fly&service=berth')
        .set('Authorization', basic('admin', PASSWORDS.admin))
        .expect(200);
      expect(await grantedBy(narrowed.body.token, 'admin')).toEqual([{ ...CATALOG, actions: ['pull'] }]);
      for (const user of ['alice', 'bob'] as const) {
        const response = await t.http
          .get('/token?scope=registry:catalog:*&service=berth')
          .set('Authorization', basic(user, PASSWORDS[user]))
          .expect(200);
        expect(await grantedBy(response.body.token, user)).toEqual([]);
      }
    });

    it('refuses a service other than its own', async () => {
      for (const path of ['/token?service=other&account=alice', '/token?service=berth.example.com&scope=repository:alice/app:pull']) {
        const response = await t.http.get(path).set('Authorization', basic('alice', PASSWORDS.alice));
        expect(response.status).toBeGreaterThanOrEqual(400);
        expect(response.status).toBeLessThan(500);
        expectRefusal(response, response.status);
      }
      expectRefusal(await t.http.get('/token?service=other&scope=repository:public/x:pull'), 400);
    });
  });

  describe('POST (OAuth2 form)', () => {
    beforeEach(() => open());

    it('exchanges a refresh token for an access token (space-separated scopes in one field)', async () => {
      const refresh = await refreshTokenOf('alice');
      const response = await postForm(
        `grant_type=refresh_token&refresh_token=${refresh}&client_id=containers%2Fimage&service=berth` +
          `&scope=${encodeURIComponent('repository:alice/app:pull repository:alice/other:push')}`,
      ).expect(200);
      expect(response.headers['cache-control']).toBe('no-store');
      expect(typeof response.body.access_token).toBe('string');
      expect(response.body.expires_in).toBe(300);
      expect(response.body).not.toHaveProperty('refresh_token');
      expect(response.body.scope).toBe('repository:alice/app:pull repository:alice/other:push');
      expect(await grantedBy(response.body.access_token, 'alice')).toEqual([repo('alice/app', 'pull'), repo('alice/other', 'push')]);
      const { header, payload } = decodeJwt(response.body.access_token);
      expect(header).toMatchObject({ alg: 'ES256', kid: libtrustKeyId(certificateKey(t.signingKey.certificatePem)) });
      expect(payload).toMatchObject({ iss: ISSUER, aud: SERVICE, sub: 'alice' });
      expect((payload['exp'] as number) - (payload['iat'] as number)).toBe(300);
    });

    it('takes repeated scope fields, and form-encoded + for spaces', async () => {
      const refresh = await refreshTokenOf('alice');
      const repeated = await postForm(
        `grant_type=refresh_token&refresh_token=${refresh}&client_id=containers%2Fimage&service=berth` +
          '&scope=repository%3Aalice%2Fapp%3Apull&scope=repository%3Aalice%2Fother%3Apush&scope=repository%3Abob%2Fapp%3Apull',
      ).expect(200);
      expect(await grantedBy(repeated.body.access_token, 'alice')).toEqual([repo('alice/app', 'pull'), repo('alice/other', 'push')]);
      const plus = await postForm(
        `grant_type=refresh_token&refresh_token=${refresh}&service=berth&scope=repository:alice/app:pull+repository:team/base:pull,push`,
      ).expect(200);
      expect(await grantedBy(plus.body.access_token, 'alice')).toEqual([repo('alice/app', 'pull'), repo('team/base', 'pull')]);
    });

    it('signs in with the password grant; access_type=offline adds a refresh token that works', async () => {
      const form = (extra: string) =>
        `grant_type=password&username=alice&password=${encodeURIComponent(PASSWORDS.alice)}&client_id=containers%2Fimage&service=berth${extra}`;
      const online = await postForm(form('&scope=repository%3Aalice%2Fapp%3Apull%2Cpush')).expect(200);
      expect(online.body).not.toHaveProperty('refresh_token');
      expect(await grantedBy(online.body.access_token, 'alice')).toEqual([repo('alice/app', 'pull', 'push')]);

      const offline = await postForm(form('&access_type=offline')).expect(200);
      expect(typeof offline.body.refresh_token).toBe('string');
      expect(await grantedBy(offline.body.access_token, 'alice')).toEqual([]);
      const refreshed = await postForm(
        `grant_type=refresh_token&refresh_token=${offline.body.refresh_token}&service=berth&scope=repository%3Ateam%2Fbase%3Apull`,
      ).expect(200);
      expect(await grantedBy(refreshed.body.access_token, 'alice')).toEqual([repo('team/base', 'pull')]);
    });

    it('refuses the password grant with a wrong password, an unknown or an empty user', async () => {
      for (const form of [
        `grant_type=password&username=alice&password=${WRONG_PASSWORD}&service=berth&access_type=offline`,
        `grant_type=password&username=mallory&password=${WRONG_PASSWORD}&service=berth`,
        `grant_type=password&username=&password=${WRONG_PASSWORD}&service=berth`,
        'grant_type=password&service=berth',
      ]) {
        const response = await postForm(form);
        expectRefusal(response, 401, 'UNAUTHORIZED');
        expect(response.body).not.toHaveProperty('refresh_token');
      }
    });

    it('takes the subject from the refresh token, never from account', async () => {
      const refresh = await refreshTokenOf('alice');
      const response = await postForm(
        `grant_type=refresh_token&refresh_token=${refresh}&account=bob&service=berth&scope=repository%3Abob%2Fapp%3Apull`,
      ).expect(200);
      expect(await grantedBy(response.body.access_token, 'alice')).toEqual([]);
    });

    it('refuses a service other than its own', async () => {
      const refresh = await refreshTokenOf('alice');
      expectRefusal(await postForm(`grant_type=refresh_token&refresh_token=${refresh}&service=other&scope=repository%3Aalice%2Fapp%3Apull`), 400);
      expectRefusal(await postForm(`grant_type=password&username=alice&password=${encodeURIComponent(PASSWORDS.alice)}&service=other`), 400);
    });
  });

  describe('refresh tokens', () => {
    beforeEach(() => open());

    const exchange = (refresh: string) => postForm(`grant_type=refresh_token&refresh_token=${refresh}&service=berth`);

    /** The file's lines with alice's replaced (undefined: removed). */
    async function rewriteAlice(line: string | undefined, ...extra: string[]): Promise<void> {
      const lines = (await readFile(t.htpasswdFile, 'utf8')).trim().split('\n');
      const kept = lines.flatMap((current) => (current.startsWith('alice:') ? (line === undefined ? [] : [line]) : [current]));
      await t.writeUsers(...kept, ...extra);
    }

    it("stay valid while the user's entry is unchanged, whatever else changes", async () => {
      const refresh = await refreshTokenOf('alice');
      const aliceLine = (await readFile(t.htpasswdFile, 'utf8')).split('\n').find((line) => line.startsWith('alice:'))!;
      // bob's password changed, dave added: alice's line is the same
      await t.writeUsers(aliceLine, bcryptLine('bob', 'bob-new-password'), bcryptLine('dave', 'dave-password'));
      expect(await grantedBy((await exchange(refresh).expect(200)).body.access_token, 'alice')).toEqual([]);
      await exchange(refresh).expect(200); // and again: not single-use
      await login('alice').expect(200);
    });

    it('are revoked by a password change', async () => {
      const refresh = await refreshTokenOf('alice');
      await rewriteAlice(bcryptLine('alice', 'alice-new-password'));
      expectRefusal(await exchange(refresh), 401, 'UNAUTHORIZED');
      // The old password is gone too (no remembered success), the new one signs in.
      expectRefusal(await t.http.get('/token?service=berth').set('Authorization', basic('alice', PASSWORDS.alice)), 401);
      const fresh = await t.http
        .get('/token?offline_token=true&service=berth')
        .set('Authorization', basic('alice', 'alice-new-password'))
        .expect(200);
      await exchange(fresh.body.refresh_token).expect(200);
      // Even the same password hashed anew revokes: the entry changed.
      await rewriteAlice(bcryptLine('alice', 'alice-new-password'));
      expectRefusal(await exchange(fresh.body.refresh_token), 401);
    });

    it('are revoked when the user is removed', async () => {
      const refresh = await refreshTokenOf('alice');
      const bobRefresh = await refreshTokenOf('bob');
      await rewriteAlice(undefined);
      expectRefusal(await exchange(refresh), 401, 'UNAUTHORIZED');
      expectRefusal(await login('alice'), 401);
      await exchange(bobRefresh).expect(200);
      // a new alice (same name, new entry) does not revive the old token
      await rewriteAlice(undefined, bcryptLine('alice', PASSWORDS.alice));
      expectRefusal(await exchange(refresh), 401);
    });

    it('are refused as Bearer tokens by a registry using tokenAuth, and access tokens are refused as refresh tokens', async () => {
      const signIn = await t.http
        .get('/token?account=alice&scope=repository:alice/app:pull,push&offline_token=true&service=berth')
        .set('Authorization', basic('alice', PASSWORDS.alice))
        .expect(200);
      const bytes = Buffer.from('layer bytes');
      const upload = (token: string) =>
        t.http
          .post(`/v2/alice/app/blobs/uploads/?digest=${sha256(bytes)}`)
          .set('Authorization', `Bearer ${token}`)
          .set('Content-Type', 'application/octet-stream')
          .send(bytes);
      const asBearer = await upload(signIn.body.refresh_token);
      expect(asBearer.status).toBe(401);
      expect(asBearer.headers['www-authenticate']).toContain('error="invalid_token"');
      // The reason is told (it names the check, never the token).
      expect(asBearer.body.errors[0]).toMatchObject({ code: 'UNAUTHORIZED', message: 'token has the wrong type' });
      await expect(t.verifier.verify(signIn.body.refresh_token)).rejects.toThrow(/wrong type/);
      // the access token itself is good for the push
      await upload(signIn.body.token).expect(201);

      expectRefusal(await exchange(signIn.body.token), 401, 'UNAUTHORIZED');
      expectRefusal(await exchange(signIn.body.access_token), 401, 'UNAUTHORIZED');
    });

    it('are refused when garbage, tampered with, or signed by another service', async () => {
      const refresh = await refreshTokenOf('alice');
      const [header, payload, signature] = refresh.split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
      const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url')}.${signature}`;
      for (const token of ['', 'garbage', 'a.b.c', forged]) expectRefusal(await exchange(encodeURIComponent(token)), 401, 'UNAUTHORIZED');

      const elsewhere = await openTokenService({ users: users() });
      try {
        const foreign = await elsewhere.http.get('/token?offline_token=true&service=berth').set('Authorization', basic('alice', PASSWORDS.alice)).expect(200);
        expectRefusal(await exchange(foreign.body.refresh_token), 401);
      } finally {
        await elsewhere.close();
      }
    });
  });

  describe('keys', () => {
    beforeEach(() => open());

    it('serves the certificate whose public key verifies issued tokens', async () => {
      const response = await t.http.get('/token/cert.pem').buffer(true).parse(textParser).expect(200);
      expect(response.headers['content-type']).toMatch(/^application\/x-pem-file/);
      const pem = response.body as string;
      expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----\r?\n/);
      expect(pem).not.toContain('PRIVATE');
      expect(pem).toBe(t.signingKey.certificatePem);

      const issued = (await login('alice').expect(200)).body.token as string;
      expect(es256Verifies(issued, certificateKey(pem))).toBe(true);
      const verifier = createTokenVerifier({ issuer: ISSUER, service: SERVICE, keys: parseTrustedKeys(pem, 'cert.pem') });
      expect((await verifier.verify(issued)).subject).toBe('alice');
      expect(decodeJwt(issued).header['kid']).toBe(libtrustKeyId(certificateKey(pem)));
    });

    it('serves the same key as a JWKS with the libtrust kid', async () => {
      const response = await t.http.get('/token/jwks.json').expect(200);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      const { keys } = response.body as { keys: Array<Record<string, unknown>> };
      expect(keys).toHaveLength(1);
      const jwk = keys[0]!;
      const certKey = certificateKey(t.signingKey.certificatePem);
      expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: libtrustKeyId(certKey) });
      for (const member of ['d', 'p', 'q', 'k']) expect(jwk).not.toHaveProperty(member);
      expect(jwkKey(jwk).equals(certKey)).toBe(true);

      const issued = (await login('alice').expect(200)).body.token as string;
      expect(decodeJwt(issued).header['kid']).toBe(jwk['kid']);
      const verifier = createTokenVerifier({ issuer: ISSUER, service: SERVICE, keys: parseTrustedKeys(response.text, 'jwks.json') });
      expect((await verifier.verify(issued)).subject).toBe('alice');
    });

    it('keeps the signing key in the metadata store across restarts', async () => {
      const again = await resolveTokenSigningKey(t.metadata);
      expect(again.certificatePem).toBe(t.signingKey.certificatePem);
    });
  });

  describe('with a registry behind tokenAuth', () => {
    beforeEach(() => open());

    it('lets tokens do what they grant: push own, pull team, the catalog for admin', async () => {
      const tokenFor = async (user: keyof typeof PASSWORDS, ...scopes: string[]) =>
        (
          await t.http
            .get(`/token?service=berth&${scopes.map((scope) => `scope=${encodeURIComponent(scope)}`).join('&')}`)
            .set('Authorization', basic(user, PASSWORDS[user]))
            .expect(200)
        ).body.token as string;
      const bytes = Buffer.from('config');
      const push = await tokenFor('alice', 'repository:alice/app:pull,push');
      await t.http
        .post(`/v2/alice/app/blobs/uploads/?digest=${sha256(bytes)}`)
        .set('Authorization', `Bearer ${push}`)
        .type('application/octet-stream')
        .send(bytes)
        .expect(201);
      const bobPull = await tokenFor('bob', 'repository:alice/app:pull');
      const refused = await t.http.head(`/v2/alice/app/blobs/${sha256(bytes)}`).set('Authorization', `Bearer ${bobPull}`);
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toContain('error="insufficient_scope"');
      await t.http.head(`/v2/alice/app/blobs/${sha256(bytes)}`).set('Authorization', `Bearer ${push}`).expect(200);

      const catalog = await tokenFor('admin', 'registry:catalog:*');
      const listed = await t.http.get('/v2/_catalog').set('Authorization', `Bearer ${catalog}`).expect(200);
      expect(listed.body.repositories).toEqual(['alice/app']);
    });
  });

  describe('with a registry whose tokenAuth narrows with the same rules', () => {
    beforeEach(() => open({ registryAccess: TEST_RULES }));

    it('accepts what the service granted', async () => {
      const token = (
        await t.http
          .get('/token?service=berth&scope=repository:alice/app:pull,push&scope=repository:team/base:pull,push')
          .set('Authorization', basic('alice', PASSWORDS.alice))
          .expect(200)
      ).body.token as string;
      const bytes = Buffer.from('narrowed');
      await t.http
        .post(`/v2/alice/app/blobs/uploads/?digest=${sha256(bytes)}`)
        .set('Authorization', `Bearer ${token}`)
        .type('application/octet-stream')
        .send(bytes)
        .expect(201);
      const push = await t.http
        .post(`/v2/team/base/blobs/uploads/?digest=${sha256(bytes)}`)
        .set('Authorization', `Bearer ${token}`)
        .type('application/octet-stream')
        .send(bytes);
      expect(push.status).toBe(401);
      expect(push.headers['www-authenticate']).toContain('error="insufficient_scope"');
    });
  });

  describe('sign-in limits', () => {
    it('answers the 11th attempt after 10 wrong passwords with 429 and Retry-After', async () => {
      let now = 1_000_000;
      await open({ limiter: createSignInLimiter({ now: () => now }) });
      for (let attempt = 0; attempt < 10; attempt++) {
        expectRefusal(await t.http.get('/token?account=alice&service=berth').set('Authorization', basic('alice', WRONG_PASSWORD)), 401, 'UNAUTHORIZED');
      }
      for (const attempt of [
        () => t.http.get('/token?account=alice&offline_token=true&service=berth').set('Authorization', basic('alice', PASSWORDS.alice)),
        () => t.http.get('/token?service=berth').set('Authorization', basic('alice', WRONG_PASSWORD)),
        () => postForm(`grant_type=password&username=alice&password=${encodeURIComponent(PASSWORDS.alice)}&service=berth`),
      ]) {
        const response = await attempt();
        expectRefusal(response, 429, 'TOOMANYREQUESTS');
        expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        expect(Number(response.headers['retry-after'])).toBeLessThanOrEqual(60);
        expect(Number.isInteger(Number(response.headers['retry-after']))).toBe(true);
      }
      // Another account from the same address is not locked out.
      await login('bob').expect(200);
      // Once the window has passed, alice may try again.
      now += 61_000;
      await login('alice').expect(200);
    });

    it('limits with the built-in limiter too, and counts password-grant failures', async () => {
      await open();
      for (let attempt = 0; attempt < 5; attempt++) {
        expectRefusal(await t.http.get('/token?service=berth').set('Authorization', basic('alice', WRONG_PASSWORD)), 401);
        expectRefusal(await postForm(`grant_type=password&username=alice&password=${WRONG_PASSWORD}&service=berth`), 401);
      }
      const response = await login('alice');
      expectRefusal(response, 429, 'TOOMANYREQUESTS');
      expect(response.headers['retry-after']).toMatch(/^\d+$/);
    });
  });

  describe('malformed requests', () => {
    beforeEach(() => open());

    const expect4xx = (response: Response) => {
      expect(response.status, response.text).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expectRefusal(response, response.status);
    };

    it('refuses a POST that is not form-encoded', async () => {
      const form = `grant_type=password&username=alice&password=${encodeURIComponent(PASSWORDS.alice)}&service=berth`;
      expect4xx(await t.http.post('/token').type('text/plain').send(form));
      expect4xx(
        await t.http
          .post('/token')
          .type('json')
          .send(JSON.stringify({ grant_type: 'password', username: 'alice', password: PASSWORDS.alice, service: 'berth' })),
      );
      expect4xx(await t.http.post('/token'));
      expect4xx(await t.http.post('/token').set('Authorization', basic('alice', PASSWORDS.alice)));
    });

    it('refuses an unknown or missing grant_type', async () => {
      expectRefusal(await postForm('grant_type=client_credentials&client_id=x&client_secret=y&service=berth'), 400, 'UNSUPPORTED');
      expectRefusal(await postForm('grant_type=authorization_code&code=abc&service=berth'), 400, 'UNSUPPORTED');
      expectRefusal(await postForm('service=berth&scope=repository%3Aalice%2Fapp%3Apull'), 400, 'UNSUPPORTED');
      expectRefusal(await postForm(''), 400, 'UNSUPPORTED');
    });

    it('refuses a refresh_token grant without a refresh token', async () => {
      expectRefusal(await postForm('grant_type=refresh_token&service=berth&scope=repository%3Aalice%2Fapp%3Apull'), 401, 'UNAUTHORIZED');
      expectRefusal(await postForm('grant_type=refresh_token&refresh_token=&service=berth'), 401, 'UNAUTHORIZED');
    });

    it('refuses garbage Basic credentials with 401', async () => {
      for (const header of [
        'Basic !!!!',
        'Basic ////',
        `Basic ${Buffer.from('no-colon').toString('base64')}`,
        `Basic ${Buffer.from(`:${PASSWORDS.alice}`).toString('base64')}`,
        `Basic ${Buffer.from([0xff, 0xfe, 0x3a, 0x00]).toString('base64')}`,
        // not even a credential: still a sign-in attempt, never an anonymous token
        'Basic',
        'Basic ',
        'basic',
        `Basic ${Buffer.from(`alice:${PASSWORDS.alice}`).toString('base64')} extra`,
      ]) {
        expectRefusal(await t.http.get('/token?service=berth&offline_token=true').set('Authorization', header), 401, 'UNAUTHORIZED');
      }
    });

    it('refuses an oversized form', async () => {
      const response = await postForm(`grant_type=refresh_token&service=berth&refresh_token=${'a'.repeat(100 * 1024)}`);
      expect4xx(response);
      expect(response.status).toBe(413);
    });

    it('ignores scopes it cannot parse', async () => {
      const response = await t.http
        .get('/token?service=berth&scope=nonsense&scope=repository::pull&scope=repository:alice/app:fly&scope=repository:alice/app:pull')
        .set('Authorization', basic('alice', PASSWORDS.alice))
        .expect(200);
      expect(await grantedBy(response.body.token, 'alice')).toEqual([repo('alice/app', 'pull')]);
    });
  });

  describe('behind a host body parser', () => {
    /**
     * What co-body (koa-bodyparser, koa-body) does with a form: reads the stream and leaves an object
     * on ctx.request.body, repeated fields as arrays.
     */
    const formParser: Middleware = async (ctx, next) => {
      if (ctx.is('application/x-www-form-urlencoded')) {
        const chunks: Buffer[] = [];
        for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
        const parsed: Record<string, string | string[]> = {};
        for (const [name, value] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) {
          const existing = parsed[name];
          parsed[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
        }
        (ctx.request as { body?: unknown }).body = parsed;
      }
      await next();
    };
    /** A parser limited to JSON (koa-bodyparser `enableTypes: ['json']`): leaves `{}` and the stream unread. */
    const jsonOnlyParser: Middleware = async (ctx, next) => {
      (ctx.request as { body?: unknown }).body = {};
      await next();
    };

    it('reads the fields a body parser left, repeated scopes included', async () => {
      await open({ before: [formParser] });
      const refresh = await refreshTokenOf('alice');
      const response = await postForm(
        `grant_type=refresh_token&refresh_token=${refresh}&service=berth` +
          '&scope=repository%3Aalice%2Fapp%3Apull&scope=repository%3Ateam%2Fbase%3Apull',
      ).expect(200);
      expect(await grantedBy(response.body.access_token, 'alice')).toEqual([repo('alice/app', 'pull'), repo('team/base', 'pull')]);
      const password = await postForm(
        `grant_type=password&username=alice&password=${encodeURIComponent(PASSWORDS.alice)}&service=berth&access_type=offline`,
      ).expect(200);
      expect(typeof password.body.refresh_token).toBe('string');
    });

    it('reads the stream when a body parser left it unread', async () => {
      await open({ before: [jsonOnlyParser] });
      const refresh = await refreshTokenOf('alice');
      const response = await postForm(
        `grant_type=refresh_token&refresh_token=${refresh}&service=berth&scope=repository%3Aalice%2Fapp%3Apull`,
      ).expect(200);
      expect(await grantedBy(response.body.access_token, 'alice')).toEqual([repo('alice/app', 'pull')]);
    });
  });
});

/** Buffers any response as text (supertest leaves an unknown type such as application/x-pem-file unread). */
function textParser(response: Response, callback: (error: Error | null, body: string) => void): void {
  const stream = response as unknown as NodeJS.ReadableStream;
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (text += chunk));
  stream.on('end', () => callback(null, text));
}
