import { X509Certificate } from 'node:crypto';
import { type MetadataStore } from '@berth/core';
import { generateLibtrustKey, libtrustKeyId, libtrustKeyToJwk, libtrustKeyToPem } from '@berth/core/internal';
import { describe, expect, it } from 'vitest';
import { createTokenIssuer } from '../src/token-issuer.js';
import { parseTrustedKeys } from '../src/token-keys.js';
import { resolveTokenSigningKey, TOKEN_SIGNING_KEY_SETTING } from '../src/token-signing-key.js';
import { createTokenVerifier } from '../src/token-verifier.js';

/** Only the settings part of a metadata store, with getOrSetSetting's first-writer-wins contract. */
function settingsStore(): MetadataStore & { settings: Map<string, string> } {
  const settings = new Map<string, string>();
  const store = {
    settings,
    async getOrSetSetting(key: string, value: string): Promise<string> {
      await new Promise((resolve) => setImmediate(resolve)); // let racing callers interleave
      if (!settings.has(key)) settings.set(key, value);
      return settings.get(key)!;
    },
  };
  return store as unknown as MetadataStore & { settings: Map<string, string> };
}

describe('resolveTokenSigningKey', () => {
  it('generates a key once, keeps it in the store and returns it again', async () => {
    const store = settingsStore();
    const first = await resolveTokenSigningKey(store);
    const second = await resolveTokenSigningKey(store);
    expect(second.key.kid).toBe(first.key.kid);
    expect(second.key.privateKey.equals(first.key.privateKey)).toBe(true);
    expect(second.certificatePem).toBe(first.certificatePem);
    expect(JSON.parse(store.settings.get(TOKEN_SIGNING_KEY_SETTING)!)).toEqual({ jwk: libtrustKeyToJwk(first.key), certificatePem: first.certificatePem });
  });

  it('agrees on one key when first starts race', async () => {
    const store = settingsStore();
    const resolved = await Promise.all([resolveTokenSigningKey(store), resolveTokenSigningKey(store), resolveTokenSigningKey(store)]);
    expect(new Set(resolved.map((signing) => signing.key.kid)).size).toBe(1);
  });

  it('makes a ten-year, self-signed ES256 certificate for the key', async () => {
    const before = Date.now();
    const { key, certificatePem } = await resolveTokenSigningKey(settingsStore());
    const certificate = new X509Certificate(certificatePem);
    expect(certificate.publicKey.equals(key.publicKey)).toBe(true);
    expect(libtrustKeyId(certificate.publicKey)).toBe(key.kid);
    expect(certificate.subject).toBe('CN=berth token signer');
    expect(certificate.issuer).toBe(certificate.subject);
    expect(certificate.verify(key.publicKey)).toBe(true);
    expect(certificate.ca).toBe(false);
    expect(Date.parse(certificate.validFrom)).toBeLessThanOrEqual(before);
    const years = (Date.parse(certificate.validTo) - before) / (365.25 * 24 * 3600 * 1000);
    expect(years).toBeGreaterThan(9.99);
    expect(years).toBeLessThan(10.01);
    // ecdsa-with-SHA256 (1.2.840.10045.4.3.2), as DER in the certificate's outer signatureAlgorithm.
    expect(certificate.raw.includes(Buffer.from('06082a8648ce3d040302', 'hex'))).toBe(true);
  });

  it('uses a configured PEM or JWK key, without touching the store', async () => {
    const configured = generateLibtrustKey();
    const store = settingsStore();
    for (const text of [libtrustKeyToPem(configured), libtrustKeyToJwk(configured)]) {
      const { key, certificatePem } = await resolveTokenSigningKey(store, text);
      expect(key.kid).toBe(configured.kid);
      expect(new X509Certificate(certificatePem).publicKey.equals(configured.publicKey)).toBe(true);
    }
    expect(store.settings.size).toBe(0);
  });

  it('refuses a configured key that is not P-256', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await expect(resolveTokenSigningKey(settingsStore(), rsa)).rejects.toThrow(/^configured token signing key: /);
    await expect(resolveTokenSigningKey(settingsStore(), '{"kty":"oct","k":"c2VjcmV0"}')).rejects.toThrow(/^configured token signing key: /);
  });

  it('refuses a stored setting that is corrupt or whose certificate is for another key', async () => {
    const store = settingsStore();
    store.settings.set(TOKEN_SIGNING_KEY_SETTING, 'not json');
    await expect(resolveTokenSigningKey(store)).rejects.toThrow(/setting "token\.signing-key"/);
    const good = await resolveTokenSigningKey(settingsStore());
    store.settings.set(TOKEN_SIGNING_KEY_SETTING, JSON.stringify({ jwk: libtrustKeyToJwk(generateLibtrustKey()), certificatePem: good.certificatePem }));
    await expect(resolveTokenSigningKey(store)).rejects.toThrow(/the certificate is not for the key/);
  });

  it('signs tokens a verifier trusting only the stored certificate accepts, across restarts', async () => {
    const store = settingsStore();
    const issuer = createTokenIssuer({ issuer: 'berth', service: 'svc', signingKey: await resolveTokenSigningKey(store) });
    const { token } = await issuer.issueAccessToken('alice', [{ type: 'repository', name: 'app', actions: ['pull'] }]);
    const restarted = await resolveTokenSigningKey(store);
    const verifier = createTokenVerifier({ issuer: 'berth', service: 'svc', keys: parseTrustedKeys(restarted.certificatePem, 'stored') });
    expect((await verifier.verify(token)).access).toEqual([{ type: 'repository', name: 'app', actions: ['pull'] }]);
  });
});
