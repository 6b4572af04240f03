import { generateKeyPairSync, KeyObject, X509Certificate } from 'node:crypto';
import { libtrustKeyId } from '@berth/core/internal';
import { base64url, SignJWT, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { createCertificate } from '../src/certificate.js';
import { parseTrustedKeys } from '../src/token-keys.js';
import { createTokenVerifier, TokenError, type TokenVerifier } from '../src/token-verifier.js';

const ISSUER = 'https://auth.example.com';
const SERVICE = 'registry.example.com';
const NOW_MS = Date.now();
const NOW = Math.floor(NOW_MS / 1000);

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');
const untrusted = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const kid = (key: KeyObject) => libtrustKeyId(key);
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();

const jwks = JSON.stringify({ keys: [{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'jwks-key' }] });
const keys = parseTrustedKeys([ec, rsa, ed].map((pair) => pem(pair.publicKey)).join(''), 'test.pem');

function verifierFor(trusted = keys, leewaySeconds?: number): TokenVerifier {
  return createTokenVerifier({ issuer: ISSUER, service: SERVICE, keys: trusted, now: () => NOW_MS, ...(leewaySeconds !== undefined && { leewaySeconds }) });
}

function claims(overrides: JWTPayload = {}): JWTPayload {
  return {
    iss: ISSUER,
    sub: 'alice',
    aud: SERVICE,
    exp: NOW + 300,
    nbf: NOW,
    iat: NOW,
    jti: 'j1',
    access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
    ...overrides,
  };
}

function sign(privateKey: KeyObject | Uint8Array, header: JWTHeaderParameters, payload: JWTPayload = claims()): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header).sign(privateKey);
}

const ecToken = (payload?: JWTPayload) => sign(ec.privateKey, { alg: 'ES256', typ: 'JWT', kid: kid(ec.publicKey) }, payload);

async function refusal(token: string | Promise<string>, verifier = verifierFor()): Promise<string> {
  const error = await verifier.verify(await token).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TokenError);
  return (error as Error).message;
}

describe('accepted tokens', () => {
  it.each([
    ['ES256 (P-256)', () => ecToken()],
    ['RS256', () => sign(rsa.privateKey, { alg: 'RS256', kid: kid(rsa.publicKey) })],
    ['PS512', () => sign(rsa.privateKey, { alg: 'PS512', typ: 'JWT', kid: kid(rsa.publicKey) })],
    ['EdDSA', () => sign(ed.privateKey, { alg: 'EdDSA', typ: 'JWT', kid: kid(ed.publicKey) })],
  ])('verifies %s by libtrust kid', async (_name, token) => {
    const verified = await verifierFor().verify(await token());
    expect(verified).toEqual({
      subject: 'alice',
      access: [{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }],
      expiresAt: new Date((NOW + 300) * 1000),
    });
  });

  it('finds a key by its JWKS kid', async () => {
    const token = await sign(ec.privateKey, { alg: 'ES256', typ: 'JWT', kid: 'jwks-key' });
    const verified = await verifierFor(parseTrustedKeys(jwks, 'jwks.json')).verify(token);
    expect(verified.subject).toBe('alice');
  });

  it('accepts an audience list holding the service, and no sub as anonymous', async () => {
    const { sub: _sub, ...anonymous } = claims({ aud: ['other', SERVICE] });
    const verified = await verifierFor().verify(await ecToken(anonymous));
    expect(verified.subject).toBe('');
  });

  it('keeps well-formed access entries and drops unknown actions and malformed entries', async () => {
    const access = [
      { type: 'repository', class: 'plugin', name: 'p', actions: ['pull', 'frobnicate', 'pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
      { type: 'repository', name: 'only-unknown', actions: ['frobnicate'] },
      { type: 'repository', name: '', actions: ['pull'] },
      { type: 'Repository', name: 'upper', actions: ['pull'] },
      { type: 'repository', name: 'no-actions' },
      { type: 'repository', name: 'mixed', actions: ['delete', 7] },
      'repository:x:pull',
      null,
    ];
    const verified = await verifierFor().verify(await ecToken(claims({ access })));
    expect(verified.access).toEqual([
      { type: 'repository', class: 'plugin', name: 'p', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
      { type: 'repository', name: 'mixed', actions: ['delete'] },
    ]);
  });

  it('accepts expiry and nbf within the leeway', async () => {
    await expect(verifierFor().verify(await ecToken(claims({ exp: NOW - 50, nbf: NOW + 50, iat: NOW + 50 })))).resolves.toBeDefined();
  });
});

describe('refused tokens', () => {
  it.each<[string, () => Promise<string>, RegExp]>([
    ['a wrong audience', () => ecToken(claims({ aud: 'other.example.com' })), /"aud"/],
    ['an audience list without the service', () => ecToken(claims({ aud: ['a', 'b'] })), /"aud"/],
    ['no audience', () => ecToken(claims({ aud: undefined })), /"aud"/],
    ['a wrong issuer', () => ecToken(claims({ iss: 'https://evil.example.com' })), /"iss"/],
    ['no expiry', () => ecToken(claims({ exp: undefined })), /"exp"/],
    ['an expiry beyond the leeway', () => ecToken(claims({ exp: NOW - 61 })), /expired/],
    ['a not-before in the future', () => ecToken(claims({ nbf: NOW + 120 })), /not valid yet/],
    ['an issue time in the future', () => ecToken(claims({ iat: NOW + 120 })), /issued in the future/],
    ['a non-numeric exp', () => ecToken(claims({ exp: String(NOW + 300) as unknown as number })), /"exp"/],
    ['a non-string sub', () => ecToken(claims({ sub: 42 as unknown as string })), /"sub"/],
    ['an access claim that is not a list', () => ecToken(claims({ access: { type: 'repository' } })), /access claim/],
  ])('refuses %s', async (_name, token, reason) => {
    expect(await refusal(token())).toMatch(reason);
  });

  it('uses the configured leeway', async () => {
    expect(await refusal(ecToken(claims({ exp: NOW - 5 })), verifierFor(keys, 0))).toMatch(/expired/);
  });

  it('refuses alg none', async () => {
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT', kid: kid(ec.publicKey) }));
    const payload = base64url.encode(JSON.stringify(claims()));
    expect(await refusal(`${header}.${payload}.`)).toBe('token algorithm is not allowed');
  });

  it('refuses HS256 signed with the public key as the secret', async () => {
    for (const secret of [pem(ec.publicKey), pem(rsa.publicKey)]) {
      const token = sign(new TextEncoder().encode(secret), { alg: 'HS256', typ: 'JWT', kid: kid(ec.publicKey) });
      expect(await refusal(token)).toBe('token algorithm is not allowed');
    }
  });

  it('refuses an algorithm that does not fit the key', async () => {
    // An RSA signature presented under the EC key's kid, and the other way round.
    expect(await refusal(sign(rsa.privateKey, { alg: 'RS256', kid: kid(ec.publicKey) }))).toBe('token algorithm does not fit its key');
    expect(await refusal(sign(ec.privateKey, { alg: 'ES256', kid: kid(rsa.publicKey) }))).toBe('token algorithm does not fit its key');
  });

  it('refuses a tampered payload', async () => {
    const [header, , signature] = (await ecToken()).split('.');
    const widened = claims({ access: [{ type: 'repository', name: '*', actions: ['*'] }] });
    expect(await refusal(`${header}.${base64url.encode(JSON.stringify(widened))}.${signature}`)).toBe('token signature is invalid');
  });

  it('refuses a token signed by another key under a trusted kid', async () => {
    expect(await refusal(sign(untrusted.privateKey, { alg: 'ES256', kid: kid(ec.publicKey) }))).toBe('token signature is invalid');
  });

  it('refuses an unknown kid and a missing kid', async () => {
    expect(await refusal(sign(untrusted.privateKey, { alg: 'ES256', kid: kid(untrusted.publicKey) }))).toBe('token signing key is not trusted');
    expect(await refusal(sign(ec.privateKey, { alg: 'ES256' }))).toBe('token signing key is not trusted');
    // A JWKS kid only counts when the keys came from that JWKS.
    expect(await refusal(sign(ec.privateKey, { alg: 'ES256', kid: 'jwks-key' }))).toBe('token signing key is not trusted');
  });

  it('refuses another typ, such as a refresh token', async () => {
    const token = sign(ec.privateKey, { alg: 'ES256', typ: 'berth-refresh+jwt', kid: kid(ec.publicKey) });
    expect(await refusal(token)).toBe('token has the wrong type');
    const numericTyp = sign(ec.privateKey, { alg: 'ES256', typ: 1 as unknown as string, kid: kid(ec.publicKey) });
    expect(await refusal(numericTyp)).toBe('token has the wrong type');
  });

  it('refuses garbage without echoing it', async () => {
    for (const token of ['', 'abc', 'a.b.c', '.....', 'x'.repeat(100_000)]) expect(await refusal(token)).toBe('malformed token');
  });
});

describe('x5c chains', () => {
  const DAY = 24 * 60 * 60 * 1000;
  type Issued = { pair: { privateKey: KeyObject; publicKey: KeyObject }; certificate: { subject: string; pem: string } };

  async function authority(name: string): Promise<Issued> {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = createCertificate({
      publicKey: pair.publicKey,
      signingKey: pair.privateKey,
      subject: name,
      authority: true,
      notBefore: new Date(NOW_MS - DAY),
      notAfter: new Date(NOW_MS + 365 * DAY),
    });
    return { pair, certificate: { subject: name, pem } };
  }

  async function leafOf(issuer: Issued, validity = { from: NOW_MS - DAY, to: NOW_MS + 30 * DAY }, asAuthority = false): Promise<Issued> {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const subject = asAuthority ? 'Intermediate' : 'token signer';
    const pem = createCertificate({
      publicKey: pair.publicKey,
      signingKey: issuer.pair.privateKey,
      subject,
      issuer: issuer.certificate.subject,
      authority: asAuthority,
      notBefore: new Date(validity.from),
      notAfter: new Date(validity.to),
    });
    return { pair, certificate: { subject, pem } };
  }

  const der = (certificate: { pem: string }) => new X509Certificate(certificate.pem).raw.toString('base64');
  const ca = authority('Trusted CA');
  const rogue = authority('Trusted CA'); // the same name, another key
  const trustedKeys = ca.then((root) => parseTrustedKeys(root.certificate.pem, 'ca.pem'));

  it('accepts a leaf issued by a trusted CA, with or without the CA in the chain', async () => {
    const leaf = await leafOf(await ca);
    const verifier = verifierFor(await trustedKeys);
    for (const x5c of [[der(leaf.certificate)], [der(leaf.certificate), der((await ca).certificate)]]) {
      const token = await sign(leaf.pair.privateKey, { alg: 'ES256', typ: 'JWT', x5c });
      expect((await verifier.verify(token)).subject).toBe('alice');
    }
  });

  it('accepts a chain through an intermediate CA', async () => {
    const intermediate = await leafOf(await ca, undefined, true);
    const leaf = await leafOf(intermediate);
    const token = await sign(leaf.pair.privateKey, { alg: 'ES256', x5c: [der(leaf.certificate), der(intermediate.certificate)] });
    expect((await verifierFor(await trustedKeys).verify(token)).subject).toBe('alice');
  });

  it('refuses a chain to an untrusted CA, even one with the trusted name', async () => {
    const leaf = await leafOf(await rogue);
    for (const x5c of [[der(leaf.certificate)], [der(leaf.certificate), der((await rogue).certificate)]]) {
      const token = sign(leaf.pair.privateKey, { alg: 'ES256', typ: 'JWT', x5c });
      expect(await refusal(token, verifierFor(await trustedKeys))).toBe('x5c chain is not trusted');
    }
  });

  it('refuses a chain whose links do not sign each other', async () => {
    const leaf = await leafOf(await rogue);
    const token = sign(leaf.pair.privateKey, { alg: 'ES256', x5c: [der(leaf.certificate), der((await ca).certificate)] });
    expect(await refusal(token, verifierFor(await trustedKeys))).toBe('x5c chain is broken');
  });

  it('refuses a leaf used as a CA', async () => {
    const leaf = await leafOf(await ca);
    const grandchild = await leafOf(leaf);
    const token = sign(grandchild.pair.privateKey, { alg: 'ES256', x5c: [der(grandchild.certificate), der(leaf.certificate)] });
    expect(await refusal(token, verifierFor(await trustedKeys))).toBe('x5c chain is broken');
  });

  it('refuses an expired or not yet valid leaf', async () => {
    for (const validity of [{ from: NOW_MS - 30 * DAY, to: NOW_MS - DAY }, { from: NOW_MS + DAY, to: NOW_MS + 30 * DAY }]) {
      const leaf = await leafOf(await ca, validity);
      const token = sign(leaf.pair.privateKey, { alg: 'ES256', x5c: [der(leaf.certificate)] });
      expect(await refusal(token, verifierFor(await trustedKeys))).toBe('x5c certificate is expired or not yet valid');
    }
  });

  it('refuses a token signed by another key than the leaf', async () => {
    const leaf = await leafOf(await ca);
    const token = sign(untrusted.privateKey, { alg: 'ES256', x5c: [der(leaf.certificate)] });
    expect(await refusal(token, verifierFor(await trustedKeys))).toBe('token signature is invalid');
  });

  it('refuses malformed x5c headers', async () => {
    for (const x5c of [[], ['not base64!'], ['AAAA'], 'AAAA']) {
      const token = sign(ec.privateKey, { alg: 'ES256', x5c: x5c as string[] });
      expect(await refusal(token, verifierFor(await trustedKeys))).toMatch(/^malformed x5c/);
    }
  });

  it('prefers x5c over a trusted kid', async () => {
    // A trusted kid must not smuggle in an untrusted chain's signature.
    const leaf = await leafOf(await rogue);
    const token = sign(leaf.pair.privateKey, { alg: 'ES256', kid: kid(ec.publicKey), x5c: [der(leaf.certificate)] });
    expect(await refusal(token, verifierFor(await trustedKeys))).toBe('x5c chain is not trusted');
  });

  it('accepts a self-signed trusted certificate as the whole chain', async () => {
    const root = await ca;
    const token = await sign(root.pair.privateKey, { alg: 'ES256', x5c: [der(root.certificate)] });
    expect((await verifierFor(await trustedKeys).verify(token)).subject).toBe('alice');
  });
});
