import { X509Certificate } from 'node:crypto';
import { type MetadataStore, type LibtrustKey } from '@berth/core';
import { generateLibtrustKey, libtrustKeyFromJwk, libtrustKeyFromText, libtrustKeyToJwk } from '@berth/core/internal';
import { z } from 'zod';
import { createCertificate } from './certificate.js';

/** Where the generated token signing key lives in the metadata store's settings. */
export const TOKEN_SIGNING_KEY_SETTING = 'token.signing-key';

/** The key tokens are signed with, and its certificate (see {@link resolveTokenSigningKey}). */
export interface TokenSigningKey {
  /** ECDSA P-256: tokens are ES256, with the libtrust key ID as `kid`. */
  key: LibtrustKey;
  /** A self-signed certificate for the key: what a distribution registry takes as `rootcertbundle`. */
  certificatePem: string;
}

const CERTIFICATE_COMMON_NAME = 'berth token signer';
const CERTIFICATE_YEARS = 10;
/** Back-dated so that an instance whose clock runs a little behind still sees the certificate as valid. */
const CERTIFICATE_BACKDATE_MS = 60 * 60 * 1000;

const storedSchema = z.object({ jwk: z.string(), certificatePem: z.string() });

/**
 * The built-in token service's signing key: the configured one (PEM or libtrust JWK text of a P-256
 * key, given a certificate made now), or the one kept in the metadata store, generated on first use.
 * `getOrSetSetting` makes racing first starts of several instances agree on one key and certificate.
 */
export async function resolveTokenSigningKey(metadata: MetadataStore, configured?: string): Promise<TokenSigningKey> {
  if (configured !== undefined) {
    const key = parseConfiguredKey(configured);
    return { key, certificatePem: await createSigningCertificate(key) };
  }
  const generated = generateLibtrustKey();
  const candidate = JSON.stringify({ jwk: libtrustKeyToJwk(generated), certificatePem: await createSigningCertificate(generated) });
  return parseStored(await metadata.getOrSetSetting(TOKEN_SIGNING_KEY_SETTING, candidate));
}

function parseConfiguredKey(text: string): LibtrustKey {
  try {
    return libtrustKeyFromText(text);
  } catch (error) {
    throw new TypeError(`configured token signing key: ${(error as Error).message}`, { cause: error });
  }
}

function parseStored(text: string): TokenSigningKey {
  const corrupt = (problem: string, cause?: unknown) =>
    new Error(`stored token signing key (setting "${TOKEN_SIGNING_KEY_SETTING}") is unusable: ${problem}`, { cause });
  let stored: z.infer<typeof storedSchema>;
  let key: LibtrustKey;
  let certificate: X509Certificate;
  try {
    stored = storedSchema.parse(JSON.parse(text));
    key = libtrustKeyFromJwk(stored.jwk);
    certificate = new X509Certificate(stored.certificatePem);
  } catch (error) {
    throw corrupt((error as Error).message, error);
  }
  // A certificate for another key would have verifiers trust a key nobody signs with.
  if (!certificate.publicKey.equals(key.publicKey)) throw corrupt('the certificate is not for the key');
  return { key, certificatePem: stored.certificatePem };
}

/** A self-signed, ES256-signed end-entity certificate for the key, valid for ten years. */
export async function createSigningCertificate(key: LibtrustKey, nowMs: number = Date.now()): Promise<string> {
  const notAfter = new Date(nowMs);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CERTIFICATE_YEARS);
  return createCertificate({
    publicKey: key.publicKey,
    signingKey: key.privateKey,
    subject: CERTIFICATE_COMMON_NAME,
    notBefore: new Date(nowMs - CERTIFICATE_BACKDATE_MS),
    notAfter,
  });
}
