import { describe, expect, it } from 'vitest';
import { parseManifest } from '../src/manifest/parse.js';
import { assertDescriptorSizes, referencedDescriptors, type ReferencedDescriptor } from '../src/manifest/references.js';
import {
  CHILD_AMD64,
  CHILD_ARM64,
  CONFIG_DIGEST,
  LAYER_A,
  LAYER_B,
  dockerList,
  dockerSchema2,
  encode,
  expectManifestInvalid,
  ociArtifact,
  ociIndex,
  ociManifest,
  withField,
  type Json,
} from './manifest-fixtures.js';

const TYPES: Record<string, string> = {
  schema2: 'application/vnd.docker.distribution.manifest.v2+json',
  list: 'application/vnd.docker.distribution.manifest.list.v2+json',
  oci: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
};

const parse = (document: Json, type: string) => parseManifest(encode(document), type);

/** Sizes of what is "stored", by digest; anything else is unknown. */
const storedSizes = (sizes: Record<string, number>) => (reference: ReferencedDescriptor) => sizes[reference.descriptor.digest];

describe('referencedDescriptors', () => {
  it('names the config and each layer of an image manifest, in document order', () => {
    const refs = referencedDescriptors(parse(ociManifest(), TYPES.oci!));
    expect(refs.map(({ path, target, descriptor }) => [path, target, descriptor.digest, descriptor.size])).toEqual([
      ['config', 'blob', CONFIG_DIGEST, 7023],
      ['layers[0]', 'blob', LAYER_A, 32654],
      ['layers[1]', 'blob', LAYER_B, 16724],
    ]);
  });

  it('keeps each descriptor, even two of one digest (each declares its own size)', () => {
    const twice = withField(dockerSchema2(), 'layers.1.digest', LAYER_A);
    expect(referencedDescriptors(parse(twice, TYPES.schema2!)).map((ref) => ref.path)).toEqual(['config', 'layers[0]', 'layers[1]']);
  });

  it('leaves out a foreign layer fetched from its urls, and the subject', () => {
    const foreign = withField(ociArtifact(), 'layers', [
      { mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', size: 10, digest: LAYER_B, urls: ['https://example.com/b'] },
    ]);
    expect(referencedDescriptors(parse(foreign, TYPES.oci!)).map((ref) => ref.path)).toEqual(['config']);
  });

  it('names the children of lists and indexes as manifests', () => {
    for (const [document, type] of [[dockerList(), TYPES.list!], [ociIndex(), TYPES.index!]] as const) {
      const refs = referencedDescriptors(parse(document, type));
      expect(refs.map(({ path, target, descriptor }) => [path, target, descriptor.digest])).toEqual([
        ['manifests[0]', 'manifest', CHILD_AMD64],
        ['manifests[1]', 'manifest', CHILD_ARM64],
      ]);
    }
  });

  it('has nothing for schema1, whose fsLayers have no sizes', () => {
    const manifest = { ...parse(ociManifest(), TYPES.oci!), kind: 'schema1' as const };
    expect(referencedDescriptors(manifest)).toEqual([]);
  });
});

describe('assertDescriptorSizes', () => {
  const image = () => parse(ociManifest(), TYPES.oci!);

  it('passes when every stored size matches, and when nothing is known', () => {
    expect(() => assertDescriptorSizes(image(), storedSizes({ [CONFIG_DIGEST]: 7023, [LAYER_A]: 32654, [LAYER_B]: 16724 }))).not.toThrow();
    expect(() => assertDescriptorSizes(image(), () => undefined)).not.toThrow();
  });

  it('refuses a layer whose size is not the stored blob size, naming it, its digest and both sizes', () => {
    const error = expectManifestInvalid(
      () => assertDescriptorSizes(image(), storedSizes({ [CONFIG_DIGEST]: 7023, [LAYER_A]: 32654, [LAYER_B]: 16725 })),
      `manifest layers[1] (${LAYER_B}) declares size 16724, but the stored blob has 16725 bytes`,
    );
    expect(error.detail).toEqual({ descriptor: 'layers[1]', digest: LAYER_B, size: 16724, storedSize: 16725 });
  });

  it('refuses a config whose size differs', () => {
    const error = expectManifestInvalid(
      () => assertDescriptorSizes(image(), storedSizes({ [CONFIG_DIGEST]: 1 })),
      `manifest config (${CONFIG_DIGEST}) declares size 7023, but the stored blob has 1 bytes`,
    );
    expect(error.detail).toMatchObject({ descriptor: 'config', digest: CONFIG_DIGEST, size: 7023, storedSize: 1 });
  });

  it('refuses a child manifest whose size is not the stored manifest size', () => {
    const error = expectManifestInvalid(
      () => assertDescriptorSizes(parse(ociIndex(), TYPES.index!), storedSizes({ [CHILD_AMD64]: 7143, [CHILD_ARM64]: 565 })),
      `manifest manifests[1] (${CHILD_ARM64}) declares size 566, but the stored manifest has 565 bytes`,
    );
    expect(error.detail).toEqual({ descriptor: 'manifests[1]', digest: CHILD_ARM64, size: 566, storedSize: 565 });
  });

  it('names the first mismatch and counts and lists the others', () => {
    const error = expectManifestInvalid(
      () => assertDescriptorSizes(image(), storedSizes({ [CONFIG_DIGEST]: 1, [LAYER_A]: 2, [LAYER_B]: 3 })),
      'manifest config',
      '2 more descriptors differ too',
    );
    expect((error.detail as { mismatches: unknown[] }).mismatches).toEqual([
      { descriptor: 'config', digest: CONFIG_DIGEST, size: 7023, storedSize: 1 },
      { descriptor: 'layers[0]', digest: LAYER_A, size: 32654, storedSize: 2 },
      { descriptor: 'layers[1]', digest: LAYER_B, size: 16724, storedSize: 3 },
    ]);
  });

  it('judges two descriptors of one digest each on its own size', () => {
    const twice = withField(withField(dockerSchema2(), 'layers.1.digest', LAYER_A), 'layers.1.size', 5);
    expectManifestInvalid(
      () => assertDescriptorSizes(parse(twice, TYPES.schema2!), storedSizes({ [CONFIG_DIGEST]: 1469, [LAYER_A]: 2811969 })),
      `manifest layers[1] (${LAYER_A}) declares size 5, but the stored blob has 2811969 bytes`,
    );
  });
});

describe('negative and impossible sizes are refused when parsing, naming the descriptor', () => {
  it.each([
    ['-1 on a layer', 'oci', ociManifest(), 'layers.0.size', -1, 'layers[0].size', LAYER_A],
    ['-2 on a config', 'schema2', dockerSchema2(), 'config.size', -2, 'config.size', CONFIG_DIGEST],
    ['-1 on a list child', 'list', dockerList(), 'manifests.1.size', -1, 'manifests[1].size', CHILD_ARM64],
    ['-7 on an index child', 'index', ociIndex(), 'manifests.0.size', -7, 'manifests[0].size', CHILD_AMD64],
    ['-1 on a subject', 'oci', ociArtifact(), 'subject.size', -1, 'subject.size', `sha256:${'5'.repeat(64)}`],
    ['a fraction', 'oci', ociManifest(), 'layers.1.size', 0.5, 'layers[1].size', LAYER_B],
  ] as const)('%s', (_what, format, document, field, size, path, digest) => {
    const error = expectManifestInvalid(
      () => parse(withField(document, field, size), TYPES[format]!),
      `${path}: must be a non-negative integer, not ${size} (descriptor ${digest})`,
    );
    const issue = (error.detail as { issues: Array<{ path: string; digest?: string }> }).issues[0];
    expect(issue).toMatchObject({ path, digest });
  });

  it('does not invent a digest for a descriptor without one', () => {
    const error = expectManifestInvalid(() => parse(withField(withField(ociManifest(), 'layers.0.size', -1), 'layers.0.digest', undefined), TYPES.oci!));
    const issues = (error.detail as { issues: Array<{ path: string; digest?: string }> }).issues;
    expect(issues.find((issue) => issue.path === 'layers[0].size')?.digest).toBeUndefined();
  });
});
