import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseDockerSchema2Manifest } from '../src/manifest/schema2.js';
import { parseManifest } from '../src/manifest/parse.js';
import {
  BROKEN_DESCRIPTORS,
  CONFIG_DIGEST,
  LAYER_A,
  LAYER_B,
  dockerSchema2,
  encode,
  expectManifestInvalid,
  withField,
} from './manifest-fixtures.js';

const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';

const parse = (document: unknown) => parseDockerSchema2Manifest(document, encode(document));

describe('Docker schema 2 manifest', () => {
  it('parses config, layers and references, digesting the exact bytes', () => {
    // Unusual whitespace and an unknown field: both must survive into the digest untouched.
    const text = JSON.stringify({ ...dockerSchema2(), 'x-extra': { kept: true } }, null, 3);
    const bytes = new TextEncoder().encode(text);
    const parsed = parseManifest(bytes, SCHEMA2);
    expect(parsed.kind).toBe('schema2');
    expect(parsed.mediaType).toBe(SCHEMA2);
    expect(parsed.digest).toBe(`sha256:${createHash('sha256').update(text).digest('hex')}`);
    expect(parsed.config).toEqual({
      mediaType: 'application/vnd.docker.container.image.v1+json',
      size: 1469,
      digest: CONFIG_DIGEST,
    });
    expect(parsed.layers.map((layer) => layer.digest)).toEqual([LAYER_A, LAYER_B]);
    expect(parsed.manifests).toEqual([]);
    expect(parsed.blobReferences).toEqual([CONFIG_DIGEST, LAYER_A, LAYER_B]);
    expect(parsed.manifestReferences).toEqual([]);
    expect(parsed.subject).toBeUndefined();
  });

  it('accepts an empty layer list', () => {
    expect(parse(withField(dockerSchema2(), 'layers', [])).blobReferences).toEqual([CONFIG_DIGEST]);
  });

  it('lists a blob used twice once', () => {
    const document = dockerSchema2();
    const layers = document['layers'] as Array<Record<string, unknown>>;
    layers.push({ ...layers[0] });
    document['config'] = { ...(document['config'] as object), digest: LAYER_B };
    expect(parse(document).blobReferences).toEqual([LAYER_B, LAYER_A]);
  });

  it('skips foreign layers with urls, but not foreign layers without them', () => {
    const foreign = {
      mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
      size: 1000,
      digest: LAYER_B,
      urls: ['https://mcr.microsoft.com/v2/windows/servercore/blobs/sha256:' + 'b'.repeat(64)],
    };
    const withUrls = withField(dockerSchema2(), 'layers', [foreign, { ...foreign, digest: LAYER_A, urls: undefined }]);
    const parsed = parse(withUrls);
    expect(parsed.layers).toHaveLength(2);
    expect(parsed.blobReferences).toEqual([CONFIG_DIGEST, LAYER_A]);
  });

  it('requires a layer that has urls but an ordinary media type', () => {
    const layer = { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 1, digest: LAYER_A, urls: ['https://example.com/a'] };
    expect(parse(withField(dockerSchema2(), 'layers', [layer])).blobReferences).toEqual([CONFIG_DIGEST, LAYER_A]);
  });

  it.each([
    ['missing mediaType', 'mediaType', undefined, 'mediaType: required field is missing'],
    ['OCI mediaType', 'mediaType', 'application/vnd.oci.image.manifest.v1+json', `must be "${SCHEMA2}"`],
    ['missing config', 'config', undefined, 'config: required field is missing'],
    ['config not an object', 'config', 'sha256:abc', 'config'],
    ['missing layers', 'layers', undefined, 'layers: required field is missing'],
    ['layers not an array', 'layers', {}, 'layers'],
    ['schemaVersion 1', 'schemaVersion', 1, 'schemaVersion must be 2'],
    ['schemaVersion as string', 'schemaVersion', '2', 'schemaVersion must be 2'],
    ['missing schemaVersion', 'schemaVersion', undefined, 'schemaVersion: required field is missing'],
    ['a manifests field', 'manifests', [], 'must not have "manifests"'],
  ])('refuses %s', (_what, field, value, fragment) => {
    expectManifestInvalid(() => parse(withField(dockerSchema2(), field, value)), 'Docker schema 2 manifest', fragment);
  });

  describe.each(['config', 'layers.1'])('descriptor %s', (where) => {
    it.each(BROKEN_DESCRIPTORS)('refuses %s', (_what, field, value, fragment) => {
      const path = where.replace('.', '[') + (where.includes('.') ? ']' : '');
      const error = expectManifestInvalid(() => parse(withField(dockerSchema2(), `${where}.${field}`, value)), fragment);
      expect(error.message).toContain(path);
      expect((error.detail as { issues: Array<{ path: string }> }).issues[0]?.path.startsWith(`${path}.${field}`)).toBe(true);
    });
  });

  it('reports several issues in the detail', () => {
    const broken = withField(withField(dockerSchema2(), 'config.size', -5), 'layers.0.digest', 'nope');
    const error = expectManifestInvalid(() => parse(broken));
    const paths = (error.detail as { issues: Array<{ path: string }> }).issues.map((issue) => issue.path);
    expect(paths).toEqual(expect.arrayContaining(['config.size', 'layers[0].digest']));
  });

  it('truncates a huge offending value in the message', () => {
    const error = expectManifestInvalid(() => parse(withField(dockerSchema2(), 'config.digest', 'x'.repeat(100_000))));
    expect(error.message.length).toBeLessThan(300);
  });
});
