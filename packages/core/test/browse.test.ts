import { describe, expect, it } from 'vitest';
import { parseManifest } from '../src/manifest/parse.js';
import { parseImageConfigSummary } from '../src/browse/image-config.js';
import { summarizeImage, summarizeList } from '../src/browse/manifest-summary.js';
import { cosignTagsOf, referrerGroup } from '../src/browse/referrer-groups.js';
import { schema1Outcome } from '../src/browse/schema1-outcome.js';
import { CHILD_AMD64, CHILD_ARM64, dockerList, dockerSchema2, encode, ociArtifact, ociIndex, ociManifest, withField } from './manifest-fixtures.js';

const parsed = (document: Record<string, unknown>) => parseManifest(encode(document), document['mediaType'] as string);

describe('manifest summaries', () => {
  it('an image: its own bytes plus config and layers, and the config platform', () => {
    const manifest = parsed(dockerSchema2());
    expect(summarizeImage(manifest, 500, { os: 'linux', architecture: 'amd64' })).toEqual({
      totalSize: 500 + 1469 + 2811969 + 157,
      platforms: [{ os: 'linux', architecture: 'amd64' }],
    });
    expect(summarizeImage(manifest, 500, undefined).platforms).toEqual([]);
  });

  it("a list: its children's totals (else their descriptor sizes) and their platforms, once each", () => {
    const list = withField(dockerList(), 'manifests.2', { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', size: 528, digest: CHILD_AMD64, platform: { architecture: 'amd64', os: 'linux' } });
    expect(summarizeList(parsed(list), new Map([[CHILD_AMD64, 10_000]]))).toEqual({
      totalSize: 10_000 + 528 + 10_000,
      platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    });
  });

  it('an index: attestation children (unknown/unknown or no platform) are no platform', () => {
    const index = withField(ociIndex(), 'manifests.1.platform', { os: 'unknown', architecture: 'unknown' });
    expect(summarizeList(parsed(index), new Map()).platforms).toEqual([{ os: 'linux', architecture: 'amd64' }]);
  });
});

describe('image config summary', () => {
  it('reads platform, creation, entrypoint, command, env, labels and history', () => {
    const config = {
      os: 'linux',
      architecture: 'arm',
      variant: 'v7',
      created: '2024-05-06T07:08:09Z',
      config: { Entrypoint: ['/init'], Cmd: ['run'], Env: ['A=1'], Labels: { team: 'core', bad: 3 } },
      history: [{ created: '2024-05-06T07:08:09Z', created_by: 'RUN make', comment: 'buildkit' }, { created_by: 'CMD run', empty_layer: true }, 'junk'],
    };
    expect(parseImageConfigSummary(encode(config))).toEqual({
      platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
      created: '2024-05-06T07:08:09Z',
      entrypoint: ['/init'],
      cmd: ['run'],
      env: ['A=1'],
      labels: { team: 'core' },
      history: [{ created: '2024-05-06T07:08:09Z', createdBy: 'RUN make', comment: 'buildkit' }, { createdBy: 'CMD run', emptyLayer: true }],
    });
  });

  it('leaves out what is missing or of the wrong type, and refuses only what is not a JSON object', () => {
    expect(parseImageConfigSummary(encode({ architecture: 7, config: null, history: {} }))).toEqual({ env: [], labels: {}, history: [] });
    expect(parseImageConfigSummary(encode([1, 2]))).toBeUndefined();
    expect(parseImageConfigSummary(new TextEncoder().encode('{not json'))).toBeUndefined();
  });
});

describe('referrer groups', () => {
  it.each([
    ['application/vnd.dev.cosign.artifact.sig.v1+json', 'signature'],
    ['application/vnd.cncf.notary.signature', 'signature'],
    ['application/vnd.dev.sigstore.bundle.v0.3+json', 'signature'],
    ['application/spdx+json', 'sbom'],
    ['application/vnd.cyclonedx+json', 'sbom'],
    ['application/vnd.dev.cosign.artifact.sbom.v1+json', 'sbom'],
    ['application/vnd.in-toto+json', 'attestation'],
    ['application/vnd.dsse.envelope.v1+json', 'attestation'],
    ['application/vnd.example.thing', 'other'],
    [undefined, 'other'],
  ] as const)('%s is %s', (artifactType, group) => {
    expect(referrerGroup(artifactType)).toBe(group);
  });

  it("names cosign's tag-style tags of a digest", () => {
    expect(cosignTagsOf(`sha256:${'a'.repeat(64)}`).map(({ tag, group }) => `${tag} ${group}`)).toEqual([
      `sha256-${'a'.repeat(64)}.sig signature`,
      `sha256-${'a'.repeat(64)}.att attestation`,
      `sha256-${'a'.repeat(64)}.sbom sbom`,
    ]);
  });
});

describe('what a schema1 client gets', () => {
  it('schema2 and convertible OCI images are converted; artifacts are refused with the reason', () => {
    expect(schema1Outcome('schema2', () => parsed(dockerSchema2())).servedAs).toBe('converted');
    expect(schema1Outcome('oci-manifest', () => parsed(ociManifest())).servedAs).toBe('converted');
    const artifact = schema1Outcome('oci-manifest', () => parsed(ociArtifact()));
    expect(artifact).toEqual({ servedAs: 'none', note: expect.stringContaining('application/vnd.example.sbom.v1') });
  });

  it("a list serves the preferred platform's child, or nothing when it has none", () => {
    const amd64 = schema1Outcome('docker-list', () => parsed(dockerList()));
    expect(amd64).toEqual({ servedAs: 'converted', note: expect.stringContaining(`linux/amd64 image (${CHILD_AMD64})`) });
    const arm = schema1Outcome('docker-list', () => parsed(dockerList()), [{ os: 'linux', architecture: 'arm64' }]);
    expect(arm.note).toContain(CHILD_ARM64);
    expect(schema1Outcome('docker-list', () => parsed(dockerList()), [{ os: 'windows', architecture: 'amd64' }]).servedAs).toBe('none');
  });

  it('stored schema1 is served as it is', () => {
    expect(schema1Outcome('schema1', () => { throw new Error('not parsed'); }).servedAs).toBe('stored');
  });
});
