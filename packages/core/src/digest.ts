import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.js';

/** Digest algorithms berth accepts, with the length of their lowercase hex encoding. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;
/** A digest algorithm berth accepts (sha256, sha512). */
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

/** A digest split into its algorithm and hex value. */
export interface ParsedDigest {
  /** The algorithm before the colon (`sha256` or `sha512`). */
  algorithm: DigestAlgorithm;
  /** The lowercase hex encoding after the colon, of the algorithm's length. */
  hex: string;
  /** `algorithm:hex`, the canonical string. */
  value: string;
}

// The OCI grammar for any digest: algorithm-component(separator component)* ":" encoded.
const DIGEST_SHAPE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** True when the string has the shape of a digest (so it is not a tag), whether or not berth supports it. */
export function looksLikeDigest(value: string): boolean {
  return value.includes(':');
}

/** Parses a digest strictly: a supported algorithm and lowercase hex of the right length, else DIGEST_INVALID. */
export function parseDigest(value: string): ParsedDigest {
  if (!DIGEST_SHAPE.test(value)) throw new RegistryError('DIGEST_INVALID', `invalid digest "${value}"`);
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (!(algorithm in DIGEST_ALGORITHMS)) {
    throw new RegistryError('DIGEST_INVALID', `unsupported digest algorithm "${algorithm}"`);
  }
  const length = DIGEST_ALGORITHMS[algorithm as DigestAlgorithm];
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) {
    throw new RegistryError('DIGEST_INVALID', `invalid ${algorithm} digest "${value}"`);
  }
  return { algorithm: algorithm as DigestAlgorithm, hex, value };
}

/** Whether a string is a well-formed digest of an algorithm berth accepts. */
export function isValidDigest(value: string): boolean {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

/** A streaming hash for digests of the algorithm (sha256 unless told). */
export function createDigestHash(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

/** The digest of a byte string, `sha256:<hex>` by default. */
export function digestOf(bytes: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}
