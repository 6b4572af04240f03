/**
 * Tags that name a manifest instead of a version: cosign's `sha256-<hex>.sig` / `.att` / `.sbom` and the
 * OCI referrers tag schema's `sha256-<hex>`. They hang on the manifest of that digest (their subject).
 */
const REFERRER_TAG = /^(sha256-[0-9a-f]{64}|sha384-[0-9a-f]{96}|sha512-[0-9a-f]{128})(\.[A-Za-z0-9_.-]+)?$/;

/** The digest a referrer tag hangs on (`sha256-ab…cd.sig` -> `sha256:ab…cd`), undefined for any other tag. */
export function subjectOfReferrerTag(tag: string): string | undefined {
  const match = REFERRER_TAG.exec(tag);
  return match ? match[1]!.replace('-', ':') : undefined;
}
