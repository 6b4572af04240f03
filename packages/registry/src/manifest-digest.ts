import { RegistryError, digestOf, parseDigest } from '@berth/core';
import type { ParsedManifest } from '@berth/core/internal';

/** A push by digest must hash to that digest, in the digest's own algorithm. */
export function verifyDigest(expected: string, bytes: Uint8Array, manifest: ParsedManifest): string {
  const { algorithm } = parseDigest(expected);
  // Signed schema1 is addressed by its payload without signatures, which the parser already hashed.
  const actual = manifest.kind === 'schema1' && algorithm === 'sha256' ? manifest.digest : digestOf(bytes, algorithm);
  if (actual !== expected) {
    throw new RegistryError('DIGEST_INVALID', `manifest digest ${actual} does not match ${expected}`, {
      detail: { expected, actual },
    });
  }
  return expected;
}
