import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  generateLibtrustKey,
  libtrustKeyFromJwk,
  libtrustKeyFromPem,
  libtrustKeyId,
  libtrustKeyToJwk,
  libtrustKeyToPem,
  libtrustPublicJwk,
  libtrustPublicJwkBytes,
} from '../src/schema1/libtrust-key.js';

const signedVector = JSON.parse(
  readFileSync(new URL('./fixtures/testvector-schema1-converted.json', import.meta.url), 'utf8'),
) as { signatures: Array<{ header: { jwk: { kid: string; x: string; y: string } } }> };

const KID_SHAPE = /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/;

describe('libtrust key ID', () => {
  it('matches the kid the real libtrust wrote into the 2.8 test vector', () => {
    const { kid, x, y } = signedVector.signatures[0]!.header.jwk;
    const publicKey = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x, y }, format: 'jwk' });
    expect(libtrustKeyId(publicKey)).toBe(kid);
    expect(kid).toBe('WZOX:TT75:PQ3A:25OM:RK6I:5LMM:TJ5B:RIIQ:M4FL:IH2R:HHQX:KNJY');
  });

  it('is 12 groups of 4 base32 characters and differs between keys', () => {
    const first = generateLibtrustKey();
    const second = generateLibtrustKey();
    expect(first.kid).toMatch(KID_SHAPE);
    expect(second.kid).toMatch(KID_SHAPE);
    expect(first.kid).not.toBe(second.kid);
  });

  it('works for RSA keys too (libtrust hashes the DER SubjectPublicKeyInfo of any key)', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(libtrustKeyId(publicKey)).toMatch(KID_SHAPE);
  });
});

describe('libtrust JWK', () => {
  it('exports the private key with sorted members and loads it back to the same key', () => {
    const key = generateLibtrustKey();
    const text = libtrustKeyToJwk(key);
    const members = JSON.parse(text) as Record<string, string>;
    expect(Object.keys(members)).toEqual(['crv', 'd', 'kid', 'kty', 'x', 'y']);
    expect(members).toMatchObject({ crv: 'P-256', kty: 'EC', kid: key.kid });
    for (const name of ['d', 'x', 'y']) expect(members[name]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const loaded = libtrustKeyFromJwk(text);
    expect(loaded.kid).toBe(key.kid);
    expect(libtrustPublicJwk(loaded)).toEqual(libtrustPublicJwk(key));
    expect(libtrustKeyFromJwk(members).kid).toBe(key.kid);
  });

  it('writes the public JWK of a signature header in libtrust order crv, kid, kty, x, y', () => {
    const key = generateLibtrustKey();
    const jwk = JSON.parse(Buffer.from(libtrustPublicJwkBytes(key)).toString('utf8')) as Record<string, string>;
    expect(Object.keys(jwk)).toEqual(['crv', 'kid', 'kty', 'x', 'y']);
  });

  it('refuses a JWK whose kid does not match, whose d is not its own, or that is not P-256', () => {
    const key = generateLibtrustKey();
    const other = generateLibtrustKey();
    const members = JSON.parse(libtrustKeyToJwk(key)) as Record<string, string>;
    const otherMembers = JSON.parse(libtrustKeyToJwk(other)) as Record<string, string>;
    expect(() => libtrustKeyFromJwk({ ...members, kid: other.kid })).toThrow(TypeError);
    expect(() => libtrustKeyFromJwk({ ...members, d: otherMembers['d']! })).toThrow(TypeError);
    expect(() => libtrustKeyFromJwk({ ...members, crv: 'P-384' })).toThrow(TypeError);
    expect(() => libtrustKeyFromJwk({ ...members, x: members['x']!.slice(1) })).toThrow(TypeError);
    expect(() => libtrustKeyFromJwk('not json')).toThrow(TypeError);
    const { kid: _kid, ...withoutKid } = members;
    expect(libtrustKeyFromJwk(withoutKid).kid).toBe(key.kid);
  });

  it('keeps unknown JWK members as libtrust extended fields, shown in the signature JWK', () => {
    const key = generateLibtrustKey();
    const loaded = libtrustKeyFromJwk({ ...(JSON.parse(libtrustKeyToJwk(key)) as object), use: 'sig' });
    expect(loaded.extendedFields).toEqual({ use: 'sig' });
    expect(Object.keys(JSON.parse(Buffer.from(libtrustPublicJwkBytes(loaded)).toString()) as object)).toEqual([
      'crv', 'kid', 'kty', 'use', 'x', 'y',
    ]);
  });
});

describe('libtrust PEM', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const expectedKid = libtrustKeyId(createPublicKey(privateKey));

  it('loads PKCS#8 and SEC1 ("EC PRIVATE KEY") keys', () => {
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const sec1 = privateKey.export({ type: 'sec1', format: 'pem' }).toString();
    expect(sec1).toContain('BEGIN EC PRIVATE KEY');
    expect(libtrustKeyFromPem(pkcs8).kid).toBe(expectedKid);
    expect(libtrustKeyFromPem(sec1).kid).toBe(expectedKid);
    expect(libtrustKeyFromPem(new TextEncoder().encode(sec1)).kid).toBe(expectedKid);
    expect(libtrustKeyFromPem(libtrustKeyToPem(libtrustKeyFromPem(sec1))).kid).toBe(expectedKid);
  });

  it('skips an EC PARAMETERS block and turns PEM headers into extended fields, as libtrust does', () => {
    const body = privateKey.export({ type: 'sec1', format: 'pem' }).toString().split('\n').slice(1).join('\n');
    const pem =
      '-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n' +
      `-----BEGIN EC PRIVATE KEY-----\nkeyID: ${expectedKid}\nhosts: a.example,b.example\n\n${body}`;
    const key = libtrustKeyFromPem(pem);
    expect(key.kid).toBe(expectedKid);
    expect(key.extendedFields).toEqual({ keyID: expectedKid, hosts: ['a.example', 'b.example'] });
    const jwk = JSON.parse(Buffer.from(libtrustPublicJwkBytes(key)).toString()) as Record<string, unknown>;
    expect(Object.keys(jwk)).toEqual(['crv', 'hosts', 'keyID', 'kid', 'kty', 'x', 'y']);
  });

  it('refuses keys that are not P-256 and text without a private key', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    expect(() => libtrustKeyFromPem(p384.toString())).toThrow(TypeError);
    expect(() => libtrustKeyFromPem(rsa.toString())).toThrow(TypeError);
    expect(() => libtrustKeyFromPem('hello')).toThrow(TypeError);
    expect(() => libtrustKeyFromPem('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')).toThrow(TypeError);
  });
});
