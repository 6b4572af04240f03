import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digestOf } from '../src/digest.js';
import { RegistryError } from '../src/errors.js';
import { convertToSchema1, type Schema1ConversionInput } from '../src/schema1/convert.js';
import { EMPTY_LAYER_BLOB, EMPTY_LAYER_DIGEST } from '../src/schema1/empty-layer.js';

const reference = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));

// The config of the reference test vector (§2.8), recovered from its top v1 id: sha256 over these
// exact bytes gives b6dc753b…, so the byte-for-byte comparison below also proves it is the right one.
const VECTOR_CONFIG =
  '{"architecture":"amd64","config":{"Cmd":["/bin/sh"],"Env":["A=<b>&c"]},"created":"2020-01-01T00:00:01.5Z",' +
  '"history":[{"created":"2020-01-01T00:00:00Z","created_by":"/bin/sh -c #(nop) ADD file:abc in / "},' +
  '{"created":"2020-01-01T00:00:01.5Z","created_by":"/bin/sh -c #(nop)  CMD [\\"/bin/sh\\"]","empty_layer":true}],' +
  '"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111"]}}';
const VECTOR_LAYER = 'sha256:46753ce119a4f71c2efc822447871d29e86ba671c8f13261c675a1943c7253c3';

describe('convertToSchema1', () => {
  it('reproduces the distribution 2.8 canonical payload byte for byte', () => {
    const payload = convertToSchema1({
      configBytes: new TextEncoder().encode(VECTOR_CONFIG),
      layers: [{ digest: VECTOR_LAYER }],
      repository: 'library/demo',
      tag: 'latest',
    });
    expect(Buffer.from(payload).toString('utf8')).toBe(Buffer.from(reference('testvector-schema1-canonical.json')).toString('utf8'));
  });
});

const LAYER_A = `sha256:${'a'.repeat(64)}`;
const LAYER_B = `sha256:${'b'.repeat(64)}`;
const DIFF = `sha256:${'d'.repeat(64)}`;

interface Converted {
  name: string;
  tag: string;
  architecture: string;
  fsLayers: Array<{ blobSum: string }>;
  history: Array<{ v1Compatibility: string }>;
}

function convert(config: string | object, layers: string[] = [LAYER_A], extra: Partial<Schema1ConversionInput> = {}): Converted {
  const configBytes = typeof config === 'string' ? new TextEncoder().encode(config) : new TextEncoder().encode(JSON.stringify(config));
  const payload = convertToSchema1({ configBytes, layers: layers.map((digest) => ({ digest })), repository: 'library/demo', tag: 'latest', ...extra });
  return JSON.parse(Buffer.from(payload).toString('utf8')) as Converted;
}

function convertBytes(configBytes: Uint8Array, layers: string[] = [LAYER_A]): Uint8Array {
  return convertToSchema1({ configBytes, layers: layers.map((digest) => ({ digest })), repository: 'r', tag: 't' });
}

function expectInvalid(action: () => unknown, message?: string | RegExp): void {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(RegistryError);
    expect((error as RegistryError).code).toBe('MANIFEST_INVALID');
    if (typeof message === 'string') expect((error as RegistryError).message).toBe(message);
    else if (message) expect((error as RegistryError).message).toMatch(message);
    return;
  }
  expect.fail('expected MANIFEST_INVALID');
}

/** A config with one layer: an older non-empty entry `older`, then an empty top entry. */
function withOlderEntry(older: object | string, rest = ''): string {
  const olderText = typeof older === 'string' ? older : JSON.stringify(older);
  return `{"rootfs":{"type":"layers","diff_ids":["${DIFF}"]},"history":[${olderText},{"empty_layer":true}]${rest}}`;
}

const olderV1 = (config: string): Record<string, unknown> =>
  JSON.parse(convert(config).history[1]!.v1Compatibility) as Record<string, unknown>;
const olderV1Text = (config: string): string => convert(config).history[1]!.v1Compatibility;
const topV1Text = (config: string, layers?: string[]): string => convert(config, layers).history[0]!.v1Compatibility;

describe('convertToSchema1: errors (MANIFEST_INVALID with the reference messages)', () => {
  it('refuses an empty or missing history', () => {
    const message = 'empty history when trying to create schema1 manifest';
    expectInvalid(() => convert({ rootfs: { type: 'layers', diff_ids: [] }, history: [] }, []), message);
    expectInvalid(() => convert({ rootfs: { type: 'layers', diff_ids: [] } }, []), message);
    expectInvalid(() => convert({ rootfs: { type: 'layers', diff_ids: [] }, history: null }, []), message);
    expectInvalid(() => convert('null', []), message);
  });

  it('refuses diff_ids that do not match the layers, and more non-empty entries than layers', () => {
    expectInvalid(() => convert({ rootfs: { diff_ids: [DIFF, DIFF] }, history: [{}] }, [LAYER_A]), /number of descriptors and number of layers in rootfs must match/);
    expectInvalid(() => convert({ rootfs: { diff_ids: [DIFF] }, history: [{}, {}] }, [LAYER_A]), 'too many non-empty layers in History section');
    expectInvalid(() => convert({ rootfs: { diff_ids: [] }, history: [{}] }, []), 'too many non-empty layers in History section');
  });

  it('refuses a config without rootfs (distribution panics there)', () => {
    expectInvalid(() => convert({ history: [{ empty_layer: true }] }, []), /rootfs/);
  });

  it('refuses configs Go cannot parse or decode', () => {
    const bad = [
      '{', '{"history":[{}],}', '{"a":1} x', '\ufeff{}', '{"a":"\u0001"}', "{'a':1}", '{"a":01}', '{"a":1.}', '{"a":"\\x"}',
      '[]', '"config"', '5',
      '{"rootfs":{"diff_ids":[]},"history":{}}',
      '{"rootfs":{"diff_ids":[]},"history":[{"empty_layer":true}],"architecture":5}',
      '{"rootfs":{"diff_ids":[]},"history":[{"empty_layer":"yes"}]}',
      '{"rootfs":"layers","history":[{"empty_layer":true}]}',
      '{"rootfs":{"diff_ids":"x"},"history":[{"empty_layer":true}]}',
      '{"rootfs":{"diff_ids":[5]},"history":[{"empty_layer":true}]}',
      '{"rootfs":{"diff_ids":[]},"history":[5]}',
      '{"rootfs":{"diff_ids":[]},"history":[{"empty_layer":true,"created":5}]}',
      '{"rootfs":{"diff_ids":[]},"history":[{"empty_layer":true,"created":"yesterday"}]}',
      '{"rootfs":{"diff_ids":[]},"history":[{"empty_layer":true,"created_by":["a"]}]}',
      '[' .repeat(10001) + ']'.repeat(10001),
    ];
    for (const config of bad) expectInvalid(() => convert(config, []));
  });

  it('accepts nesting up to Go\'s limit of 10000 levels', () => {
    const deep = `{"rootfs":{"diff_ids":[]},"history":[{"empty_layer":true}],"x":${'['.repeat(9999)}${']'.repeat(9999)}}`;
    expect(convert(deep, []).fsLayers).toEqual([{ blobSum: EMPTY_LAYER_DIGEST }]);
    expectInvalid(() => convert(deep.replace('"x":[', '"x":[['), []), /exceeded max depth/);
  });

  it('refuses layer digests that are not strictly valid', () => {
    expectInvalid(() => convert({ rootfs: { diff_ids: [DIFF] }, history: [{}] }, ['sha256:ABC']), /invalid layer digest/);
  });
});

describe('convertToSchema1: structure', () => {
  it('uses the empty-layer blob for empty_layer entries, first, middle and last', () => {
    const config = {
      architecture: 'arm64',
      rootfs: { type: 'layers', diff_ids: [DIFF, DIFF] },
      history: [{ empty_layer: true }, { created_by: 'one' }, { empty_layer: true }, { created_by: 'two' }, { empty_layer: true }],
    };
    const converted = convert(config, [LAYER_A, LAYER_B]);
    expect(converted.fsLayers.map((layer) => layer.blobSum)).toEqual([EMPTY_LAYER_DIGEST, LAYER_B, EMPTY_LAYER_DIGEST, LAYER_A, EMPTY_LAYER_DIGEST]);
    expect(converted.architecture).toBe('arm64');
    expect(converted.name).toBe('library/demo');
    expect(converted.tag).toBe('latest');
    const images = converted.history.map((entry) => JSON.parse(entry.v1Compatibility) as Record<string, unknown>);
    expect(images.map((image) => image['throwaway'] ?? false)).toEqual([true, false, true, false, true]);
    expect(images[4]!['parent']).toBeUndefined();
    for (let i = 0; i < 4; i++) expect(images[i]!['parent']).toBe(images[i + 1]!['id']);
  });

  it('computes v1 ids from blobSum and parent, the top one over the raw config bytes', () => {
    const configText = JSON.stringify({ rootfs: { diff_ids: [DIFF, DIFF] }, history: [{}, {}] });
    const converted = convert(configText, [LAYER_A, LAYER_B]);
    const baseId = createHash('sha256').update(`${'a'.repeat(64)} `).digest('hex');
    const topId = createHash('sha256').update(`${'b'.repeat(64)} ${baseId} ${configText}`).digest('hex');
    expect(JSON.parse(converted.history[1]!.v1Compatibility)).toMatchObject({ id: baseId });
    expect(JSON.parse(converted.history[0]!.v1Compatibility)).toMatchObject({ id: topId, parent: baseId });
  });

  it('silently drops layers beyond the non-empty history entries, as 2.8 does', () => {
    const converted = convert({ rootfs: { diff_ids: [DIFF, DIFF] }, history: [{}] }, [LAYER_A, LAYER_B]);
    expect(converted.fsLayers).toEqual([{ blobSum: LAYER_A }]);
  });

  it('takes the tag as given, "" by default, and an architecture override', () => {
    const config = { architecture: 'amd64', rootfs: { diff_ids: [] }, history: [{ empty_layer: true }] };
    const bytes = new TextEncoder().encode(JSON.stringify(config));
    const untagged = JSON.parse(Buffer.from(convertToSchema1({ configBytes: bytes, layers: [], repository: 'a/b' })).toString()) as Converted;
    expect(untagged.tag).toBe('');
    expect(convert(config, [], { architecture: 's390x' }).architecture).toBe('s390x');
    expect(convert({ rootfs: { diff_ids: [] }, history: [{ empty_layer: true }] }, []).architecture).toBe('');
  });

  it('derives the base entry parent from a Windows base_layer after computing its id', () => {
    const config = { rootfs: { diff_ids: [DIFF, DIFF], base_layer: 'C:\\base' }, history: [{}, {}] };
    const converted = convert(config, [LAYER_A, LAYER_B]);
    const base = JSON.parse(converted.history[1]!.v1Compatibility) as Record<string, string>;
    expect(base['id']).toBe(createHash('sha256').update(`${'a'.repeat(64)} `).digest('hex'));
    expect(base['parent']).toBe(createHash('sha384').update('C:\\base').digest().subarray(0, 32).toString('hex'));
    expect(JSON.parse(converted.history[0]!.v1Compatibility)).toMatchObject({ parent: base['id'] });
  });

  it('writes older entries with distribution\'s fixed key order and omissions', () => {
    const text = olderV1Text(withOlderEntry({ author: 'me', comment: 'why', created_by: '', created: '2020-01-01T00:00:00Z' }));
    expect(text).toMatch(/^\{"id":"[a-f0-9]{64}","comment":"why","created":"2020-01-01T00:00:00Z","container_config":\{"Cmd":\[""\]\},"author":"me"\}$/);
    expect(olderV1Text(withOlderEntry({}))).toMatch(/^\{"id":"[a-f0-9]{64}","created":"0001-01-01T00:00:00Z","container_config":\{"Cmd":\[""\]\}\}$/);
  });

  it('writes the empty-layer blob constants consistently', () => {
    expect(EMPTY_LAYER_BLOB).toHaveLength(32);
    expect(digestOf(EMPTY_LAYER_BLOB)).toBe(EMPTY_LAYER_DIGEST);
  });
});

describe('convertToSchema1: Go JSON quirks', () => {
  it('escapes HTML characters, U+2028/U+2029 and control characters as Go 1.19 does', () => {
    const text = olderV1Text(withOlderEntry({ created_by: 'a<b>&c\u2028\u2029\u0001\b\f\n\r\t\u007f"\\é😀' }));
    expect(text).toContain(String.raw`"Cmd":["a\u003cb\u003e\u0026c\u2028\u2029\u0001\u0008\u000c\n\r\t` + '\u007f' + String.raw`\"\\é😀"]`);
  });

  it('replaces broken surrogate escapes and invalid UTF-8 with U+FFFD, one per bad byte', () => {
    expect(olderV1(withOlderEntry('{"created_by":"x\\ud800y\\udc00\\ud83d\\ude00"}'))['container_config']).toEqual({ Cmd: ['x\ufffdy\ufffd😀'] });
    const head = new TextEncoder().encode(withOlderEntry('{"created_by":"AB"}'));
    const at = Buffer.from(head).indexOf('AB');
    const bytes = new Uint8Array([...head.subarray(0, at), 0xe2, 0x80, 0x41, 0xff, ...head.subarray(at + 2)]);
    const converted = JSON.parse(Buffer.from(convertBytes(bytes)).toString()) as Converted;
    expect((JSON.parse(converted.history[1]!.v1Compatibility) as { container_config: unknown }).container_config).toEqual({
      Cmd: ['\ufffd\ufffdA\ufffd'],
    });
  });

  it('keeps invalid UTF-8 of the raw config in the top entry, written as \\ufffd by the outer encoder', () => {
    const head = new TextEncoder().encode('{"rootfs":{"diff_ids":[]},"history":[{"empty_layer":true}],"x":"AB"}');
    const at = Buffer.from(head).indexOf('AB');
    const bytes = new Uint8Array([...head.subarray(0, at), 0xff, 0x41, ...head.subarray(at + 2)]);
    const payload = Buffer.from(convertBytes(bytes, [])).toString('latin1');
    expect(payload).toContain(String.raw`\"x\":\"\ufffdA\"`);
  });

  it('re-emits the top config compacted, keys sorted by UTF-8 bytes, nested order and escapes kept', () => {
    const config =
      '{ "😀" : 1, "\uffff": 2, "a": { "z" : [ 1 , 2.50e+3 ], "b" : "\\/\\u00e9<\u2028" }, "Z": null, "\\u0061b": true,' +
      ' "rootfs": {"diff_ids": []}, "history": [{"empty_layer": true}], "a": {"last": "wins"} }';
    const text = topV1Text(config, []);
    expect(text).toMatch(
      /^\{"Z":null,"a":\{"last":"wins"\},"ab":true,"id":"[a-f0-9]{64}","throwaway":true,"\uffff":2,"😀":1\}$/,
    );
    const nested = topV1Text('{"rootfs":{"diff_ids":[]},"history":[{"empty_layer":true}],"c":{ "z" : [ 1 , 2.50e+3 ], "b" : "\\/\\u00e9<\u2028" }}', []);
    expect(nested).toContain(String.raw`"c":{"z":[1,2.50e+3],"b":"\/\u00e9\u003c\u2028"}`);
  });

  it('leaves a config "parent" alone when there is no parent, and overwrites "id"', () => {
    const text = topV1Text('{"id":"mine","parent":"theirs","rootfs":{"diff_ids":[]},"history":[{"empty_layer":true}]}', []);
    expect(text).toMatch(/^\{"id":"[a-f0-9]{64}","parent":"theirs","throwaway":true\}$/);
  });

  it('matches struct fields case-insensitively (and ſ for s) but deletes only the exact keys', () => {
    const config = '{"ROOTFS":{"Diff_IDs":[]},"Hiſtory":[{"EMPTY_LAYER":true}]}';
    const converted = convert(config, []);
    expect(converted.fsLayers).toEqual([{ blobSum: EMPTY_LAYER_DIGEST }]);
    expect(converted.history[0]!.v1Compatibility).toMatch(/^\{"Hiſtory":\[\{"EMPTY_LAYER":true\}\],"ROOTFS":\{"Diff_IDs":\[\]\},"id":/);
  });

  it('decodes repeated keys into the same Go slice, reusing its elements', () => {
    const config =
      '{"rootfs":{"diff_ids":[]},' +
      '"history":[{"created_by":"a","author":"A","empty_layer":true},{"created_by":"b","empty_layer":true},{"empty_layer":true}],' +
      '"history":[{"created_by":"d"}],"history":[{"created_by":"e"},{"created_by":"f","comment":"F"}]}';
    const converted = convert(config, []);
    expect(converted.fsLayers).toEqual([{ blobSum: EMPTY_LAYER_DIGEST }, { blobSum: EMPTY_LAYER_DIGEST }]);
    expect(JSON.parse(converted.history[1]!.v1Compatibility)).toMatchObject({ author: 'A', container_config: { Cmd: ['e'] }, throwaway: true });
  });
});

describe('convertToSchema1: times as Go 1.19 reads and writes them', () => {
  const created = (raw: string): unknown => olderV1(withOlderEntry(`{"created":${raw}}`))['created'];
  const cases: Array<[string, string]> = [
    ['"2020-01-01T00:00:00Z"', '2020-01-01T00:00:00Z'],
    ['"2020-01-01T00:00:01.500Z"', '2020-01-01T00:00:01.5Z'],
    ['"2020-01-01T00:00:01.000000000Z"', '2020-01-01T00:00:01Z'],
    ['"2020-01-01T00:00:01.1234567891234Z"', '2020-01-01T00:00:01.123456789Z'],
    ['"2020-01-01T00:00:01,25Z"', '2020-01-01T00:00:01.25Z'],
    ['"2020-01-01T10:00:00+01:00"', '2020-01-01T10:00:00+01:00'],
    ['"2020-01-01T10:00:00-05:30"', '2020-01-01T10:00:00-05:30'],
    ['"2020-01-01T10:00:00+00:00"', '2020-01-01T10:00:00Z'],
    ['"2020-01-01T10:00:00-00:00"', '2020-01-01T10:00:00Z'],
    ['"2020-01-01T10:00:00+01:60"', '2020-01-01T10:00:00+02:00'],
    ['"2020-01-01T1:02:03Z"', '2020-01-01T01:02:03Z'],
    ['"2020-02-29T00:00:00Z"', '2020-02-29T00:00:00Z'],
    ['"2000-02-29T00:00:00Z"', '2000-02-29T00:00:00Z'],
    ['"0000-01-01T00:00:00Z"', '0000-01-01T00:00:00Z'],
    ['null', '0001-01-01T00:00:00Z'],
  ];
  it.each(cases)('reads %s as %s', (raw, expected) => {
    expect(created(raw)).toBe(expected);
  });

  const refused = [
    '"2019-02-29T00:00:00Z"', '"1900-02-29T00:00:00Z"', '"2020-04-31T00:00:00Z"', '"2020-13-01T00:00:00Z"',
    '"2020-00-01T00:00:00Z"', '"2020-01-00T00:00:00Z"', '"2020-01-01t00:00:00Z"', '"2020-01-01T00:00:00z"',
    '"2020-01-01T24:00:00Z"', '"2020-01-01T00:60:00Z"', '"2020-01-01T00:00:60Z"', '"2020-01-01T00:00:00+25:00"',
    '"2020-01-01T00:00:00+01:61"', '"2020-01-01 00:00:00Z"', '"2020-01-01T00:00:00"', '"20-01-01T00:00:00Z"',
    '"2020-1-01T00:00:00Z"', '"2020-01-01T00:00:00\\u005a"', '"2020-01-01T00:00:00.Z"', '"2020-01-01T00:00:00Z "',
    '"2020-01-01T00:00:00+0100"', '""', 'true', '{}', '[]',
  ];
  it.each(refused)('refuses %s', (raw) => {
    expectInvalid(() => convert(withOlderEntry(`{"created":${raw}}`)), /parsing time|cannot unmarshal/);
  });

  it('keeps the top entry\'s "created" exactly as the config has it', () => {
    expect(topV1Text('{"created":"2020-01-01T00:00:00.000+00:00","rootfs":{"diff_ids":[]},"history":[{"empty_layer":true}]}', []))
      .toContain('"created":"2020-01-01T00:00:00.000+00:00"');
  });
});
