import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { digestOf } from '../src/digest.js';
import { RegistryError } from '../src/errors.js';
import { convertToSchema1 } from '../src/schema1/convert.js';
import { EMPTY_LAYER_DIGEST } from '../src/schema1/empty-layer.js';
import { generateLibtrustKey } from '../src/schema1/libtrust-key.js';
import { parseSchema1Manifest, readSchema1Payload } from '../src/schema1/manifest.js';
import { signSchema1Payload } from '../src/schema1/sign.js';

const key = generateLibtrustKey();
const encoder = new TextEncoder();

/** Strings full of what Go escapes or replaces: HTML characters, quotes, U+2028, controls, emoji, lone surrogates. */
const trickyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({
    unit: fc.constantFrom('<', '>', '&', '"', '\\', '/', '\u2028', '\u2029', '\u0000', '\b', '\n', '\t', 'é', '😀', '\ud800', '\udc00', 'a', ' '),
    maxLength: 12,
  }),
);

const pad = (value: number, width = 2): string => String(value).padStart(width, '0');

/** RFC 3339 times with fractions and offsets, as they appear in image configs. */
const createdTime = fc
  .record({
    year: fc.integer({ min: 1000, max: 9999 }),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 28 }),
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.integer({ min: 0, max: 59 }),
    fraction: fc.option(fc.stringMatching(/^[0-9]{1,12}$/), { nil: undefined }),
    offset: fc.option(fc.record({ sign: fc.constantFrom('+', '-'), hours: fc.integer({ min: 0, max: 23 }), minutes: fc.integer({ min: 0, max: 59 }) }), { nil: undefined }),
  })
  .map(({ year, month, day, hour, minute, second, fraction, offset }) => {
    const zone = offset === undefined ? 'Z' : `${offset.sign}${pad(offset.hours)}:${pad(offset.minutes)}`;
    return `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(hour)}:${pad(minute)}:${pad(second)}${fraction === undefined ? '' : `.${fraction}`}${zone}`;
  });

const historyEntry = fc.record(
  { created: createdTime, created_by: trickyString, author: trickyString, comment: trickyString },
  { requiredKeys: [] },
);

/** Config keys Go would match to rootfs/history/architecture (ignoring case, ſ for s) are left out. */
const extraKey = fc
  .string({ unit: 'grapheme', maxLength: 8 })
  .filter((name) => !['rootfs', 'history', 'architecture'].includes(name.toLowerCase().replace(/ſ/g, 's')));

const imageConfig = fc
  .record({
    layerCount: fc.integer({ min: 1, max: 6 }),
    emptyEntries: fc.array(fc.tuple(fc.nat(), historyEntry), { maxLength: 4 }),
    layerEntries: fc.array(historyEntry, { minLength: 6, maxLength: 6 }),
    architecture: fc.option(trickyString, { nil: undefined }),
    extra: fc.dictionary(extraKey, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
    indent: fc.constantFrom(undefined, 0, 1, 3, '\t'),
  })
  .map(({ layerCount, emptyEntries, layerEntries, architecture, extra, indent }) => {
    // The non-empty entries, one per layer, with empty_layer entries inserted first, in the middle or last.
    const history: Array<Record<string, unknown>> = layerEntries.slice(0, layerCount).map((entry) => ({ ...entry }));
    for (const [position, entry] of emptyEntries) history.splice(position % (history.length + 1), 0, { ...entry, empty_layer: true });
    const config: Record<string, unknown> = { ...extra, rootfs: { type: 'layers', diff_ids: Array.from({ length: layerCount }, (_, i) => `sha256:${String(i).repeat(64)}`) }, history };
    if (architecture !== undefined) config['architecture'] = architecture;
    const layers = Array.from({ length: layerCount }, (_, i) => `sha256:${(i + 10).toString(16).repeat(64)}`);
    return { config, history, layers, text: JSON.stringify(config, null, indent) };
  });

/** What Go's decoder makes of a JS string that went through JSON.stringify: lone surrogates become U+FFFD. */
const wellFormed = (value: string): string =>
  value.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

const fractionOf = (time: string): string => /\.(\d+)/.exec(time)?.[1] ?? '';
const toMilliseconds = (time: string): string => time.replace(/\.(\d+)/, (_, digits: string) => `.${digits.slice(0, 3).padEnd(3, '0')}`);

function convert(text: string, layers: string[]): Uint8Array {
  return convertToSchema1({ configBytes: encoder.encode(text), layers: layers.map((digest) => ({ digest })), repository: 'library/demo', tag: 'latest' });
}

describe('convertToSchema1 properties', () => {
  it('converts any valid config into a payload whose chain is valid and whose signature verifies', () => {
    fc.assert(
      fc.property(imageConfig, ({ config, history, layers, text }) => {
        const payload = convert(text, layers);
        const parsedPayload = readSchema1Payload(payload);
        const manifest = parseSchema1Manifest(signSchema1Payload(payload, key));
        expect(manifest.digest).toBe(digestOf(payload));

        // fsLayers: newest first, the empty-layer blob for empty entries, layers in order otherwise.
        let next = 0;
        const expectedBlobSums = history.map((entry) => (entry['empty_layer'] ? EMPTY_LAYER_DIGEST : layers[next++]!)).reverse();
        expect(parsedPayload.fsLayers.map((layer) => layer.blobSum)).toEqual(expectedBlobSums);
        expect(manifest.layers.map((layer) => layer.digest)).toEqual([...expectedBlobSums].reverse());
        expect(parsedPayload.architecture).toBe(wellFormed((config['architecture'] as string | undefined) ?? ''));

        const images = parsedPayload.history.map((entry) => JSON.parse(entry.v1Compatibility) as Record<string, unknown>);
        // Older entries carry created_by, author, comment (Go-decoded) and the time Go re-formats.
        history.slice(0, -1).forEach((entry, index) => {
          const image = images[history.length - 1 - index]!;
          expect(image['container_config']).toEqual({ Cmd: [wellFormed((entry['created_by'] as string | undefined) ?? '')] });
          expect(image['author'] ?? '').toBe(wellFormed((entry['author'] as string | undefined) ?? ''));
          expect(image['comment'] ?? '').toBe(wellFormed((entry['comment'] as string | undefined) ?? ''));
          expect(image['throwaway']).toBe(entry['empty_layer'] ? true : undefined);
          const created = image['created'] as string;
          expect(created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?(Z|[+-]\d\d:\d\d)$/);
          if (entry['created'] === undefined) expect(created).toBe('0001-01-01T00:00:00Z');
          else {
            // Same instant (compared at millisecond precision) and the same nanoseconds, trailing zeros dropped.
            const input = entry['created'] as string;
            expect(Date.parse(toMilliseconds(created))).toBe(Date.parse(toMilliseconds(input)));
            expect(fractionOf(created)).toBe(fractionOf(input).slice(0, 9).replace(/0+$/, ''));
          }
        });
        // The top entry is the config itself, without rootfs and history, plus id/parent/throwaway.
        const { rootfs: _rootfs, history: _history, ...rest } = JSON.parse(text) as Record<string, unknown>;
        const { id, parent, throwaway, ...top } = images[0]!;
        expect(top).toEqual(Object.fromEntries(Object.entries(rest).filter(([name]) => !['id', 'parent', 'throwaway'].includes(name))));
        expect(id).toMatch(/^[a-f0-9]{64}$/);
        expect(parent).toBe(images[1]?.['id']);
        expect(throwaway).toBe(history[history.length - 1]!['empty_layer'] ? true : (rest['throwaway'] as unknown));
      }),
      { numRuns: 150 },
    );
  });

  it('never throws anything but MANIFEST_INVALID on arbitrary or mistyped configs', () => {
    const anyJson = fc.jsonValue({ maxDepth: 3 });
    const mistyped = fc
      .record({
        rootfs: fc.oneof(anyJson, fc.record({ diff_ids: fc.oneof(anyJson, fc.array(anyJson, { maxLength: 3 })), base_layer: anyJson }, { requiredKeys: [] })),
        history: fc.oneof(anyJson, fc.array(fc.oneof(anyJson, fc.record({ created: fc.oneof(anyJson, createdTime), created_by: anyJson, empty_layer: anyJson }, { requiredKeys: [] })), { maxLength: 4 })),
        architecture: anyJson,
      }, { requiredKeys: [] })
      .map((value) => JSON.stringify(value));
    const mangled = fc.tuple(imageConfig, fc.nat(), fc.string({ maxLength: 3 })).map(([{ text }, at, insert]) => {
      const cut = at % (text.length + 1);
      return text.slice(0, cut) + insert + text.slice(cut + 1);
    });
    const input = fc.oneof(
      mistyped.map((text) => encoder.encode(text)),
      mangled.map((text) => encoder.encode(text)),
      fc.uint8Array({ maxLength: 64 }),
    );
    fc.assert(
      fc.property(input, fc.integer({ min: 0, max: 3 }), (bytes, layerCount) => {
        const layers = Array.from({ length: layerCount }, (_, i) => `sha256:${(i + 10).toString(16).repeat(64)}`);
        try {
          const payload = convertToSchema1({ configBytes: bytes, layers: layers.map((digest) => ({ digest })), repository: 'r', tag: 't' });
          // Whatever converts must still make a payload Docker and containers/image accept.
          parseSchema1Manifest(signSchema1Payload(payload, key));
        } catch (error) {
          expect(error).toBeInstanceOf(RegistryError);
          expect((error as RegistryError).code).toBe('MANIFEST_INVALID');
        }
      }),
      { numRuns: 400 },
    );
  });
});
