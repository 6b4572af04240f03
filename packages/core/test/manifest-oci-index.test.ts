import { describe, expect, it } from 'vitest';
import { parseOciImageIndex } from '../src/manifest/oci-index.js';
import { parseManifest } from '../src/manifest/parse.js';
import {
  BROKEN_DESCRIPTORS,
  CHILD_AMD64,
  CHILD_ARM64,
  SUBJECT_DIGEST,
  encode,
  expectManifestInvalid,
  ociIndex,
  withField,
} from './manifest-fixtures.js';

const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

const parse = (document: unknown) => parseOciImageIndex(document, encode(document));

describe('OCI image index', () => {
  it('parses children, with or without platform, as manifest references', () => {
    const parsed = parseManifest(encode(ociIndex()), OCI_INDEX);
    expect(parsed.kind).toBe('oci-index');
    expect(parsed.mediaType).toBe(OCI_INDEX);
    expect(parsed.manifests.map((child) => child.platform)).toEqual([{ architecture: 'amd64', os: 'linux' }, undefined]);
    expect(parsed.manifests[1]?.annotations).toEqual({ 'vnd.docker.reference.type': 'attestation-manifest' });
    expect(parsed.manifestReferences).toEqual([CHILD_AMD64, CHILD_ARM64]);
    expect(parsed.blobReferences).toEqual([]);
    expect(parsed.annotations).toEqual({ 'com.example.key1': 'value1' });
    expect(parsed.artifactType).toBeUndefined();
  });

  it('parses an index artifact with artifactType and subject; the subject is no reference', () => {
    const document = {
      ...ociIndex(),
      artifactType: 'application/vnd.example.signature.bundle',
      subject: { mediaType: OCI_INDEX, size: 300, digest: SUBJECT_DIGEST },
    };
    const parsed = parse(document);
    expect(parsed.artifactType).toBe('application/vnd.example.signature.bundle');
    expect(parsed.subject?.digest).toBe(SUBJECT_DIGEST);
    expect(parsed.manifestReferences).not.toContain(SUBJECT_DIGEST);
  });

  it('lists a child named twice once, and accepts an empty index without mediaType', () => {
    const document = ociIndex();
    const manifests = document['manifests'] as Array<Record<string, unknown>>;
    manifests.unshift({ ...manifests[1] });
    expect(parse(document).manifestReferences).toEqual([CHILD_ARM64, CHILD_AMD64]);
    const empty = withField(withField(ociIndex(), 'manifests', []), 'mediaType', undefined);
    expect(parse(empty)).toMatchObject({ mediaType: OCI_INDEX, manifests: [], manifestReferences: [] });
  });

  it.each([
    ['image manifest mediaType', 'mediaType', 'application/vnd.oci.image.manifest.v1+json', `must be "${OCI_INDEX}"`],
    ['missing manifests', 'manifests', undefined, 'manifests: required field is missing'],
    ['a child platform without architecture', 'manifests.0.platform.architecture', undefined, 'manifests[0].platform.architecture'],
    ['a config field', 'config', { mediaType: 'a/b' }, 'must not have "config"'],
    ['a layers field', 'layers', [], 'must not have "layers"'],
    ['invalid artifactType', 'artifactType', '', 'artifactType'],
    ['annotations with a null value', 'annotations', { a: null }, 'annotations'],
    ['schemaVersion 1', 'schemaVersion', 1, 'schemaVersion must be 2'],
  ])('refuses %s', (_what, field, value, fragment) => {
    expectManifestInvalid(() => parse(withField(ociIndex(), field, value)), 'OCI image index', fragment);
  });

  it.each(BROKEN_DESCRIPTORS)('refuses a child with %s', (_what, field, value, fragment) => {
    const error = expectManifestInvalid(() => parse(withField(ociIndex(), `manifests.0.${field}`, value)), fragment);
    expect(error.message).toContain(`manifests[0].${field}`);
  });

  it.each(BROKEN_DESCRIPTORS)('refuses a subject with %s', (_what, field, value, fragment) => {
    const document = { ...ociIndex(), subject: { mediaType: OCI_INDEX, size: 300, digest: SUBJECT_DIGEST } };
    const error = expectManifestInvalid(() => parse(withField(document, `subject.${field}`, value)), fragment);
    expect(error.message).toContain(`subject.${field}`);
  });
});
