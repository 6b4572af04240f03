import { looksLikeDigest, parseDigest } from './digest.js';
import { RegistryError } from './errors.js';

// OCI distribution-spec grammar for repository names; path components joined by '/'.
const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_PATTERN = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Docker and distribution cap the whole name at 255 characters. */
export const MAX_NAME_LENGTH = 255;

export function isValidRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME_PATTERN.test(name);
}

export function assertRepositoryName(name: string): string {
  if (!isValidRepositoryName(name)) {
    throw new RegistryError('NAME_INVALID', `invalid repository name "${name}"`, { detail: { name } });
  }
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG_PATTERN.test(tag);
}

export type ManifestReference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: string };

/**
 * Classifies the `<reference>` of a manifest URL for a push, which names what it creates. Anything with a
 * colon is a digest and must parse strictly (distribution 2.8 treats a bad digest as a tag and answers 500;
 * berth answers DIGEST_INVALID); anything else must be a valid tag, else TAG_INVALID.
 */
export function parseManifestReference(reference: string): ManifestReference {
  if (looksLikeDigest(reference)) return { kind: 'digest', digest: parseDigest(reference).value };
  if (!isValidTag(reference)) {
    throw new RegistryError('TAG_INVALID', `invalid tag "${reference}"`, { detail: { tag: reference } });
  }
  return { kind: 'tag', tag: reference };
}

/**
 * Classifies the `<reference>` of a manifest URL for a lookup (GET, HEAD, DELETE). A malformed digest is
 * still DIGEST_INVALID, but a string that is neither a digest nor a valid tag names a manifest that cannot
 * exist, so it is MANIFEST_UNKNOWN (404): what distribution answers (its routes do not match it) and what the
 * OCI conformance suite expects of `GET /v2/<name>/manifests/.INVALID_MANIFEST_NAME`.
 */
export function parseManifestLookup(reference: string): ManifestReference {
  if (looksLikeDigest(reference)) return { kind: 'digest', digest: parseDigest(reference).value };
  if (!isValidTag(reference)) {
    throw new RegistryError('MANIFEST_UNKNOWN', `manifest unknown: "${reference}" is not a valid tag, so nothing can be tagged with it`, {
      detail: { tag: reference },
    });
  }
  return { kind: 'tag', tag: reference };
}
