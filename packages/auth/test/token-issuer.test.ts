import { X509Certificate } from 'node:crypto';
import { type Scope } from '@berth/core';
import { generateLibtrustKey, libtrustKeyId } from '@berth/core/internal';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTokenIssuer, REFRESH_TOKEN_TYPE, type TokenIssuer } from '../src/token-issuer.js';
import { parseTrustedKeys } from '../src/token-keys.js';
import { createSigningCertificate, type TokenSigningKey } from '../src/token-signing-key.js';
import { createTokenVerifier, TokenError } from '../src/token-verifier.js';

const ISSUER = 'berth';
const SERVICE = 'registry.example.com';
const START_MS = Date.UTC(2030, 0, 1, 12, 0, 0, 250);
const DAY_MS = 24 * 60 * 60 * 1000;

let clock = START_MS;
let signingKey: TokenSigningKey;
let issuer: TokenIssuer;

beforeAll(async () => {
  const key = generateLibtrustKey();
  signingKey = { key, certificatePem: await createSigningCertificate(key, START_MS) };
  issuer = createTokenIssuer({ issuer: ISSUER, service: SERVICE, signingKey, now: () => clock });
});

const verifier = (keysText = signingKey.certificatePem, source = 'issuer.pem') =>
  createTokenVerifier({ issuer: ISSUER, service: SERVICE, keys: parseTrustedKeys(keysText, source), now: () => clock });

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TokenError);
  return (error as Error).message;
}

const access: Scope[] = [
  { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
  { type: 'repository', class: 'plugin', name: 'p', actions: ['pull'] },
  { type: 'registry', name: 'catalog', actions: ['*'] },
];

describe('access tokens', () => {
  it('have the header and claims distribution 2.8 reads', async () => {
    clock = START_MS;
    const issued = await issuer.issueAccessToken('alice', access);
    expect(issued.expiresIn).toBe(300);
    expect(issued.issuedAt).toBe('2030-01-01T12:00:00Z');
    const certificateKey = new X509Certificate(signingKey.certificatePem).publicKey;
    // distribution matches the kid against the libtrust kid of each rootcertbundle certificate.
    expect(decodeProtectedHeader(issued.token)).toEqual({ alg: 'ES256', typ: 'JWT', kid: libtrustKeyId(certificateKey) });
    const iat = Math.floor(START_MS / 1000);
    const payload = decodeJwt(issued.token);
    expect(payload).toEqual({
      iss: ISSUER,
      sub: 'alice',
      aud: SERVICE,
      iat,
      nbf: iat,
      exp: iat + 300,
      jti: expect.any(String),
      access: [
        { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
        { type: 'repository', class: 'plugin', name: 'p', actions: ['pull'] },
        { type: 'registry', name: 'catalog', actions: ['*'] },
      ],
    });
    expect(Object.keys((payload['access'] as object[])[0]!)).not.toContain('class');
    expect(decodeJwt((await issuer.issueAccessToken('alice', access)).token).jti).not.toBe(payload.jti);
  });

  it('verify with the certificate as trusted key, and with the JWKS', async () => {
    clock = START_MS;
    const { token } = await issuer.issueAccessToken('alice', access);
    const expected = { subject: 'alice', access, expiresAt: new Date(Math.floor(START_MS / 1000) * 1000 + 300_000) };
    expect(await verifier().verify(token)).toEqual(expected);
    expect(await verifier(JSON.stringify(issuer.jwks()), 'jwks.json').verify(token)).toEqual(expected);
  });

  it('carry an empty subject for anonymous callers', async () => {
    const { token } = await issuer.issueAccessToken('', []);
    expect(decodeJwt(token).sub).toBe('');
    expect(await verifier().verify(token)).toMatchObject({ subject: '', access: [] });
  });

  it('expire after the TTL (and the verifier leeway)', async () => {
    clock = START_MS;
    const short = createTokenIssuer({ issuer: ISSUER, service: SERVICE, signingKey, accessTokenTtlSeconds: 30, now: () => clock });
    const issued = await short.issueAccessToken('alice', access);
    expect(issued.expiresIn).toBe(30);
    clock = START_MS + 30_000 + 61_000;
    expect(await refusal(verifier().verify(issued.token))).toBe('token has expired');
    clock = START_MS;
  });
});

describe('jwks', () => {
  it('publishes the public key only, with its libtrust kid', () => {
    const [jwk] = issuer.jwks().keys;
    expect(Object.keys(jwk).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: signingKey.key.kid });
    expect(issuer.certificatePem).toBe(signingKey.certificatePem);
  });
});

describe('refresh tokens', () => {
  it('round-trip subject and credential version', async () => {
    clock = START_MS;
    const token = await issuer.issueRefreshToken('alice', 'v7');
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', typ: REFRESH_TOKEN_TYPE, kid: signingKey.key.kid });
    expect(decodeJwt(token)).toMatchObject({ sub: 'alice', cv: 'v7', aud: `${SERVICE}#refresh`, exp: Math.floor(START_MS / 1000) + 30 * 24 * 3600 });
    clock = START_MS + 29 * DAY_MS;
    expect(await issuer.verifyRefreshToken(token)).toEqual({ subject: 'alice', credentialVersion: 'v7' });
  });

  it('expire after the refresh TTL', async () => {
    clock = START_MS;
    const token = await issuer.issueRefreshToken('alice', 'v7');
    clock = START_MS + 31 * DAY_MS;
    expect(await refusal(issuer.verifyRefreshToken(token))).toBe('token has expired');
    clock = START_MS;
  });

  it('are never accepted as access tokens', async () => {
    const token = await issuer.issueRefreshToken('alice', 'v7');
    expect(await refusal(verifier().verify(token))).toBe('token has the wrong type');
    // Even relabelled as a JWT, the audience gives it away (what distribution, which ignores typ, relies on).
    const relabelled = await new SignJWT(decodeJwt(token))
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: signingKey.key.kid })
      .sign(signingKey.key.privateKey);
    expect(await refusal(verifier().verify(relabelled))).toMatch(/"aud"/);
  });

  it('refuse access tokens, other issuers and other keys', async () => {
    const { token: accessToken } = await issuer.issueAccessToken('alice', access);
    expect(await refusal(issuer.verifyRefreshToken(accessToken))).toBe('token has the wrong type');

    const otherIssuer = createTokenIssuer({ issuer: 'someone-else', service: SERVICE, signingKey, now: () => clock });
    expect(await refusal(issuer.verifyRefreshToken(await otherIssuer.issueRefreshToken('alice', 'v7')))).toMatch(/"iss"/);

    const otherKey = generateLibtrustKey();
    const otherSigner = createTokenIssuer({
      issuer: ISSUER,
      service: SERVICE,
      signingKey: { key: otherKey, certificatePem: await createSigningCertificate(otherKey) },
      now: () => clock,
    });
    expect(await refusal(issuer.verifyRefreshToken(await otherSigner.issueRefreshToken('alice', 'v7')))).toBe('token signature is invalid');

    const otherService = createTokenIssuer({ issuer: ISSUER, service: 'other', signingKey, now: () => clock });
    expect(await refusal(issuer.verifyRefreshToken(await otherService.issueRefreshToken('alice', 'v7')))).toMatch(/"aud"/);
  });

  it('refuse a refresh token without a credential version', async () => {
    const token = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'ES256', typ: REFRESH_TOKEN_TYPE, kid: signingKey.key.kid })
      .setIssuer(ISSUER)
      .setAudience(`${SERVICE}#refresh`)
      .setExpirationTime(Math.floor(clock / 1000) + 60)
      .sign(signingKey.key.privateKey);
    expect(await refusal(issuer.verifyRefreshToken(token))).toBe('malformed refresh token');
  });
});
