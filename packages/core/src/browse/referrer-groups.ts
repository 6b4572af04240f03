/** How the browsing pages group a manifest's referrers. */
export type ReferrerGroup = 'signature' | 'sbom' | 'attestation' | 'other';

/** Artifact types of signatures: cosign (OCI 1.1 referrers), Notary v2 and Sigstore bundles. */
const SIGNATURE_TYPES = new Set([
  'application/vnd.dev.cosign.artifact.sig.v1+json',
  'application/vnd.dev.cosign.simplesigning.v1+json',
  'application/vnd.cncf.notary.signature',
]);

/**
 * The group of a referrer by its artifact type (or, for one without, its config or layer media type):
 * signatures, SBOMs (SPDX, CycloneDX, Syft and cosign's SBOM type) and attestations (in-toto, DSSE).
 */
export function referrerGroup(artifactType: string | undefined): ReferrerGroup {
  if (artifactType === undefined) return 'other';
  const type = artifactType.toLowerCase();
  if (SIGNATURE_TYPES.has(type) || type.startsWith('application/vnd.dev.sigstore.bundle')) return 'signature';
  if (/spdx|cyclonedx|syft|cosign\.artifact\.sbom/.test(type)) return 'sbom';
  if (/in-toto|intoto|dsse|cosign\.attestation|provenance/.test(type)) return 'attestation';
  return 'other';
}

/**
 * The tags cosign's tag-style scheme (before OCI referrers) stores a manifest's signature, attestations
 * and SBOM under: `sha256-<hex>.sig`, `.att` and `.sbom`, with the group each is.
 */
export function cosignTagsOf(digest: string): Array<{ tag: string; group: ReferrerGroup }> {
  const base = digest.replace(':', '-');
  return [
    { tag: `${base}.sig`, group: 'signature' },
    { tag: `${base}.att`, group: 'attestation' },
    { tag: `${base}.sbom`, group: 'sbom' },
  ];
}
