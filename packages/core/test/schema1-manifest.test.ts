import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { digestOf } from '../src/digest.js';
import { RegistryError } from '../src/errors.js';
import { MediaType } from '../src/media-types.js';
import { generateLibtrustKey } from '../src/schema1/libtrust-key.js';
import { parseSchema1Manifest, parseSchema1Payload, readSchema1Payload, schema1PayloadOf } from '../src/schema1/manifest.js';
import { signSchema1Payload } from '../src/schema1/sign.js';

const reference = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));

const signedVector = reference('testvector-schema1-converted.json');
const canonicalVector = reference('testvector-schema1-canonical.json');

describe('parseSchema1Manifest on the reference test vector', () => {
  it('recovers the canonical payload digest and verifies the 2.8 signature', () => {
    const parsed = parseSchema1Manifest(signedVector);
    expect(parsed.kind).toBe('schema1');
    expect(parsed.mediaType).toBe(MediaType.DockerSchema1Signed);
    expect(parsed.digest).toBe(digestOf(canonicalVector));
    expect(parsed.digest).toBe('sha256:d0fade0662aba6a8db1a5b0bdc25ca4c2ef9394ce341a5504479ae328180b371');
    expect(parsed.layers).toEqual([
      { mediaType: MediaType.DockerLayerGzip, digest: 'sha256:46753ce119a4f71c2efc822447871d29e86ba671c8f13261c675a1943c7253c3', size: -1 },
      { mediaType: MediaType.DockerLayerGzip, digest: 'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4', size: -1 },
    ]);
    expect(parsed.manifests).toEqual([]);
  });
});

const encode = (value: string): Uint8Array => new TextEncoder().encode(value);
const key = generateLibtrustKey();
const LAYER_A = `sha256:${'a'.repeat(64)}`;
const LAYER_B = `sha256:${'b'.repeat(64)}`;
const id = (char: string): string => char.repeat(64);

function expectRegistryError(action: () => unknown, code: string, message?: RegExp): void {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).code).toBe(code);
    if (message) expect((error as RegistryError).message).toMatch(message);
    return;
  }
  expect.fail(`expected RegistryError ${code}`);
}

/** A schema1 payload in distribution's layout; `images` newest first. */
function payload(images: unknown[], blobSums: string[] = images.map((_, i) => (i % 2 ? LAYER_B : LAYER_A))): string {
  return JSON.stringify(
    {
      schemaVersion: 1,
      name: 'library/demo',
      tag: 'latest',
      architecture: 'amd64',
      fsLayers: blobSums.map((blobSum) => ({ blobSum })),
      history: images.map((image) => ({ v1Compatibility: typeof image === 'string' ? image : JSON.stringify(image) })),
    },
    null,
    3,
  );
}

const signed = (text: string): Uint8Array => signSchema1Payload(encode(text), key);

describe('parseSchema1Manifest: structure', () => {
  const good = payload([{ id: id('c'), parent: id('d') }, { id: id('d') }]);

  it('accepts a signed manifest and describes its layers base first, blob references deduplicated', () => {
    const parsed = parseSchema1Manifest(signed(payload([{ id: id('c'), parent: id('d') }, { id: id('d') }], [LAYER_A, LAYER_A])));
    expect(parsed.layers.map((layer) => layer.digest)).toEqual([LAYER_A, LAYER_A]);
    expect(parsed.blobReferences).toEqual([LAYER_A]);
    expect(parsed.manifestReferences).toEqual([]);
    expect(parseSchema1Manifest(signed(good)).layers.map((layer) => layer.digest)).toEqual([LAYER_B, LAYER_A]);
  });

  it('refuses documents that are not JSON objects', () => {
    expectRegistryError(() => parseSchema1Manifest(encode('{')), 'MANIFEST_INVALID');
    expectRegistryError(() => parseSchema1Manifest(encode('[]')), 'MANIFEST_INVALID');
    expectRegistryError(() => parseSchema1Manifest(new Uint8Array([0xef, 0xbb, 0xbf, ...encode('{}')])), 'MANIFEST_INVALID');
  });

  it('refuses unsigned schema1 unless allowUnsigned is set; its digest is then of the whole document', () => {
    expectRegistryError(() => parseSchema1Manifest(encode(good)), 'MANIFEST_INVALID', /no signatures/);
    const parsed = parseSchema1Manifest(encode(good), { allowUnsigned: true });
    expect(parsed.digest).toBe(digestOf(good));
    expect(parseSchema1Payload(encode(good))).toEqual(parsed);
  });

  it('refuses malformed JWS structure', () => {
    const document = Buffer.from(signed(good)).toString('utf8');
    const protectedHeader = (JSON.parse(document) as { signatures: Array<{ protected: string }> }).signatures[0]!.protected;
    const withProtected = (value: object | string): Uint8Array =>
      encode(document.replace(protectedHeader, typeof value === 'string' ? value : Buffer.from(JSON.stringify(value)).toString('base64url')));
    expectRegistryError(() => parseSchema1Manifest(withProtected('not*base64')), 'MANIFEST_INVALID');
    expectRegistryError(() => parseSchema1Manifest(withProtected({ formatTail: 'Cn0' })), 'MANIFEST_INVALID');
    expectRegistryError(() => parseSchema1Manifest(withProtected({ formatLength: 10 ** 7, formatTail: 'Cn0' })), 'MANIFEST_INVALID');
    expectRegistryError(() => parseSchema1Manifest(withProtected({ formatLength: -1, formatTail: 'Cn0' })), 'MANIFEST_INVALID');
    expectRegistryError(() => parseSchema1Manifest(encode(document.replace(/"signatures": \[[\s\S]*\]/, '"signatures": []'))), 'MANIFEST_INVALID');
    expectRegistryError(() => parseSchema1Manifest(encode(document.replace(/"signatures": \[[\s\S]*\]/, '"signatures": {}'))), 'MANIFEST_INVALID');
  });

  it('refuses signatures that disagree on formatLength/formatTail', () => {
    const a = JSON.parse(Buffer.from(signed(good)).toString()) as { signatures: Array<Record<string, unknown>> };
    const other = { ...a.signatures[0]!, protected: Buffer.from('{"formatLength":5,"formatTail":"Cn0"}').toString('base64url') };
    const document = Buffer.from(signed(good)).toString().replace(/"signatures": \[/, `"signatures": [${JSON.stringify(other)},`);
    expectRegistryError(() => parseSchema1Manifest(encode(document)), 'MANIFEST_INVALID', /disagree/);
  });

  it('recovers the payload from formatLength and formatTail, not from the signed document', () => {
    const bytes = signed(good);
    expect(Buffer.from(schema1PayloadOf(bytes)).toString()).toBe(good);
    expect(parseSchema1Manifest(bytes).digest).toBe(digestOf(good));
  });

  it('refuses bad payload fields', () => {
    const cases = [
      good.replace('"schemaVersion": 1', '"schemaVersion": 2'),
      good.replace(`"blobSum": "${LAYER_A}"`, '"blobSum": "sha256:nothex"'),
      good.replace(`"blobSum": "${LAYER_A}"`, '"blobSum": 7'),
      good.replace('"name": "library/demo"', '"name": 5'),
      good.replace(/"fsLayers": \[[\s\S]*?\]/, '"fsLayers": {}'),
    ];
    for (const text of cases) {
      expect(text).not.toBe(good);
      expectRegistryError(() => parseSchema1Manifest(signed(text)), 'MANIFEST_INVALID');
    }
  });
});

describe('parseSchema1Manifest: v1 id chain', () => {
  const cases: Array<[string, string]> = [
    ['no layers', payload([])],
    ['fsLayers and history of different lengths', payload([{ id: id('c') }], [LAYER_A, LAYER_B])],
    ['v1Compatibility not JSON', payload(['{nope'])],
    ['v1Compatibility not an object', payload(['"text"'])],
    ['missing id', payload([{ parent: id('d') }, { id: id('d') }])],
    ['id not 64 lowercase hex', payload([{ id: 'C'.repeat(64) }])],
    ['id too short', payload([{ id: 'c'.repeat(63) }])],
    ['base entry with a parent', payload([{ id: id('c'), parent: id('d') }, { id: id('d'), parent: id('e') }])],
    ['parent not the next id', payload([{ id: id('c'), parent: id('e') }, { id: id('d') }])],
    ['missing parent link', payload([{ id: id('c') }, { id: id('d') }])],
    ['repeated id', payload([{ id: id('c'), parent: id('c') }, { id: id('c') }])],
    ['parent of the wrong type', payload([{ id: id('c'), parent: 5 }, { id: id('d') }])],
  ];
  it.each(cases)('refuses %s', (_name, text) => {
    expectRegistryError(() => parseSchema1Manifest(signed(text)), 'MANIFEST_INVALID');
    expectRegistryError(() => readSchema1Payload(encode(text)), 'MANIFEST_INVALID');
  });

  it('accepts a three-entry chain', () => {
    const text = payload([{ id: id('c'), parent: id('d') }, { id: id('d'), parent: id('e') }, { id: id('e') }]);
    expect(readSchema1Payload(encode(text)).history).toHaveLength(3);
  });
});
