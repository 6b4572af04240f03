import { describe, expect, it } from 'vitest';
import { compileQuotas, exceedsQuota, formatByteSize, parseByteSize, quotaExceededError } from '../src/internal.js';

describe('byte sizes', () => {
  it('reads SI and IEC units and bare bytes, and nothing else', () => {
    expect(parseByteSize('500MiB')).toBe(500 * 1024 ** 2);
    expect(parseByteSize('10GB')).toBe(10 * 1000 ** 3);
    expect(parseByteSize('1.5 kib')).toBe(1536);
    expect(parseByteSize('4096')).toBe(4096);
    for (const bad of ['', 'ten', '10 GiBs', '-1MB', '1e3', 'MB']) expect(parseByteSize(bad)).toBeUndefined();
  });

  it('prints binary units', () => {
    expect(formatByteSize(512)).toBe('512 B');
    expect(formatByteSize(1536)).toBe('1.5 KiB');
    expect(formatByteSize(10 * 1024 ** 3)).toBe('10.0 GiB');
  });
});

describe('quotas', () => {
  it('applies the first quota whose pattern matches, with the access rules\' globs', () => {
    const policy = compileQuotas([
      { repository: 'team/big', limit: 100 },
      { repository: 'team/*', limit: 10 },
      { repository: 'public/**', limit: 5 },
    ]);
    expect(policy.quotaFor('team/big')?.limit).toBe(100);
    expect(policy.quotaFor('team/app')?.limit).toBe(10);
    expect(policy.quotaFor('team/app/sub')).toBeUndefined();
    expect(policy.quotaFor('public/a/b')?.limit).toBe(5);
    expect(policy.quotaFor('other')).toBeUndefined();
  });

  it('refuses bad limits and ${user} patterns', () => {
    expect(() => compileQuotas([{ repository: 'a', limit: -1 }])).toThrow(/whole number/);
    expect(() => compileQuotas([{ repository: 'a', limit: 1.5 }])).toThrow(/whole number/);
    expect(() => compileQuotas([{ repository: '${user}/*', limit: 1 }])).toThrow(/user/);
  });

  it('lets a push reach the limit exactly, never pass it; adding nothing always passes', () => {
    const quota = { repository: 'a/*', limit: 100 };
    expect(exceedsQuota(quota, 40, 60)).toBe(false);
    expect(exceedsQuota(quota, 40, 61)).toBe(true);
    expect(exceedsQuota(quota, 150, 0)).toBe(false);
    const error = quotaExceededError(quota, 'a/b', 40, 61);
    expect(error.code).toBe('DENIED');
    expect(error.status).toBe(403);
    expect(error.message).toContain('quota "a/*"');
    expect(error.message).toContain('100 B');
  });
});
