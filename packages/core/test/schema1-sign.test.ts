import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { digestOf } from '../src/digest.js';
import { RegistryError } from '../src/errors.js';
import { generateLibtrustKey, libtrustKeyId, libtrustPublicJwk } from '../src/schema1/libtrust-key.js';
import { parseSchema1Manifest } from '../src/schema1/manifest.js';
import { prettyJwsBytes } from '../src/schema1/pretty-jws.js';
import { signSchema1Payload } from '../src/schema1/sign.js';

const reference = (name: string): string =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

const canonical = reference('testvector-schema1-canonical.json');
const signedByReference = reference('testvector-schema1-converted.json');
const referenceSignature = (JSON.parse(signedByReference) as {
  signatures: Array<{ header: { jwk: Record<string, string> }; signature: string; protected: string }>;
}).signatures[0]!;
const REFERENCE_TIME = new Date('2026-11-27T09:00:22.000Z');

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');
const encode = (value: string): Uint8Array => new TextEncoder().encode(value);

function expectRegistryError(action: () => unknown, code: string): void {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).code).toBe(code);
    return;
  }
  expect.fail(`expected RegistryError ${code}`);
}

describe('signSchema1Payload', () => {
  it('writes the prettyjws layout of libtrust: only the key fields and the signature differ from 2.8', () => {
    const key = generateLibtrustKey();
    const signed = text(signSchema1Payload(encode(canonical), key, REFERENCE_TIME));
    const ours = (JSON.parse(signed) as { signatures: typeof referenceSignature[] }).signatures[0]!;
    // Same payload, same formatLength/formatTail and time: the protected header is byte-identical.
    expect(ours.protected).toBe(referenceSignature.protected);
    const jwk = libtrustPublicJwk(key);
    const expected = signedByReference
      .replace(referenceSignature.header.jwk['kid']!, jwk.kid)
      .replace(referenceSignature.header.jwk['x']!, jwk.x)
      .replace(referenceSignature.header.jwk['y']!, jwk.y)
      .replace(referenceSignature.signature, ours.signature);
    expect(signed).toBe(expected);
    expect(ours.signature).toMatch(/^[A-Za-z0-9_-]{86}$/);
  });

  it('round-trips: the signed document parses, verifies and keeps the payload digest', () => {
    const key = generateLibtrustKey();
    const signed = signSchema1Payload(encode(canonical), key);
    const parsed = parseSchema1Manifest(signed);
    expect(parsed.digest).toBe(digestOf(canonical));
    const protectedHeader = JSON.parse(
      Buffer.from((JSON.parse(text(signed)) as { signatures: Array<{ protected: string }> }).signatures[0]!.protected, 'base64url').toString(),
    ) as Record<string, unknown>;
    expect(Object.keys(protectedHeader)).toEqual(['formatLength', 'formatTail', 'time']);
    expect(protectedHeader['formatLength']).toBe(canonical.length - 2);
    expect(protectedHeader['formatTail']).toBe('Cn0');
    expect(protectedHeader['time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('signs compact payloads in libtrust compact form, keeping a non-standard tail', () => {
    const key = generateLibtrustKey();
    const compact = JSON.stringify(JSON.parse(canonical));
    const payload = `${compact} \n`;
    const signed = text(signSchema1Payload(encode(payload), key, REFERENCE_TIME));
    expect(signed.startsWith(`${compact.slice(0, -1)},"signatures":[{"header":{"jwk":{"crv":"P-256","kid":"${key.kid}"`)).toBe(true);
    expect(signed.endsWith('}]}')).toBe(true);
    expect(parseSchema1Manifest(encode(signed)).digest).toBe(digestOf(payload));
  });

  it('refuses payloads that are not a JSON object or end in a comma', () => {
    const key = generateLibtrustKey();
    expectRegistryError(() => signSchema1Payload(encode('[1]'), key), 'MANIFEST_INVALID');
    expectRegistryError(() => signSchema1Payload(encode('nope'), key), 'MANIFEST_INVALID');
  });
});

describe('signature verification', () => {
  const key = generateLibtrustKey();
  const signed = text(signSchema1Payload(encode(canonical), key, REFERENCE_TIME));

  it('fails with MANIFEST_UNVERIFIED when the payload is edited after signing', () => {
    const tampered = signed.replace('"tag": "latest"', '"tag": "oldest"');
    expect(tampered).not.toBe(signed);
    expectRegistryError(() => parseSchema1Manifest(encode(tampered)), 'MANIFEST_UNVERIFIED');
    // Without verification the edited document still parses, with the digest of what it now says.
    const unverified = parseSchema1Manifest(encode(tampered), { verifySignatures: false });
    expect(unverified.digest).toBe(digestOf(canonical.replace('"tag": "latest"', '"tag": "oldest"')));
  });

  it('fails with MANIFEST_UNVERIFIED for a signature by another key or with a mismatched alg', () => {
    const other = libtrustPublicJwk(generateLibtrustKey());
    const ownJwk = libtrustPublicJwk(key);
    const swapped = signed.replace(ownJwk.kid, other.kid).replace(ownJwk.x, other.x).replace(ownJwk.y, other.y);
    expectRegistryError(() => parseSchema1Manifest(encode(swapped)), 'MANIFEST_UNVERIFIED');
    expectRegistryError(() => parseSchema1Manifest(encode(signed.replace('"ES256"', '"ES384"'))), 'MANIFEST_UNVERIFIED');
  });

  it('fails with MANIFEST_UNVERIFIED when a signature carries no key', () => {
    const withoutKey = signed.replace(/"jwk": \{[^}]*\},\s*/, '');
    expect(withoutKey).not.toContain('"jwk"');
    expectRegistryError(() => parseSchema1Manifest(encode(withoutKey)), 'MANIFEST_UNVERIFIED');
  });

  it('treats unreadable signatures and keys as MANIFEST_INVALID', () => {
    const { signature } = (JSON.parse(signed) as { signatures: Array<{ signature: string }> }).signatures[0]!;
    expectRegistryError(() => parseSchema1Manifest(encode(signed.replace(signature, signature.slice(2)))), 'MANIFEST_INVALID');
    expectRegistryError(() => parseSchema1Manifest(encode(signed.replace(signature, `${signature.slice(1)}!`))), 'MANIFEST_INVALID');
    expectRegistryError(() => parseSchema1Manifest(encode(signed.replace(key.kid, generateLibtrustKey().kid))), 'MANIFEST_INVALID');
    expectRegistryError(() => parseSchema1Manifest(encode(signed.replace('"crv": "P-256"', '"crv": "P-999"'))), 'MANIFEST_INVALID');
  });

  it('verifies every signature of a multi-signature document, RSA keys included', () => {
    const payload = encode(canonical);
    const second = JSON.parse(text(signSchema1Payload(payload, generateLibtrustKey(), REFERENCE_TIME))) as {
      signatures: Array<{ header: { jwk: Record<string, string> }; signature: string; protected: string }>;
    };
    const first = (JSON.parse(signed) as typeof second).signatures[0]!;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rsaJwk = rsa.publicKey.export({ format: 'jwk' });
    const rsaSignature = sign(
      'sha256',
      Buffer.from(`${first.protected}.${Buffer.from(payload).toString('base64url')}`),
      rsa.privateKey,
    ).toString('base64url');
    const blocks = [first, second.signatures[0]!, {
      header: { jwk: { e: rsaJwk.e!, kid: libtrustKeyId(rsa.publicKey), kty: 'RSA', n: rsaJwk.n! } },
      signature: rsaSignature,
      protected: first.protected,
    }];
    const encoded = blocks.map((block, index) => ({
      kid: block.header.jwk['kid']!,
      jwk: encode(JSON.stringify(block.header.jwk)),
      alg: index === 2 ? 'RS256' : 'ES256',
      signature: block.signature,
      protected: block.protected,
    }));
    const document = prettyJwsBytes(payload, encoded);
    expect(parseSchema1Manifest(document).digest).toBe(digestOf(canonical));
    // Sorted by kid, as libtrust's PrettySignature sorts them.
    const kids = (JSON.parse(text(document)) as typeof second).signatures.map((s) => s.header.jwk['kid']!);
    expect(kids).toEqual([...kids].sort());
    const broken = prettyJwsBytes(payload, encoded.map((s, i) => (i === 2 ? { ...s, signature: first.signature } : s)));
    expectRegistryError(() => parseSchema1Manifest(broken), 'MANIFEST_UNVERIFIED');
  });
});
