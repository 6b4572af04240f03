import { z } from 'zod';
import type { MirrorRule } from '@berth/core';
import { resolveMirrorRule } from '@berth/core/internal';
import { parseDuration } from './duration.js';

const duration = z.union([z.string(), z.number()]).transform((raw, ctx) => {
  const value = parseDuration(String(raw), 's');
  if (value === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration such as 30s, 5m or 1h (a bare number is seconds; 0 revalidates every pull)' });
    return z.NEVER;
  }
  return value;
});
const entry = z.strictObject({
  prefix: z.string({ error: 'expected the repository prefix it serves (hub, ghcr/team, or *)' }).min(1, 'expected the repository prefix it serves (hub, ghcr/team, or *)'),
  url: z.string({ error: "expected the upstream registry's URL (https://registry-1.docker.io)" }),
  username: z.string().optional(),
  password: z.string().optional(),
  tagTtl: duration.optional(),
  plainHttp: z.boolean().optional(),
});

/**
 * Mirrors from flags and the environment (`PREFIX=URL`, comma-separated) or the file (a list of
 * `PREFIX=URL` strings or of entries with credentials, tagTtl, plainHttp). An `http://` URL implies
 * plainHttp: writing it is the decision. Each rule is returned as JSON text; a problem names the entry and
 * never echoes a password.
 */
export function parseMirrors(raw: unknown): { ok: true; value: string[] } | { ok: false; problem: string } {
  const fromFile = Array.isArray(raw);
  const items: unknown[] | undefined = fromFile ? raw : typeof raw === 'string' ? raw.split(',').map((item) => item.trim()).filter((item) => item !== '') : undefined;
  if (items === undefined) return { ok: false, problem: 'expected PREFIX=URL, or a list of them or of entries with prefix and url' };
  const rules: MirrorRule[] = [];
  for (const [index, item] of items.entries()) {
    const where = fromFile ? `entry ${index}: ` : '';
    let rule: MirrorRule;
    if (typeof item === 'string') {
      const split = item.indexOf('=');
      if (split <= 0) return { ok: false, problem: `${where}expected PREFIX=URL (hub=https://registry-1.docker.io, or *=URL)` };
      rule = { prefix: item.slice(0, split).trim(), url: item.slice(split + 1).trim() };
    } else {
      const result = entry.safeParse(item);
      if (!result.success) {
        const issue = result.error.issues[0]!;
        const key = issue.path.map(String).join('.');
        return { ok: false, problem: `${where}${key === '' ? '' : `${key}: `}${issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.join(', ')}` : issue.message}` };
      }
      rule = Object.fromEntries(Object.entries(result.data).filter(([, value]) => value !== undefined)) as unknown as MirrorRule;
    }
    if (rule.plainHttp === undefined && /^http:\/\//i.test(rule.url)) rule.plainHttp = true;
    try {
      resolveMirrorRule(rule);
    } catch (error) {
      return { ok: false, problem: `${where}${(error as Error).message}` };
    }
    rules.push(rule);
  }
  const prefixes = rules.map((rule) => rule.prefix.replace(/\/+$/, ''));
  const repeated = prefixes.find((prefix, index) => prefixes.indexOf(prefix) !== index);
  if (repeated !== undefined) return { ok: false, problem: `the prefix ${repeated} is given twice` };
  return { ok: true, value: rules.map((rule) => JSON.stringify(rule)) };
}

export function mirrorSettings(value: readonly string[] | undefined): MirrorRule[] {
  return (value ?? []).map((text) => JSON.parse(text) as MirrorRule);
}

/** For `config print` and messages: no password, in the entry or in the URL. */
export function maskedMirror(rule: MirrorRule): MirrorRule {
  const masked: MirrorRule = { ...rule, url: withoutUserInfoPassword(rule.url) };
  if (rule.password !== undefined) masked.password = '***';
  return masked;
}

/** `PREFIX=https://user:pass@host` items with the passwords replaced, for an error message echoing the value. */
export function mirrorsWithoutSecrets(text: string): string {
  return text.replace(/(\/\/[^:/@,]*:)[^@/,]*@/g, '$1***@');
}

function withoutUserInfoPassword(text: string): string {
  return mirrorsWithoutSecrets(text);
}
