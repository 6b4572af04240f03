import { describe, expect, it } from 'vitest';
import { parseDockerManifestList } from '../src/manifest/docker-list.js';
import { parseManifest } from '../src/manifest/parse.js';
import {
  BROKEN_DESCRIPTORS,
  CHILD_AMD64,
  CHILD_ARM64,
  dockerList,
  encode,
  expectManifestInvalid,
  withField,
} from './manifest-fixtures.js';

const LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

const parse = (document: unknown) => parseDockerManifestList(document, encode(document));

describe('Docker manifest list', () => {
  it('parses children with their platforms as manifest references', () => {
    const parsed = parseManifest(encode(dockerList()), LIST);
    expect(parsed.kind).toBe('docker-list');
    expect(parsed.mediaType).toBe(LIST);
    expect(parsed.manifests).toHaveLength(2);
    expect(parsed.manifests[1]?.platform).toEqual({ architecture: 'arm64', os: 'linux', variant: 'v8' });
    expect(parsed.manifestReferences).toEqual([CHILD_AMD64, CHILD_ARM64]);
    expect(parsed.blobReferences).toEqual([]);
    expect(parsed.layers).toEqual([]);
    expect(parsed.config).toBeUndefined();
  });

  it('lists a child named twice once', () => {
    const document = dockerList();
    const manifests = document['manifests'] as Array<Record<string, unknown>>;
    manifests.push({ ...manifests[0], platform: { architecture: 'amd64', os: 'windows' } });
    expect(parse(document).manifestReferences).toEqual([CHILD_AMD64, CHILD_ARM64]);
  });

  it('accepts an empty list and the full platform vocabulary', () => {
    expect(parse(withField(dockerList(), 'manifests', [])).manifestReferences).toEqual([]);
    const platform = {
      architecture: 'amd64',
      os: 'windows',
      'os.version': '10.0.17763.1879',
      'os.features': ['win32k'],
      features: ['sse4'],
    };
    expect(parse(withField(dockerList(), 'manifests.0.platform', platform)).manifests[0]?.platform).toEqual(platform);
  });

  it.each([
    ['missing mediaType', 'mediaType', undefined, 'mediaType: required field is missing'],
    ['schema2 mediaType', 'mediaType', 'application/vnd.docker.distribution.manifest.v2+json', `must be "${LIST}"`],
    ['missing manifests', 'manifests', undefined, 'manifests: required field is missing'],
    ['manifests not an array', 'manifests', { a: 1 }, 'manifests'],
    ['a child without platform', 'manifests.0.platform', undefined, 'manifests[0].platform: required field is missing'],
    ['a platform without os', 'manifests.1.platform.os', undefined, 'manifests[1].platform.os: required field is missing'],
    ['a numeric architecture', 'manifests.0.platform.architecture', 64, 'manifests[0].platform.architecture'],
    ['os.features not an array', 'manifests.0.platform.os.features', 'win32k', 'os.features'],
    ['schemaVersion 3', 'schemaVersion', 3, 'schemaVersion must be 2'],
    ['a config field', 'config', {}, 'must not have "config"'],
    ['a layers field', 'layers', [], 'must not have "layers"'],
  ])('refuses %s', (_what, field, value, fragment) => {
    // `os.features` has a dot in its name: set it by hand rather than through the dotted path helper.
    const document =
      field === 'manifests.0.platform.os.features'
        ? withField(dockerList(), 'manifests.0.platform', { architecture: 'amd64', os: 'windows', 'os.features': value })
        : withField(dockerList(), field, value);
    expectManifestInvalid(() => parse(document), 'Docker manifest list', fragment);
  });

  it.each(BROKEN_DESCRIPTORS)('refuses a child with %s', (_what, field, value, fragment) => {
    const error = expectManifestInvalid(() => parse(withField(dockerList(), `manifests.1.${field}`, value)), fragment);
    expect(error.message).toContain(`manifests[1].${field}`);
  });
});
