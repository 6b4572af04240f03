import { type MetadataStore, type LibtrustKey } from '@berth/core';
import { generateLibtrustKey, libtrustKeyFromJwk, libtrustKeyFromText, libtrustKeyToJwk } from '@berth/core/internal';

/** Where the schema1 signing key lives in the metadata store's settings, so every instance signs alike. */
export const SIGNING_KEY_SETTING = 'schema1.signing-key.jwk';

/**
 * The registry's schema1 signing key: the configured one (PEM or libtrust JWK text), or the one kept
 * with the metadata, generated on first use. Stored keys survive restarts and are shared by every
 * instance on the same metadata store; `getOrSetSetting` makes racing first starts agree on one key.
 */
export async function resolveSigningKey(metadata: MetadataStore, configured?: string): Promise<LibtrustKey> {
  if (configured !== undefined) return libtrustKeyFromText(configured);
  const stored = await metadata.getOrSetSetting(SIGNING_KEY_SETTING, libtrustKeyToJwk(generateLibtrustKey()));
  return libtrustKeyFromJwk(stored);
}
