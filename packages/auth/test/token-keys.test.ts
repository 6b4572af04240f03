import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { libtrustKeyId } from '@berth/core/internal';
import { afterAll, describe, expect, it } from 'vitest';
import { createCertificate } from '../src/certificate.js';
import { loadTrustedKeys, parseTrustedKeys, TrustedKeysError } from '../src/token-keys.js';

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed25519 = generateKeyPairSync('ed25519');

function spkiPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

async function selfSignedPem(): Promise<{ pem: string; kid: string }> {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const pem = createCertificate({ publicKey: pair.publicKey, signingKey: pair.privateKey, subject: 'test', notBefore: new Date(now), notAfter: new Date(now + 86_400_000) });
  return { pem, kid: libtrustKeyId(new X509Certificate(pem).publicKey) };
}

function expectError(run: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(TrustedKeysError);
  expect((caught as Error).message).toMatch(pattern);
}

describe('parseTrustedKeys from PEM', () => {
  it('takes any mix of CERTIFICATE and PUBLIC KEY blocks and finds each by libtrust kid', async () => {
    const certificate = await selfSignedPem();
    const publicKeys = [p256, p384, p521, rsa, ed25519].map((pair) => pair.publicKey);
    const text = ['# a comment openssl would skip', certificate.pem, ...publicKeys.map(spkiPem)].join('\n');
    const keys = parseTrustedKeys(text, 'bundle.pem');
    expect(keys.size).toBe(6);
    expect(keys.certificates).toHaveLength(1);
    expect(keys.get(certificate.kid)?.kid).toBe(certificate.kid);
    for (const publicKey of publicKeys) {
      const found = keys.get(libtrustKeyId(publicKey));
      expect(found?.publicKey.equals(publicKey)).toBe(true);
    }
    expect(keys.get('AAAA:BBBB')).toBeUndefined();
  });

  it('counts a key given twice once', () => {
    expect(parseTrustedKeys(spkiPem(p256.publicKey).repeat(2), 'twice.pem').size).toBe(1);
  });

  it.each([
    ['a PKCS#8 private key', () => p256.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), /private key/],
    ['an SEC1 private key', () => p256.privateKey.export({ type: 'sec1', format: 'pem' }).toString(), /private key/],
    ['a short RSA key', () => spkiPem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey), /shorter than 2048/],
    ['a secp256k1 key', () => spkiPem(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey), /unsupported key type/],
    ['an X25519 key', () => spkiPem(generateKeyPairSync('x25519').publicKey), /unsupported key type/],
    ['a broken block', () => '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', /PEM block 1/],
    ['an unknown block', () => '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n', /unexpected PEM block/],
    ['an unfinished block', () => '-----BEGIN PUBLIC KEY-----\nAAAA\n', /no complete PEM block/],
    ['garbage', () => 'hello', /neither PEM nor a JWKS/],
  ])('refuses %s, naming the source', (_name, text, pattern) => {
    expectError(() => parseTrustedKeys(text(), '/etc/berth/keys.pem'), pattern);
    expectError(() => parseTrustedKeys(text(), '/etc/berth/keys.pem'), /^\/etc\/berth\/keys\.pem: /);
  });

  it('refuses a private key even after good blocks', () => {
    const text = spkiPem(p256.publicKey) + rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    expectError(() => parseTrustedKeys(text, 'mixed.pem'), /PEM block 2 \(RSA PRIVATE KEY\): a private key/);
  });
});

describe('parseTrustedKeys from a JWKS', () => {
  const jwk = (key: KeyObject, extra: Record<string, unknown> = {}) => ({ ...key.export({ format: 'jwk' }), ...extra });

  it('finds keys by their JWKS kid and by libtrust kid', () => {
    const text = JSON.stringify({ keys: [jwk(p256.publicKey, { kid: 'primary', use: 'sig' }), jwk(rsa.publicKey, { alg: 'PS256' }), jwk(ed25519.publicKey)] });
    const keys = parseTrustedKeys(text, 'jwks.json');
    expect(keys.size).toBe(3);
    expect(keys.certificates).toHaveLength(0);
    expect(keys.get('primary')?.publicKey.equals(p256.publicKey)).toBe(true);
    expect(keys.get(libtrustKeyId(p256.publicKey))?.publicKey.equals(p256.publicKey)).toBe(true);
    expect(keys.get(libtrustKeyId(rsa.publicKey))?.alg).toBe('PS256');
    expect(keys.get(libtrustKeyId(ed25519.publicKey))?.publicKey.asymmetricKeyType).toBe('ed25519');
  });

  it.each([
    ['an oct key', { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }, /keys\[0\]: symmetric \(oct\)/],
    ['a private EC key', { keys: [{}, {}].map((_, index) => (index === 0 ? jwk(p256.publicKey) : jwk(p384.privateKey))) }, /keys\[1\]: a private key/],
    ['a private RSA key', { keys: [jwk(rsa.privateKey)] }, /a private key/],
    ['an encryption key', { keys: [jwk(p256.publicKey, { use: 'enc' })] }, /"use" must be "sig"/],
    ['an alg that does not fit', { keys: [jwk(p256.publicKey, { alg: 'HS256' })] }, /"alg" HS256 does not fit/],
    ['one kid for two keys', { keys: [jwk(p256.publicKey, { kid: 'k' }), jwk(p384.publicKey, { kid: 'k' })] }, /kid "k" names two different keys/],
    ['an unknown kty', { keys: [{ kty: 'XYZ' }] }, /unsupported "kty"/],
    ['an empty key list', { keys: [] }, /a JWKS must be/],
    ['a lone JWK', jwk(p256.publicKey), /a JWKS must be/],
  ])('refuses %s', (_name, document, pattern) => {
    expectError(() => parseTrustedKeys(JSON.stringify(document), 'jwks.json'), pattern);
  });

  it('refuses invalid JSON', () => {
    expectError(() => parseTrustedKeys('{"keys": [', 'jwks.json'), /^jwks\.json: not valid JSON/);
  });
});

describe('loadTrustedKeys', () => {
  const directories: string[] = [];
  afterAll(async () => {
    for (const directory of directories) await rm(directory, { recursive: true, force: true });
  });

  it('reads a file and names it in errors', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'berth-token-keys-'));
    directories.push(directory);
    const good = join(directory, 'root.pem');
    await writeFile(good, spkiPem(p256.publicKey));
    expect((await loadTrustedKeys(good)).get(libtrustKeyId(p256.publicKey))).toBeDefined();
    const missing = join(directory, 'missing.pem');
    await expect(loadTrustedKeys(missing)).rejects.toThrow(new TrustedKeysError(`${missing}: cannot read trusted keys (ENOENT)`));
  });
});
