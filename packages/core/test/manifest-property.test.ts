import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RegistryError } from '../src/errors.js';
import { parseManifest } from '../src/manifest/parse.js';
import { dockerList, dockerSchema2, encode, ociArtifact, ociIndex, ociManifest, type Json } from './manifest-fixtures.js';

const contentTypes = fc.oneof(
  fc.constantFrom(
    undefined,
    'application/json',
    'application/vnd.docker.distribution.manifest.v1+prettyjws',
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.oci.image.manifest.v1+json; charset=utf-8',
    'APPLICATION/VND.OCI.IMAGE.INDEX.V1+JSON',
  ),
  fc.string(),
);

/** Parses, and fails the property on anything thrown that is not a RegistryError. */
function parseOrRegistryError(bytes: Uint8Array, contentType: string | undefined): void {
  try {
    const parsed = parseManifest(bytes, contentType);
    expect(new Set(parsed.blobReferences).size).toBe(parsed.blobReferences.length);
    expect(new Set(parsed.manifestReferences).size).toBe(parsed.manifestReferences.length);
  } catch (error) {
    if (!(error instanceof RegistryError)) throw error;
  }
}

/**
 * Replaces the value at a path of a valid manifest with arbitrary JSON (undefined deletes it). Each
 * choice picks a key; a choice divisible by 3, or the last one, stops descending there.
 */
function mutate(document: Json, pathChoices: number[], replacement: unknown): unknown {
  const copy = structuredClone(document) as Record<string, unknown>;
  let target: Record<string, unknown> = copy;
  for (const [index, choice] of pathChoices.entries()) {
    const keys = Object.keys(target);
    if (keys.length === 0) break;
    const key = keys[choice % keys.length]!;
    const next = target[key];
    if (typeof next !== 'object' || next === null || choice % 3 === 0 || index === pathChoices.length - 1) {
      target[key] = replacement;
      return copy;
    }
    target = next as Record<string, unknown>;
  }
  return copy;
}

describe('parseManifest never throws anything but RegistryError', () => {
  it('on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), contentTypes, parseOrRegistryError), { numRuns: 500 });
  });

  it('on arbitrary JSON documents', () => {
    const documents = fc.oneof(
      fc.jsonValue(),
      fc.record({ schemaVersion: fc.constantFrom(1, 2), mediaType: fc.option(fc.string()), manifests: fc.jsonValue() }),
      fc.dictionary(fc.string(), fc.jsonValue()).map((extra) => ({ schemaVersion: 2, ...extra })),
    );
    fc.assert(
      fc.property(documents, contentTypes, (document, contentType) => parseOrRegistryError(encode(document), contentType)),
      { numRuns: 500 },
    );
  });

  it('on valid manifests with one field replaced by arbitrary JSON', () => {
    const fixtures = fc.constantFrom(dockerSchema2(), dockerList(), ociManifest(), ociArtifact(), ociIndex());
    fc.assert(
      fc.property(
        fixtures,
        fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
        fc.option(fc.jsonValue(), { nil: undefined }),
        contentTypes,
        (fixture, path, replacement, contentType) =>
          parseOrRegistryError(encode(mutate(fixture, path, replacement)), contentType),
      ),
      { numRuns: 1000 },
    );
  });
});
