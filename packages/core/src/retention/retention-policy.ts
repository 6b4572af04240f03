import { compilePattern } from '../access/rules.js';
import { compileTagPattern } from './tag-pattern.js';

/**
 * One retention rule: which repositories it applies to and what it keeps. Removal needs `olderThan` or
 * `keepNewest`: with `olderThan`, the tags pushed longer ago than that are candidates; without it, every
 * tag is. A candidate goes unless a keep clause protects it (among the newest `keepNewest`, or matching
 * one of `keepTags`). A rule with neither removes nothing: it exempts its repositories from later rules.
 */
export interface RetentionRule {
  /** Repository name patterns, as in access rules: `*` is one path segment (or part of one), `**` one or more segments. */
  repositories: readonly string[];
  /** Keep the newest this many tags (by push time) whatever their age. At least 1. */
  keepNewest?: number;
  /** Keep the tags matching one of these (`*` any run of characters, `?` one character). */
  keepTags?: readonly string[];
  /** Milliseconds: tags pushed longer ago than this are removed unless kept. Above 0. */
  olderThan?: number;
}

/** A rule ready to apply: its patterns compiled. */
export interface CompiledRetentionRule {
  /** Position in the policy (0 first), named in reports. */
  index: number;
  rule: RetentionRule;
  keepsTag(tag: string): boolean;
}

export interface RetentionPolicy {
  readonly rules: readonly CompiledRetentionRule[];
  /** The rule that applies to a repository: the first whose pattern matches it; undefined leaves it alone. */
  ruleFor(repository: string): CompiledRetentionRule | undefined;
}

/** Checks and compiles rules (RangeError naming the rule for a value that cannot be meant). */
export function compileRetentionPolicy(rules: readonly RetentionRule[]): RetentionPolicy {
  const compiled = rules.map((rule, index) => {
    assertRule(rule, index);
    const repositoryPatterns = rule.repositories.map((pattern) => compilePattern(pattern));
    const tagPatterns = (rule.keepTags ?? []).map(compileTagPattern);
    return {
      matches: (repository: string) => repositoryPatterns.some((pattern) => pattern(repository, undefined)),
      compiled: { index, rule, keepsTag: (tag: string) => tagPatterns.some((pattern) => pattern(tag)) },
    };
  });
  return {
    rules: compiled.map((entry) => entry.compiled),
    ruleFor: (repository) => compiled.find((entry) => entry.matches(repository))?.compiled,
  };
}

function assertRule(rule: RetentionRule, index: number): void {
  const problem = ruleProblem(rule);
  if (problem !== undefined) throw new RangeError(`retention rule ${index}: ${problem}`);
}

/** What is wrong with a rule, in words a config error can show; undefined when it is fine. */
export function ruleProblem(rule: RetentionRule): string | undefined {
  if (rule.repositories.length === 0) return 'repositories: give at least one pattern';
  if (rule.repositories.some((pattern) => pattern === '' || pattern.includes('${user}'))) {
    return 'repositories: a pattern is empty or uses ${user}, which has no meaning without a signed-in user';
  }
  if (rule.keepNewest !== undefined && !(Number.isSafeInteger(rule.keepNewest) && rule.keepNewest >= 1)) {
    return 'keepNewest: expected a whole number, 1 or more';
  }
  if (rule.olderThan !== undefined && !(Number.isFinite(rule.olderThan) && rule.olderThan > 0)) {
    return 'olderThan: expected a duration above 0';
  }
  if (rule.keepTags !== undefined && rule.keepTags.some((pattern) => pattern === '')) return 'keepTags: a pattern is empty';
  if (rule.keepTags !== undefined && rule.keepNewest === undefined && rule.olderThan === undefined) {
    // Read literally it would remove every other tag; more likely olderThan or keepNewest was forgotten.
    return 'keepTags alone removes nothing: add olderThan or keepNewest to say which other tags go';
  }
  return undefined;
}
