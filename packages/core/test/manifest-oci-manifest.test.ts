import { describe, expect, it } from 'vitest';
import { parseOciImageManifest } from '../src/manifest/oci-manifest.js';
import { parseManifest } from '../src/manifest/parse.js';
import {
  BROKEN_DESCRIPTORS,
  CONFIG_DIGEST,
  EMPTY_JSON_DIGEST,
  LAYER_A,
  LAYER_B,
  SUBJECT_DIGEST,
  encode,
  expectManifestInvalid,
  ociArtifact,
  ociManifest,
  withField,
} from './manifest-fixtures.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const parse = (document: unknown) => parseOciImageManifest(document, encode(document));

describe('OCI image manifest', () => {
  it('parses an image: references, annotations, artifactType from the config', () => {
    const parsed = parseManifest(encode(ociManifest()), OCI_MANIFEST);
    expect(parsed.kind).toBe('oci-manifest');
    expect(parsed.mediaType).toBe(OCI_MANIFEST);
    expect(parsed.blobReferences).toEqual([CONFIG_DIGEST, LAYER_A, LAYER_B]);
    expect(parsed.manifestReferences).toEqual([]);
    expect(parsed.annotations).toEqual({ 'com.example.key1': 'value1' });
    expect(parsed.artifactType).toBe('application/vnd.oci.image.config.v1+json');
    expect(parsed.subject).toBeUndefined();
  });

  it('parses an artifact: explicit artifactType, subject kept but not a reference', () => {
    const parsed = parse(ociArtifact());
    expect(parsed.artifactType).toBe('application/vnd.example.sbom.v1');
    expect(parsed.subject).toEqual({ mediaType: OCI_MANIFEST, size: 1024, digest: SUBJECT_DIGEST });
    expect(parsed.blobReferences).toEqual([EMPTY_JSON_DIGEST, LAYER_A]);
    expect(parsed.blobReferences).not.toContain(SUBJECT_DIGEST);
    expect(parsed.manifestReferences).not.toContain(SUBJECT_DIGEST);
  });

  it('accepts an artifact with no layers, and one without mediaType', () => {
    const noLayers = withField(ociArtifact(), 'layers', []);
    expect(parse(noLayers).blobReferences).toEqual([EMPTY_JSON_DIGEST]);
    const parsed = parse(withField(ociManifest(), 'mediaType', undefined));
    expect(parsed.mediaType).toBe(OCI_MANIFEST);
  });

  it('takes the artifactType from a custom config (helm charts)', () => {
    const helm = withField(ociManifest(), 'config.mediaType', 'application/vnd.cncf.helm.config.v1+json');
    expect(parse(helm).artifactType).toBe('application/vnd.cncf.helm.config.v1+json');
  });

  it('keeps descriptor annotations, urls and artifactType, dropping unknown fields from the result', () => {
    const layer = {
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      size: 0,
      digest: LAYER_A,
      urls: ['https://example.com/layer'],
      annotations: { 'org.opencontainers.image.title': 'a.txt' },
      artifactType: 'application/vnd.example.file',
      'x-unknown': true,
    };
    const parsed = parse(withField(ociManifest(), 'layers', [layer]));
    const { 'x-unknown': _unknown, ...known } = layer;
    expect(parsed.layers).toEqual([known]);
  });

  it.each([
    ['OCI non-distributable layer', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'],
    ['Docker foreign layer', 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'],
  ])('does not require a %s with urls', (_what, mediaType) => {
    const external = { mediaType, size: 10, digest: LAYER_B, urls: ['https://example.com/b'] };
    const parsed = parse(withField(ociManifest(), 'layers.1', external));
    expect(parsed.blobReferences).toEqual([CONFIG_DIGEST, LAYER_A]);
    const withoutUrls = { mediaType, size: 10, digest: LAYER_B, urls: [] };
    expect(parse(withField(ociManifest(), 'layers.1', withoutUrls)).blobReferences).toContain(LAYER_B);
  });

  it.each([
    ['docker mediaType', 'mediaType', 'application/vnd.docker.distribution.manifest.v2+json', `must be "${OCI_MANIFEST}"`],
    ['index mediaType', 'mediaType', 'application/vnd.oci.image.index.v1+json', 'must be'],
    ['numeric mediaType', 'mediaType', 2, 'mediaType'],
    ['missing config', 'config', undefined, 'config: required field is missing'],
    ['missing layers', 'layers', undefined, 'layers: required field is missing'],
    ['layers null', 'layers', null, 'layers'],
    ['invalid artifactType', 'artifactType', 'not/a media type', 'artifactType: invalid media type'],
    ['annotations as array', 'annotations', ['a'], 'annotations'],
    ['subject not an object', 'subject', SUBJECT_DIGEST, 'subject'],
    ['a manifests field', 'manifests', [], 'must not have "manifests"'],
    ['schemaVersion 2.5', 'schemaVersion', 2.5, 'schemaVersion must be 2'],
  ])('refuses %s', (_what, field, value, fragment) => {
    expectManifestInvalid(() => parse(withField(ociArtifact(), field, value)), 'OCI image manifest', fragment);
  });

  describe.each(['config', 'layers.0', 'subject'])('descriptor %s', (where) => {
    it.each(BROKEN_DESCRIPTORS)('refuses %s', (_what, field, value, fragment) => {
      const path = where.replace('.0', '[0]');
      const error = expectManifestInvalid(() => parse(withField(ociArtifact(), `${where}.${field}`, value)), fragment);
      expect(error.message).toContain(`${path}.${field}`);
    });
  });
});
