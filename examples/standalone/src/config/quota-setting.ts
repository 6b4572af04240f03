import { type RepositoryQuota } from '@berth/core';
import { parseByteSize } from '@berth/core/internal';
import { z } from 'zod';

const SIZE_EXPECTED = 'expected a size such as 500MiB, 10GB or 1.5GiB (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; a bare number is bytes)';

const size = z.union([z.string(), z.number()]).transform((raw, ctx) => {
  const bytes = parseByteSize(String(raw));
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: SIZE_EXPECTED });
    return z.NEVER;
  }
  return bytes;
});

const pattern = z
  .string()
  .min(1)
  .refine((text) => !text.includes('${user}'), { message: '${user} has no meaning in a quota (it holds whoever pushes)' });

// `repositories` as in the access file and the retention rules: one pattern or a list, each repository capped alone.
const entry = z.strictObject({
  repositories: z.union([pattern, z.array(pattern).min(1)]),
  limit: size,
});

/**
 * The config file's `quotas`: a list of `{ repositories: PATTERN | [PATTERN…], limit: SIZE }`, the first
 * matching pattern applying. Returned as one JSON text per pattern (setting values are text), the limit in bytes.
 */
export function parseQuotas(raw: unknown): { ok: true; value: string[] } | { ok: false; problem: string } {
  if (!Array.isArray(raw)) return { ok: false, problem: 'expected a list of entries with repositories and limit' };
  const quotas: string[] = [];
  for (const [index, item] of raw.entries()) {
    const result = entry.safeParse(item);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      const key = issue.path.map(String).join('.');
      const message =
        issue.code === 'unrecognized_keys'
          ? `unknown key ${issue.keys.join(', ')}`
          : issue.code === 'invalid_union'
            ? 'missing, or not a pattern or a list of patterns'
            : issue.code === 'invalid_type' && key !== ''
              ? 'missing or not text'
              : issue.message;
      return { ok: false, problem: `entry ${index}: ${key === '' ? '' : `${key}: `}${message}` };
    }
    const { repositories, limit } = result.data;
    for (const repository of [repositories].flat()) quotas.push(JSON.stringify({ repository, limit } satisfies RepositoryQuota));
  }
  return { ok: true, value: quotas };
}

/** The quotas back from their setting value. */
export function quotaSettings(value: readonly string[] | undefined): RepositoryQuota[] {
  return (value ?? []).map((text) => JSON.parse(text) as RepositoryQuota);
}
