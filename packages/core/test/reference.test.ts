import { describe, expect, it } from 'vitest';
import { RegistryError } from '../src/errors.js';
import { parseManifestLookup, parseManifestReference } from '../src/reference.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

function thrown(run: () => unknown): RegistryError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RegistryError);
    return error as RegistryError;
  }
  throw new Error('expected a RegistryError');
}

// What no tag can be: the conformance suite's `nonexistentManifest` first.
const NOT_TAGS = ['.INVALID_MANIFEST_NAME', '-leading-dash', 'a'.repeat(129), 'with space', 'ümlaut', 'a/b', ''];

describe('manifest references', () => {
  it.each([parseManifestReference, parseManifestLookup])('%o classifies tags and digests alike', (parse) => {
    expect(parse('latest')).toEqual({ kind: 'tag', tag: 'latest' });
    expect(parse('_v1.2-rc_3')).toEqual({ kind: 'tag', tag: '_v1.2-rc_3' });
    expect(parse('a'.repeat(128))).toEqual({ kind: 'tag', tag: 'a'.repeat(128) });
    expect(parse(DIGEST)).toEqual({ kind: 'digest', digest: DIGEST });
  });

  it.each([parseManifestReference, parseManifestLookup])('%o: a malformed digest is DIGEST_INVALID (400)', (parse) => {
    for (const reference of ['sha256:zz', 'sha256:totallywrong', `sha256:${'A'.repeat(64)}`, `md5:${'a'.repeat(32)}`, 'a:b']) {
      const error = thrown(() => parse(reference));
      expect([error.code, error.status]).toEqual(['DIGEST_INVALID', 400]);
    }
  });

  it.each(NOT_TAGS)('for a push, %j is TAG_INVALID (400)', (reference) => {
    const error = thrown(() => parseManifestReference(reference));
    expect([error.code, error.status]).toEqual(['TAG_INVALID', 400]);
    expect(error.detail).toEqual({ tag: reference });
  });

  it.each(NOT_TAGS)('for a lookup, %j names nothing that can exist: MANIFEST_UNKNOWN (404)', (reference) => {
    const error = thrown(() => parseManifestLookup(reference));
    expect([error.code, error.status]).toEqual(['MANIFEST_UNKNOWN', 404]);
    expect(error.message).toContain('is not a valid tag');
    expect(error.detail).toEqual({ tag: reference });
  });
});
