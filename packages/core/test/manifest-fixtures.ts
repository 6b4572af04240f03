/** Hand-written manifest fixtures shared by the manifest tests. */
import { expect } from 'vitest';
import { RegistryError } from '../src/errors.js';

export const CONFIG_DIGEST = `sha256:${'c'.repeat(64)}`;
export const LAYER_A = `sha256:${'a'.repeat(64)}`;
export const LAYER_B = `sha256:${'b'.repeat(64)}`;
export const CHILD_AMD64 = `sha256:${'1'.repeat(64)}`;
export const CHILD_ARM64 = `sha256:${'2'.repeat(64)}`;
export const SUBJECT_DIGEST = `sha256:${'5'.repeat(64)}`;
/** The digest of `{}`, the OCI empty descriptor's content. */
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

export type Json = Record<string, unknown>;

export const encode = (document: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(document));

/** A deep copy, so each test mutates its own fixture. */
export const clone = <T>(value: T): T => structuredClone(value);

export function dockerSchema2(): Json {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: 1469, digest: CONFIG_DIGEST },
    layers: [
      { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 2811969, digest: LAYER_A },
      { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 157, digest: LAYER_B },
    ],
  };
}

export function dockerList(): Json {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
    manifests: [
      {
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        size: 528,
        digest: CHILD_AMD64,
        platform: { architecture: 'amd64', os: 'linux' },
      },
      {
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        size: 528,
        digest: CHILD_ARM64,
        platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
      },
    ],
  };
}

export function ociManifest(): Json {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: 7023, digest: CONFIG_DIGEST },
    layers: [
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 32654, digest: LAYER_A },
      { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: 16724, digest: LAYER_B },
    ],
    annotations: { 'com.example.key1': 'value1' },
  };
}

/** An OCI 1.1 artifact: empty config, explicit artifactType, a subject. */
export function ociArtifact(): Json {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/vnd.example.sbom.v1',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', size: 2, digest: EMPTY_JSON_DIGEST },
    layers: [{ mediaType: 'application/spdx+json', size: 1234, digest: LAYER_A }],
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1024, digest: SUBJECT_DIGEST },
    annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
  };
}

export function ociIndex(): Json {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 7143,
        digest: CHILD_AMD64,
        platform: { architecture: 'amd64', os: 'linux' },
      },
      {
        // buildx attestation manifests carry no real platform and an annotation instead
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: 566,
        digest: CHILD_ARM64,
        annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
      },
    ],
    annotations: { 'com.example.key1': 'value1' },
  };
}

/** Sets a value at a dotted path (`layers.0.digest`) of a fixture, or deletes it when value is undefined. */
export function withField(document: Json, path: string, value: unknown): Json {
  const copy = clone(document);
  const keys = path.split('.');
  let target = copy as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete target[last];
  else target[last] = value;
  return copy;
}

/** Runs `run`, asserts it throws MANIFEST_INVALID whose message holds every fragment, and returns the error. */
export function expectManifestInvalid(run: () => unknown, ...fragments: string[]): RegistryError {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(RegistryError);
  const error = thrown as RegistryError;
  expect(error.code).toBe('MANIFEST_INVALID');
  expect(error.status).toBe(400);
  for (const fragment of fragments) expect(error.message).toContain(fragment);
  return error;
}

/**
 * Ways to break one descriptor, shared by every format: [what, field, value, message fragment].
 * `undefined` deletes the field.
 */
export const BROKEN_DESCRIPTORS: Array<[string, string, unknown, string]> = [
  ['missing digest', 'digest', undefined, 'digest: required field is missing'],
  ['short digest', 'digest', 'sha256:abc', 'invalid digest'],
  ['uppercase hex digest', 'digest', `sha256:${'A'.repeat(64)}`, 'invalid digest'],
  ['unsupported algorithm', 'digest', `md5:${'a'.repeat(32)}`, 'invalid digest'],
  ['digest without algorithm', 'digest', 'a'.repeat(64), 'invalid digest'],
  ['numeric digest', 'digest', 42, 'digest'],
  ['missing size', 'size', undefined, 'size: required field is missing'],
  ['negative size', 'size', -1, 'non-negative integer'],
  ['fractional size', 'size', 1.5, 'non-negative integer'],
  ['size beyond 2^53', 'size', 2 ** 53, 'non-negative integer'],
  ['size as string', 'size', '12', 'size'],
  ['missing mediaType', 'mediaType', undefined, 'mediaType: required field is missing'],
  ['mediaType without subtype', 'mediaType', 'application/', 'invalid media type'],
  ['mediaType with spaces', 'mediaType', 'not a media type', 'invalid media type'],
  ['mediaType with parameters', 'mediaType', 'application/json; charset=utf-8', 'invalid media type'],
  ['numeric mediaType', 'mediaType', 7, 'mediaType'],
  ['urls not an array', 'urls', 'https://example.com/layer', 'urls'],
  ['urls with a non-URL', 'urls', ['not a url'], 'invalid URL'],
  ['annotation value not a string', 'annotations', { 'com.example': 1 }, 'annotations'],
  ['invalid artifactType', 'artifactType', 'sbom', 'invalid media type'],
];
