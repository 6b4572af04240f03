import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileRetentionPolicy,
  compileTagPattern,
  ruleProblem,
  selectTagsToRemove,
  subjectOfReferrerTag,
  type RetentionRule,
  type TagRecord,
} from '../src/internal.js';

const DAY = 86_400_000;
const NOW = new Date('2030-06-01T00:00:00Z');
/** No grace: every tag pushed before NOW may go. */
const CLOCK = { now: NOW, keepPushedSince: NOW };
const HEX = 'ab'.repeat(32);

/** A tag pushed `daysAgo` days before NOW. */
function tag(name: string, daysAgo: number, digest = `sha256:${name}`): TagRecord {
  return { name, digest, pushedAt: new Date(NOW.getTime() - daysAgo * DAY) };
}

function removedBy(rule: Omit<RetentionRule, 'repositories'>, tags: TagRecord[], clock = CLOCK): string[] {
  const [compiled] = compileRetentionPolicy([{ repositories: ['**'], ...rule }]).rules;
  return selectTagsToRemove(compiled!, tags, clock).map((removed) => removed.name);
}

describe('retention rules', () => {
  it('applies the first rule whose repository pattern matches, and no rule to a repository none matches', () => {
    const policy = compileRetentionPolicy([
      { repositories: ['prod/**'] },
      { repositories: ['team/*', 'ci/**'], keepNewest: 5 },
      { repositories: ['**'], olderThan: 30 * DAY },
    ]);
    expect(policy.ruleFor('prod/api')?.index).toBe(0);
    expect(policy.ruleFor('prod/a/b')?.index).toBe(0);
    expect(policy.ruleFor('team/app')?.index).toBe(1);
    expect(policy.ruleFor('team/app/sub')?.index).toBe(2); // `*` is one segment
    expect(policy.ruleFor('ci/x/y')?.index).toBe(1);
    expect(policy.ruleFor('prod')?.index).toBe(2); // `prod/**` needs a segment below prod
    expect(compileRetentionPolicy([{ repositories: ['team/*'], keepNewest: 1 }]).ruleFor('other')).toBeUndefined();
  });

  it('refuses rules that cannot be meant, naming the clause', () => {
    expect(ruleProblem({ repositories: [] })).toMatch(/^repositories:/);
    expect(ruleProblem({ repositories: ['${user}/**'], keepNewest: 1 })).toMatch(/\$\{user\}/);
    expect(ruleProblem({ repositories: ['**'], keepNewest: 0 })).toMatch(/^keepNewest:/);
    expect(ruleProblem({ repositories: ['**'], keepNewest: 1.5 })).toMatch(/^keepNewest:/);
    expect(ruleProblem({ repositories: ['**'], olderThan: 0 })).toMatch(/^olderThan:/);
    expect(ruleProblem({ repositories: ['**'], keepTags: ['v*'] })).toMatch(/keepTags alone/);
    expect(ruleProblem({ repositories: ['**'], keepTags: ['v*'], keepNewest: 3 })).toBeUndefined();
    expect(ruleProblem({ repositories: ['**'] })).toBeUndefined();
    expect(() => compileRetentionPolicy([{ repositories: ['**'], keepNewest: 1 }, { repositories: ['**'], olderThan: -1 }])).toThrow(
      /retention rule 1: olderThan/,
    );
  });

  it('matches tag patterns whole, with * for any run of characters and ? for one', () => {
    const release = compileTagPattern('v*.*');
    expect(['v1.0', 'v1.2.3', 'v.'].map(release)).toEqual([true, true, true]);
    expect(['v1', 'xv1.0', '1.0'].map(release)).toEqual([false, false, false]);
    const one = compileTagPattern('rc?');
    expect(['rc1', 'rc', 'rc10'].map(one)).toEqual([true, false, false]);
    expect(compileTagPattern('a.b')('aXb')).toBe(false);
  });

  it('knows referrer tags by their shape and names their subject', () => {
    expect(subjectOfReferrerTag(`sha256-${HEX}.sig`)).toBe(`sha256:${HEX}`);
    expect(subjectOfReferrerTag(`sha256-${HEX}`)).toBe(`sha256:${HEX}`);
    expect(subjectOfReferrerTag(`sha256-${HEX}.att`)).toBe(`sha256:${HEX}`);
    expect(subjectOfReferrerTag(`sha256-${HEX.slice(2)}.sig`)).toBeUndefined();
    expect(subjectOfReferrerTag('v1.sig')).toBeUndefined();
  });
});

describe('selectTagsToRemove', () => {
  const tags = [tag('latest', 0.5), tag('v3', 2), tag('v2', 40), tag('v1', 90), tag('nightly-1', 60), tag('nightly-2', 35)];

  it('with olderThan removes the tags pushed longer ago, oldest last', () => {
    expect(removedBy({ olderThan: 30 * DAY }, tags)).toEqual(['nightly-2', 'v2', 'nightly-1', 'v1']);
  });

  it('keeps the newest N whatever their age, and counts them over every tag', () => {
    expect(removedBy({ keepNewest: 3 }, tags)).toEqual(['v2', 'nightly-1', 'v1']);
    expect(removedBy({ keepNewest: 3, olderThan: 50 * DAY }, tags)).toEqual(['nightly-1', 'v1']);
    expect(removedBy({ keepNewest: 10 }, tags)).toEqual([]);
  });

  it('keeps the tags matching a pattern; they still count among the newest', () => {
    expect(removedBy({ keepNewest: 2, keepTags: ['v*'] }, tags)).toEqual(['nightly-2', 'nightly-1']);
    expect(removedBy({ olderThan: 30 * DAY, keepTags: ['nightly-*', 'v1'] }, tags)).toEqual(['v2']);
  });

  it('says why a tag goes', () => {
    const [compiled] = compileRetentionPolicy([{ repositories: ['**'], keepNewest: 5 }]).rules;
    expect(selectTagsToRemove(compiled!, tags, CLOCK).map((removed) => removed.reason)).toEqual(['not-newest']);
    const [old] = compileRetentionPolicy([{ repositories: ['**'], keepNewest: 5, olderThan: DAY }]).rules;
    expect(selectTagsToRemove(old!, tags, CLOCK)).toEqual([{ ...tag('v1', 90), reason: 'older-than' }]);
  });

  it('removes nothing with a rule without olderThan or keepNewest', () => {
    expect(removedBy({}, tags)).toEqual([]);
  });

  it('never counts or removes referrer tags', () => {
    const signature = tag(`sha256-${HEX}.sig`, 100);
    expect(removedBy({ keepNewest: 1 }, [signature, tag('a', 1), tag('b', 2)])).toEqual(['b']);
  });

  it('keeps tags pushed within the grace period', () => {
    const graced = { now: NOW, keepPushedSince: new Date(NOW.getTime() - 45 * DAY) };
    expect(removedBy({ keepNewest: 1 }, tags, graced)).toEqual(['nightly-1', 'v1']);
  });

  it('orders tags pushed at the same time by name, so the same tags are kept whatever the listing order', () => {
    const same = [tag('b', 5), tag('a', 5), tag('c', 5)];
    expect(removedBy({ keepNewest: 1 }, same)).toEqual(['b', 'c']);
    expect(removedBy({ keepNewest: 1 }, [...same].reverse())).toEqual(['b', 'c']);
  });
});

describe('selectTagsToRemove, for any tags and rule', () => {
  const tagName = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,6}$/);
  const tagsArbitrary = fc
    .uniqueArray(fc.record({ name: tagName, daysAgo: fc.integer({ min: 0, max: 100 }) }), { selector: (entry) => entry.name, maxLength: 30 })
    .map((entries) => entries.map(({ name, daysAgo }) => tag(name, daysAgo)));
  const ruleArbitrary = fc.record(
    {
      keepNewest: fc.integer({ min: 1, max: 10 }),
      keepTags: fc.array(fc.stringMatching(/^[a-z0-9*?]{1,3}$/), { maxLength: 3 }),
      olderThan: fc.integer({ min: 1, max: 100 }).map((days) => days * DAY),
    },
    { requiredKeys: [] },
  );
  const graceArbitrary = fc.integer({ min: 0, max: 100 }).map((days) => ({ now: NOW, keepPushedSince: new Date(NOW.getTime() - days * DAY) }));

  const evaluate = (rule: Omit<RetentionRule, 'repositories'>, tags: TagRecord[], clock: typeof CLOCK) => {
    const full = { repositories: ['**'], ...rule } as RetentionRule;
    fc.pre(ruleProblem(full) === undefined);
    const [compiled] = compileRetentionPolicy([full]).rules;
    return { compiled: compiled!, removed: selectTagsToRemove(compiled!, tags, clock) };
  };

  it('removes a tag only when no keep clause protects it, and every tag nothing protects that the rule selects', () => {
    fc.assert(
      fc.property(tagsArbitrary, ruleArbitrary, graceArbitrary, (tags, rule, clock) => {
        const { compiled, removed } = evaluate(rule, tags, clock);
        const removedNames = new Set(removed.map((entry) => entry.name));
        const newest = [...tags].sort((a, b) => b.pushedAt.getTime() - a.pushedAt.getTime() || (a.name < b.name ? -1 : 1));
        for (const [position, entry] of newest.entries()) {
          const protectedByCount = rule.keepNewest !== undefined && position < rule.keepNewest;
          const protectedByName = compiled.keepsTag(entry.name);
          const protectedByGrace = entry.pushedAt >= clock.keepPushedSince;
          const young = rule.olderThan !== undefined && entry.pushedAt.getTime() >= NOW.getTime() - rule.olderThan;
          const selected = rule.keepNewest !== undefined || rule.olderThan !== undefined;
          const expected = selected && !protectedByCount && !protectedByName && !protectedByGrace && !young;
          expect(removedNames.has(entry.name), entry.name).toBe(expected);
        }
      }),
    );
  });

  it('finds nothing more to remove among the tags it leaves', () => {
    fc.assert(
      fc.property(tagsArbitrary, ruleArbitrary, graceArbitrary, (tags, rule, clock) => {
        const { compiled, removed } = evaluate(rule, tags, clock);
        const left = tags.filter((entry) => !removed.some((gone) => gone.name === entry.name));
        expect(selectTagsToRemove(compiled, left, clock)).toEqual([]);
      }),
    );
  });

  it('never removes more when a keep clause is added or widened', () => {
    fc.assert(
      fc.property(tagsArbitrary, ruleArbitrary, fc.integer({ min: 1, max: 5 }), tagName, (tags, rule, more, extraPattern) => {
        const base = evaluate(rule, tags, CLOCK).removed.map((entry) => entry.name);
        const wider = { ...rule, keepNewest: (rule.keepNewest ?? 0) + more, keepTags: [...(rule.keepTags ?? []), extraPattern] };
        if (rule.keepNewest === undefined && rule.olderThan === undefined) return;
        const after = evaluate(wider, tags, CLOCK).removed.map((entry) => entry.name);
        expect(after.every((name) => base.includes(name))).toBe(true);
      }),
    );
  });
});
