import { describe, expect, it } from 'vitest';
import { DEFAULT_MIRROR_TAG_TTL_MS, MirrorRules, resolveMirrorRule } from '../src/internal.js';

const local = (answer: boolean) => async () => answer;

describe('mirror rules', () => {
  it('moves the URL user-info into credentials and keeps it out of the URL', () => {
    const rule = resolveMirrorRule({ prefix: 'hub', url: 'https://user:p%40ss@registry.example/' });
    expect(rule).toEqual({ prefix: 'hub', url: 'https://registry.example', credentials: { username: 'user', password: 'p@ss' }, tagTtl: DEFAULT_MIRROR_TAG_TTL_MS });
    expect(resolveMirrorRule({ prefix: 'hub', url: 'https://u:x@registry.example', username: 'other', password: 'given' }).credentials).toEqual({ username: 'other', password: 'given' });
    expect(resolveMirrorRule({ prefix: 'hub', url: 'https://registry.example' }).credentials).toBeUndefined();
  });

  it('refuses plain HTTP unless the rule allows it, and bad prefixes or URLs', () => {
    expect(() => resolveMirrorRule({ prefix: 'hub', url: 'http://127.0.0.1:5000' })).toThrow(/plainHttp/);
    expect(resolveMirrorRule({ prefix: 'hub', url: 'http://127.0.0.1:5000', plainHttp: true }).url).toBe('http://127.0.0.1:5000');
    expect(() => resolveMirrorRule({ prefix: 'Hub', url: 'https://r.example' })).toThrow(/prefix/);
    expect(() => resolveMirrorRule({ prefix: 'hub/', url: 'ftp://r.example' })).toThrow(/http/);
    expect(() => resolveMirrorRule({ prefix: 'hub', url: 'registry.example' })).toThrow(/absolute/);
    expect(() => resolveMirrorRule({ prefix: 'hub', url: 'https://r.example', tagTtl: -1 })).toThrow(/tagTtl/);
    expect(() => new MirrorRules([{ prefix: 'hub', url: 'https://a.example' }, { prefix: 'hub/', url: 'https://b.example' }])).toThrow(/twice/);
  });

  it('serves names under a prefix with the prefix stripped, the longest prefix first', async () => {
    const rules = new MirrorRules([
      { prefix: 'ghcr', url: 'https://ghcr.io' },
      { prefix: 'ghcr/acme', url: 'https://acme.example' },
    ]);
    expect(await rules.targetOf('ghcr/acme/app', local(false))).toMatchObject({ rule: { url: 'https://acme.example' }, upstreamName: 'app' });
    expect(await rules.targetOf('ghcr/other/app', local(true))).toMatchObject({ rule: { url: 'https://ghcr.io' }, upstreamName: 'other/app' });
    expect(await rules.targetOf('ghcrx/app', local(false))).toBeUndefined();
    expect(await rules.targetOf('ghcr', local(false))).toBeUndefined();
  });

  it('serves with * only names without local content that are under no prefix', async () => {
    const rules = new MirrorRules([
      { prefix: '*', url: 'https://registry-1.docker.io' },
      { prefix: 'ghcr', url: 'https://ghcr.io' },
    ]);
    expect(await rules.targetOf('library/alpine', local(false))).toMatchObject({ rule: { prefix: '*' }, upstreamName: 'library/alpine' });
    expect(await rules.targetOf('team/app', local(true))).toBeUndefined();
    expect(await rules.targetOf('ghcr/app', local(false))).toMatchObject({ rule: { prefix: 'ghcr' }, upstreamName: 'app' });
    expect(rules.prefixed('library/alpine')).toBeUndefined();
    expect(new MirrorRules([]).empty).toBe(true);
  });
});
