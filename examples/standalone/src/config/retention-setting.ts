import { z } from 'zod';
import { type RetentionRule } from '@berth/core';
import { ruleProblem } from '@berth/core/internal';
import { formatDuration, parseDuration } from './duration.js';

const patterns = (what: string) =>
  z
    .union([z.string(), z.array(z.string())], { error: `expected ${what}: a pattern or a list of patterns` })
    .transform((value) => (typeof value === 'string' ? [value] : value));

const rule = z
  .strictObject({
    repositories: patterns('repository name patterns'),
    keepNewest: z.number({ error: 'expected a whole number, 1 or more' }).int('expected a whole number, 1 or more').min(1, 'expected a whole number, 1 or more').optional(),
    keepTags: patterns('tag patterns').optional(),
    olderThan: z
      .union([z.string(), z.number()])
      .transform((raw, ctx) => {
        // A retention age is counted in days more often than not: a bare number is days.
        const value = parseDuration(String(raw), 'd');
        if (value === undefined || value <= 0) {
          ctx.addIssue({ code: 'custom', message: 'expected a duration above 0 such as 12h, 7d or 90d (a bare number is days)' });
          return z.NEVER;
        }
        return value;
      })
      .optional(),
  })
  .superRefine((value, ctx) => {
    const problem = ruleProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });

const section = z.strictObject({ rules: z.array(rule).optional() });

/**
 * The config file's `retention` section: `rules`, a list of { repositories, keepNewest, keepTags,
 * olderThan }. Held as JSON text of the rules (setting values are text); a problem names the rule and key.
 */
export function parseRetention(raw: unknown): { ok: true; value: string } | { ok: false; problem: string } {
  const result = section.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.map(String).join('.');
    const message = issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.join(', ')}` : issue.code === 'invalid_type' && issue.path.length === 0 ? 'expected a mapping with rules' : issue.message;
    return { ok: false, problem: `${key === '' ? '' : `${key}: `}${message}` };
  }
  return { ok: true, value: JSON.stringify(result.data.rules ?? []) };
}

export function retentionRules(value: string | undefined): RetentionRule[] {
  return value === undefined ? [] : (JSON.parse(value) as RetentionRule[]);
}

/** For `config print`: the rules as they would be written, ages as durations. */
export function printableRetention(value: string): { rules: unknown[] } {
  return {
    rules: retentionRules(value).map(({ olderThan, ...rule }) => ({ ...rule, ...(olderThan !== undefined && { olderThan: formatDuration(olderThan) }) })),
  };
}
