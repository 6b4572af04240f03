// Retention rules as a setting: the config file's `retention` section checked with clear errors, what
// reaches the server's configuration (and so berth gc and the in-server schedule), and `config print`.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toServerConfig } from '../src/config.js';
import { checkConfigDocument } from '../src/config/config-file.js';
import { CONFIG_FILE as FILE, configProblems as problems } from './support/config-problems.js';
import { printSettings } from '../src/config/print.js';
import { resolveSettings } from '../src/config/resolve.js';

const DAY = 86_400_000;

describe('retention in the config file', () => {
  it('takes rules with patterns (one or a list), keepNewest, keepTags and olderThan in the duration syntax', () => {
    const values = checkConfigDocument(
      {
        retention: {
          rules: [
            { repositories: 'prod/**' },
            { repositories: ['ci/**', 'team/*'], keepNewest: 10, keepTags: ['latest', 'v*'], olderThan: '30d' },
            { repositories: '**', olderThan: 90, keepTags: 'release-*' },
            { repositories: 'tmp/*', olderThan: '12h' },
          ],
        },
      },
      FILE,
    );
    expect(JSON.parse(values.get('retention') as string)).toEqual([
      { repositories: ['prod/**'] },
      { repositories: ['ci/**', 'team/*'], keepNewest: 10, keepTags: ['latest', 'v*'], olderThan: 30 * DAY },
      { repositories: ['**'], olderThan: 90 * DAY, keepTags: ['release-*'] },
      { repositories: ['tmp/*'], olderThan: 12 * 3_600_000 },
    ]);
    expect(JSON.parse(checkConfigDocument({ retention: {} }, FILE).get('retention') as string)).toEqual([]);
  });

  it.each([
    [{ rules: [{ keepNewest: 3 }] }, /^retention: rules\.0\.repositories: expected repository name patterns/],
    [{ rules: [{ repositories: '**', keepNewest: 0 }] }, /^retention: rules\.0\.keepNewest: expected a whole number, 1 or more$/],
    [{ rules: [{ repositories: '**', keepNewest: 2.5 }] }, /^retention: rules\.0\.keepNewest: expected a whole number, 1 or more$/],
    [{ rules: [{ repositories: '**', olderThan: 'a month' }] }, /^retention: rules\.0\.olderThan: expected a duration above 0 such as 12h, 7d or 90d/],
    [{ rules: [{ repositories: '**', olderThan: '0d' }] }, /^retention: rules\.0\.olderThan: expected a duration above 0/],
    [{ rules: [{ repositories: 'a', keepNewest: 1 }, { repositories: '**', keepTags: ['v*'] }] }, /^retention: rules\.1: keepTags alone removes nothing: add olderThan or keepNewest/],
    [{ rules: [{ repositories: [], keepNewest: 1 }] }, /^retention: rules\.0: repositories: give at least one pattern$/],
    [{ rules: [{ repositories: '${user}/**', keepNewest: 1 }] }, /^retention: rules\.0: repositories: .*\$\{user\}/],
    [{ rules: [{ repositories: '**', keep: 1 }] }, /^retention: rules\.0: unknown key keep$/],
    [{ rule: [] }, /^retention: unknown key rule$/],
    [[{ repositories: '**', keepNewest: 1 }], /^retention: expected a mapping with rules$/],
  ])('refuses %j, naming the rule and key', (retention, message) => {
    const found = problems({ retention });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it('reaches the server configuration, and config print shows it as it would be written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-retention-'));
    try {
      const file = join(dir, 'berth.yml');
      await writeFile(file, ['retention:', '  rules:', '    - repositories: ci/**', '      keepNewest: 5', '      olderThan: 14d', ''].join('\n'));
      const resolved = await resolveSettings({ flags: new Map([['config', file]]), env: {}, cwd: dir });
      expect(toServerConfig(resolved).retention).toEqual([{ repositories: ['ci/**'], keepNewest: 5, olderThan: 14 * DAY }]);
      const printed = printSettings(resolved);
      expect(printed).toContain('retention:');
      expect(printed).toMatch(/rules:\n\s+- repositories:\n\s+- ci\/\*\*\n\s+keepNewest: 5\n\s+olderThan: 14d/);
      const without = await resolveSettings({ flags: new Map(), env: {}, cwd: dir });
      expect(toServerConfig(without).retention).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
