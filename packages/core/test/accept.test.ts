import { describe, expect, it } from 'vitest';
import { parseAccept } from '../src/accept.js';

const SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';
const LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

describe('parseAccept', () => {
  it.each([
    ['no header', undefined],
    ['an empty string', ''],
    ['only whitespace', '  \t '],
    ['no values', []],
    ['empty values', ['', ' ']],
    ['only empty list elements', ' , ,'],
  ])('is empty for %s', (_what, header) => {
    const accepted = parseAccept(header);
    expect(accepted.isEmpty).toBe(true);
    expect(accepted.entries).toEqual([]);
    expect(accepted.hasSpecificTypes).toBe(false);
    expect(accepted.onlyWildcards).toBe(false);
    expect(accepted.accepts(SCHEMA2)).toBe(false);
  });

  it('reads every header, comma lists and odd whitespace (what docker sends)', () => {
    const accepted = parseAccept([
      `${SCHEMA2}, ${LIST}`,
      `\t${OCI_MANIFEST} ,${OCI_INDEX}  `,
      SCHEMA1_SIGNED,
    ]);
    expect(accepted.entries.map((entry) => entry.mediaType)).toEqual([SCHEMA2, LIST, OCI_MANIFEST, OCI_INDEX, SCHEMA1_SIGNED]);
    expect(accepted.entries.every((entry) => entry.q === 1)).toBe(true);
    for (const type of [SCHEMA2, LIST, OCI_MANIFEST, OCI_INDEX, SCHEMA1_SIGNED]) expect(accepted.accepts(type)).toBe(true);
    expect(accepted.accepts('application/vnd.docker.distribution.manifest.v1+json')).toBe(false);
    expect(accepted.isEmpty).toBe(false);
    expect(accepted.hasSpecificTypes).toBe(true);
    expect(accepted.onlyWildcards).toBe(false);
  });

  it('compares media types case-insensitively, on both sides', () => {
    const accepted = parseAccept(SCHEMA2.toUpperCase());
    expect(accepted.entries[0]?.mediaType).toBe(SCHEMA2);
    expect(accepted.accepts(SCHEMA2)).toBe(true);
    expect(accepted.accepts('Application/Vnd.Docker.Distribution.Manifest.V2+JSON')).toBe(true);
    expect(accepted.accepts(`${SCHEMA2}; charset=utf-8`)).toBe(true);
  });

  it.each(['q=0', 'q=0.0', 'q=0.00', 'q=0.000', 'Q=0', ' q = 0 ', 'q="0"'])('treats %s as not accepted', (weight) => {
    const accepted = parseAccept(`${OCI_INDEX};${weight}, ${SCHEMA2}`);
    expect(accepted.accepts(OCI_INDEX)).toBe(false);
    expect(accepted.qualityOf(OCI_INDEX)).toBe(0);
    expect(accepted.entries.find((entry) => entry.mediaType === OCI_INDEX)?.q).toBe(0);
    expect(accepted.accepts(SCHEMA2)).toBe(true);
  });

  it('is not accepting specific types when every specific type has q=0', () => {
    const accepted = parseAccept(`${OCI_MANIFEST}; q=0, */*`);
    expect(accepted.hasSpecificTypes).toBe(false);
    expect(accepted.onlyWildcards).toBe(true);
    expect(accepted.isEmpty).toBe(false);
  });

  it('reads weights and keeps media type parameters apart from them', () => {
    const accepted = parseAccept(`${OCI_INDEX};q=0.5, ${LIST} ; q=0.001, text/plain;charset="utf-8; x";format=flowed;q=0.8;ext=1`);
    expect(accepted.entries).toEqual([
      { mediaType: OCI_INDEX, q: 0.5, parameters: {} },
      { mediaType: LIST, q: 0.001, parameters: {} },
      { mediaType: 'text/plain', q: 0.8, parameters: { charset: 'utf-8; x', format: 'flowed' } },
    ]);
    expect(accepted.qualityOf(OCI_INDEX)).toBe(0.5);
    expect(accepted.accepts(LIST)).toBe(true);
  });

  it('lets an explicit q=0 win over another weight for the same type', () => {
    const accepted = parseAccept([`${OCI_INDEX}`, `${OCI_INDEX};q=0`]);
    expect(accepted.accepts(OCI_INDEX)).toBe(false);
  });

  it.each([
    ['*/*', true],
    ['application/*', true],
    ['*/*;q=0.1', true],
    ['*', true], // Java's URLConnection spells */* this way
    ['*/*;q=0', false],
  ])('records the wildcard %s without accepting a manifest type', (header, acceptable) => {
    const accepted = parseAccept(header);
    expect(accepted.entries).toHaveLength(1);
    expect(accepted.accepts(SCHEMA2)).toBe(false);
    expect(accepted.accepts(OCI_MANIFEST)).toBe(false);
    expect(accepted.hasSpecificTypes).toBe(false);
    expect(accepted.onlyWildcards).toBe(acceptable);
    expect(accepted.isEmpty).toBe(false);
  });

  it('is neither empty nor wildcard-only for a specific non-manifest type', () => {
    const accepted = parseAccept('application/json');
    expect(accepted).toMatchObject({ isEmpty: false, hasSpecificTypes: true, onlyWildcards: false });
    expect(accepted.accepts(SCHEMA2)).toBe(false);
  });

  it('mixes wildcards and specific types', () => {
    const accepted = parseAccept(`*/*;q=0.1, ${OCI_MANIFEST}`);
    expect(accepted).toMatchObject({ hasSpecificTypes: true, onlyWildcards: false });
    expect(accepted.accepts(OCI_MANIFEST)).toBe(true);
    expect(accepted.accepts(SCHEMA2)).toBe(false);
  });

  it.each([
    ['no slash', 'json'],
    ['an empty subtype', 'application/'],
    ['a wildcard type with a subtype', '*/json'],
    ['a space inside', 'application/vnd docker'],
    ['a weight that is no number', `${SCHEMA2};q=high`],
    ['a weight above 1', `${SCHEMA2};q=2`],
    ['a negative weight', `${SCHEMA2};q=-1`],
  ])('skips an element with %s but keeps the rest', (_what, element) => {
    const accepted = parseAccept(`${element}, ${OCI_INDEX}`);
    expect(accepted.entries.map((entry) => entry.mediaType)).toEqual([OCI_INDEX]);
    expect(accepted.accepts(SCHEMA2)).toBe(false);
    expect(accepted.isEmpty).toBe(false);
  });

  it('does not split on commas inside quoted parameter values', () => {
    const accepted = parseAccept(`text/plain;note="a, b\\" c", ${SCHEMA2}`);
    expect(accepted.entries.map((entry) => entry.mediaType)).toEqual(['text/plain', SCHEMA2]);
    expect(accepted.entries[0]?.parameters).toEqual({ note: 'a, b" c' });
  });

  it('tolerates weights the grammar does not allow but that are clearly numbers', () => {
    const accepted = parseAccept(`*; q=.2, ${OCI_INDEX};q=0.0001, ${LIST};q=1.000`);
    expect(accepted.entries.map((entry) => entry.q)).toEqual([0.2, 0.0001, 1]);
    expect(accepted.accepts(OCI_INDEX)).toBe(true);
  });
});
