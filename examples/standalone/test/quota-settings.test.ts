import { expect, it } from 'vitest';
import { checkConfigDocument, ConfigFileError } from '../src/config/config-file.js';
import { quotaSettings } from '../src/config/quota-setting.js';

const problems = (document: unknown) => {
  try {
    checkConfigDocument(document, '/x.yml');
    return [];
  } catch (error) {
    return (error as ConfigFileError).problems;
  }
};

it('reads quotas with sizes in SI and IEC units, in order', () => {
  const values = checkConfigDocument({ quotas: [{ repositories: 'team/*', limit: '500MiB' }, { repositories: ['**', 'x'], limit: '10GB' }, { repositories: 'x', limit: 4096 }] }, '/x.yml');
  expect(quotaSettings(values.get('quotas') as string[])).toEqual([
    { repository: 'team/*', limit: 500 * 1024 ** 2 },
    { repository: '**', limit: 10 * 1000 ** 3 },
    { repository: 'x', limit: 10 * 1000 ** 3 },
    { repository: 'x', limit: 4096 },
  ]);
});

it('names a bad size, a missing key and an unknown one', () => {
  expect(problems({ quotas: [{ repositories: 'a', limit: '10 gigs' }] })).toEqual([
    'quotas: entry 0: limit: expected a size such as 500MiB, 10GB or 1.5GiB (units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB; a bare number is bytes)',
  ]);
  expect(problems({ quotas: [{ limit: '1GiB' }] })).toEqual(['quotas: entry 0: repositories: missing, or not a pattern or a list of patterns']);
  expect(problems({ quotas: [{ repositories: 'a', limit: '1GiB', size: 1 }] })).toEqual(['quotas: entry 0: unknown key size']);
  expect(problems({ quotas: { 'a/*': '1GiB' } })).toEqual(['quotas: expected a list of entries with repositories and limit']);
});
