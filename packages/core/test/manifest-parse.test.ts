import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RegistryError } from '../src/errors.js';
import { parseManifest } from '../src/manifest/parse.js';
import {
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

const SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';
const LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

const bytesOf = (...values: number[]) => new Uint8Array(values);
const text = (value: string) => new TextEncoder().encode(value);

describe('parseManifest: decoding', () => {
  it.each([
    ['empty body', new Uint8Array(0), 'not valid JSON'],
    ['truncated JSON', text('{"schemaVersion": 2,'), 'not valid JSON'],
    ['JSON with a trailing comma', text('{"schemaVersion": 2,}'), 'not valid JSON'],
    ['a byte order mark', new Uint8Array([0xef, 0xbb, 0xbf, ...encode(ociManifest())]), 'not valid JSON'],
    ['an invalid UTF-8 byte', new Uint8Array([...text('{"a":"'), 0xff, ...text('"}')]), 'not valid UTF-8'],
    ['an overlong UTF-8 encoding', new Uint8Array([...text('{"a":"'), 0xc0, 0xaf, ...text('"}')]), 'not valid UTF-8'],
    ['an encoded lone surrogate', new Uint8Array([...text('{"a":"'), 0xed, 0xa0, 0x80, ...text('"}')]), 'not valid UTF-8'],
    ['a Latin-1 body', bytesOf(0x7b, 0x22, 0xe9, 0x22, 0x3a, 0x31, 0x7d), 'not valid UTF-8'],
    ['a JSON array', text('[]'), 'must be a JSON object'],
    ['JSON null', text('null'), 'must be a JSON object'],
    ['a JSON string', text('"schemaVersion"'), 'must be a JSON object'],
    ['no schemaVersion', text('{"mediaType": "application/vnd.oci.image.manifest.v1+json"}'), 'no schemaVersion'],
    ['schemaVersion 3', text('{"schemaVersion": 3}'), 'unsupported manifest schemaVersion 3'],
    ['schemaVersion "2"', text('{"schemaVersion": "2"}'), 'unsupported manifest schemaVersion "2"'],
    ['schemaVersion null', text('{"schemaVersion": null}'), 'unsupported manifest schemaVersion null'],
  ])('refuses %s', (_what, bytes, fragment) => {
    expectManifestInvalid(() => parseManifest(bytes, OCI_MANIFEST), fragment);
  });

  it('accepts non-ASCII UTF-8 in annotations', () => {
    const parsed = parseManifest(encode(withField(ociManifest(), 'annotations', { title: 'café 🚢' })), OCI_MANIFEST);
    expect(parsed.annotations).toEqual({ title: 'café 🚢' });
  });
});

describe('parseManifest: format detection', () => {
  const cases: Array<[string, Json, string]> = [
    ['schema2', dockerSchema2(), SCHEMA2],
    ['docker-list', dockerList(), LIST],
    ['oci-manifest', ociManifest(), OCI_MANIFEST],
    ['oci-index', ociIndex(), OCI_INDEX],
  ];

  it.each(cases)('detects %s by its mediaType field pushed with that Content-Type', (kind, document, mediaType) => {
    const bytes = encode(document);
    const parsed = parseManifest(bytes, mediaType);
    expect(parsed.kind).toBe(kind);
    expect(parsed.mediaType).toBe(mediaType);
    expect(parsed.digest).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  });

  it.each(cases)('refuses %s whose mediaType field comes with a non-manifest Content-Type', (_kind, document, mediaType) => {
    for (const contentType of ['text/plain', 'application/json', 'application/octet-stream', 'text/plain; charset=utf-8']) {
      const error = expectManifestInvalid(
        () => parseManifest(encode(document), contentType),
        `manifest mediaType "${mediaType}" requires Content-Type "${mediaType}", but it was pushed as "${contentType.split(';')[0]}", which is not a manifest type`,
      );
      expect(error.detail).toEqual({ mediaType, contentType: contentType.split(';')[0] });
    }
  });

  it.each(cases)('refuses %s whose mediaType field comes without a Content-Type (as distribution 2.8 does)', (_kind, document, mediaType) => {
    for (const contentType of [undefined, '', ' ; charset=utf-8']) {
      const error = expectManifestInvalid(
        () => parseManifest(encode(document), contentType),
        `manifest mediaType "${mediaType}" requires Content-Type "${mediaType}", but it was pushed without a Content-Type`,
      );
      expect(error.detail).toEqual({ mediaType, contentType: null });
    }
  });

  it.each(cases)('%s: Content-Type parameters and case do not matter', (kind, document, mediaType) => {
    const contentType = `${mediaType.toUpperCase()} ; charset=utf-8`;
    expect(parseManifest(encode(document), contentType).kind).toBe(kind);
  });

  it('matches the mediaType field case-insensitively and serves the canonical type', () => {
    const parsed = parseManifest(encode(withField(ociManifest(), 'mediaType', OCI_MANIFEST.toUpperCase())), OCI_MANIFEST);
    expect(parsed.mediaType).toBe(OCI_MANIFEST);
  });

  it.each([
    [SCHEMA2, OCI_MANIFEST, ociManifest()],
    [OCI_MANIFEST, SCHEMA2, dockerSchema2()],
    [OCI_INDEX, LIST, dockerList()],
    [LIST, OCI_INDEX, ociIndex()],
    [OCI_MANIFEST, OCI_INDEX, ociIndex()],
    [SCHEMA1_SIGNED, OCI_MANIFEST, ociManifest()],
  ])('refuses Content-Type %s for a manifest whose mediaType is %s', (contentType, mediaType, document) => {
    const error = expectManifestInvalid(
      () => parseManifest(encode(document), contentType),
      `manifest mediaType "${mediaType}" does not match Content-Type "${contentType}"`,
    );
    expect(error.detail).toEqual({ mediaType, contentType });
  });

  it('detects by Content-Type when the mediaType field is absent (helm)', () => {
    const helm = withField(
      withField(ociManifest(), 'mediaType', undefined),
      'config.mediaType',
      'application/vnd.cncf.helm.config.v1+json',
    );
    const parsed = parseManifest(encode(helm), `${OCI_MANIFEST}; charset=utf-8`);
    expect(parsed).toMatchObject({ kind: 'oci-manifest', mediaType: OCI_MANIFEST });
    const index = parseManifest(encode(withField(ociIndex(), 'mediaType', undefined)), OCI_INDEX);
    expect(index).toMatchObject({ kind: 'oci-index', mediaType: OCI_INDEX });
  });

  it('validates against the Content-Type format when the mediaType field is absent', () => {
    // The body is an index but the client says image manifest: it is judged as an image manifest.
    expectManifestInvalid(
      () => parseManifest(encode(withField(ociIndex(), 'mediaType', undefined)), OCI_MANIFEST),
      'invalid OCI image manifest',
    );
    // Docker formats require their mediaType field, so the Content-Type alone is not enough.
    expectManifestInvalid(
      () => parseManifest(encode(withField(dockerSchema2(), 'mediaType', undefined)), SCHEMA2),
      'invalid Docker schema 2 manifest: mediaType: required field is missing',
    );
    expectManifestInvalid(
      () => parseManifest(encode(withField(dockerList(), 'mediaType', undefined)), LIST),
      'invalid Docker manifest list: mediaType: required field is missing',
    );
  });

  it('detects by shape when neither mediaType nor a manifest Content-Type says', () => {
    for (const contentType of [undefined, 'application/json', 'text/plain']) {
      const index = parseManifest(encode(withField(ociIndex(), 'mediaType', undefined)), contentType);
      expect(index).toMatchObject({ kind: 'oci-index', mediaType: OCI_INDEX });
      const artifact = parseManifest(encode(withField(ociArtifact(), 'mediaType', undefined)), contentType);
      expect(artifact).toMatchObject({ kind: 'oci-manifest', mediaType: OCI_MANIFEST });
    }
  });

  it.each([
    ['an unknown mediaType', 'application/vnd.example.manifest+json', 'unsupported manifest mediaType'],
    ['a schema1 mediaType', SCHEMA1_SIGNED, 'unsupported manifest mediaType'],
    ['an empty mediaType', '', 'unsupported manifest mediaType ""'],
    ['a numeric mediaType', 2, 'mediaType must be a string'],
    ['a null mediaType', null, 'mediaType must be a string'],
  ])('refuses %s on a schemaVersion 2 manifest', (_what, mediaType, fragment) => {
    for (const contentType of [undefined, OCI_MANIFEST]) {
      expectManifestInvalid(() => parseManifest(encode(withField(ociManifest(), 'mediaType', mediaType)), contentType), fragment);
    }
  });

  it('refuses a schemaVersion 2 body pushed as schema1 without mediaType', () => {
    expectManifestInvalid(
      () => parseManifest(encode(withField(ociManifest(), 'mediaType', undefined)), SCHEMA1_SIGNED),
      'is schema1 but the manifest has schemaVersion 2',
    );
  });
});

describe('parseManifest: schemaVersion 1', () => {
  const schema1 = encode({ schemaVersion: 1, name: 'library/hello', tag: 'latest', fsLayers: [], history: [] });

  it('refuses a schema1 body pushed with a schemaVersion 2 Content-Type', () => {
    expectManifestInvalid(() => parseManifest(schema1, OCI_MANIFEST), 'does not match a schemaVersion 1 manifest');
  });

  it('refuses schema1 when the registry does not accept it', () => {
    expectManifestInvalid(() => parseManifest(schema1, SCHEMA1_SIGNED, { acceptSchema1: false }), 'not accepted');
  });

  it('hands schema1 to the schema1 module, which answers with a RegistryError for an unsigned stub', () => {
    expect(() => parseManifest(schema1, SCHEMA1_SIGNED)).toThrow(RegistryError);
  });
});
