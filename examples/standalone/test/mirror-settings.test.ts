// Mirrors as settings: PREFIX=URL from flags (repeatable) and the environment (comma-separated), entries
// with credentials and freshness in the config file, what reaches the server's configuration, and what
// `config print` and error lines may show.
import { describe, expect, it } from 'vitest';
import { toServerConfig } from '../src/config.js';
import { checkConfigDocument } from '../src/config/config-file.js';
import { CONFIG_FILE as FILE, configProblems as problems } from './support/config-problems.js';
import { printSettings } from '../src/config/print.js';
import { resolveSettings } from '../src/config/resolve.js';


async function serverConfig(flags: Record<string, string | string[] | boolean>, env: NodeJS.ProcessEnv = {}) {
  const resolved = await resolveSettings({ flags: new Map(Object.entries(flags)), env, cwd: '/srv' });
  return toServerConfig(resolved);
}

async function usageProblem(flags: Record<string, string | string[]>, env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    await serverConfig(flags, env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a usage error');
}

describe('mirrors from flags and the environment', () => {
  it('takes --mirror PREFIX=URL repeated, and BERTH_MIRROR comma-separated; an http:// URL implies plain HTTP', async () => {
    const fromFlags = await serverConfig({ mirror: ['hub=https://registry-1.docker.io', '*=http://127.0.0.1:5001'] });
    expect(fromFlags.mirrors).toEqual([
      { prefix: 'hub', url: 'https://registry-1.docker.io' },
      { prefix: '*', url: 'http://127.0.0.1:5001', plainHttp: true },
    ]);
    const fromEnv = await serverConfig({}, { BERTH_MIRROR: 'hub=https://u:p@registry-1.docker.io, ghcr=https://ghcr.io' });
    expect(fromEnv.mirrors.map((rule) => rule.prefix)).toEqual(['hub', 'ghcr']);
    expect((await serverConfig({})).mirrors).toEqual([]);
  });

  it('refuses a value without PREFIX=, a bad prefix, a repeated prefix, and echoes no password', async () => {
    expect(await usageProblem({ mirror: ['https://registry-1.docker.io'] })).toMatch(/--mirror.*PREFIX=URL/);
    expect(await usageProblem({ mirror: ['Hub=https://r.example'] })).toMatch(/prefix/);
    expect(await usageProblem({ mirror: ['hub=https://a.example', 'hub=https://b.example'] })).toMatch(/twice/);
    const message = await usageProblem({}, { BERTH_MIRROR: 'hub=ftp://user:s3cret@r.example' });
    expect(message).toMatch(/BERTH_MIRROR/);
    expect(message).not.toContain('s3cret');
  });
});

describe('mirrors in the config file', () => {
  it('takes PREFIX=URL strings and entries with credentials, tagTtl and plainHttp', () => {
    const values = checkConfigDocument(
      {
        mirrors: [
          'hub=https://registry-1.docker.io',
          { prefix: 'ghcr', url: 'https://ghcr.io', username: 'bot', password: 's3cret', tagTtl: '10m' },
          { prefix: 'local', url: 'http://127.0.0.1:5001', tagTtl: 0 },
        ],
      },
      FILE,
    );
    expect((values.get('mirrors') as string[]).map((text) => JSON.parse(text) as unknown)).toEqual([
      { prefix: 'hub', url: 'https://registry-1.docker.io' },
      { prefix: 'ghcr', url: 'https://ghcr.io', username: 'bot', password: 's3cret', tagTtl: 600_000 },
      { prefix: 'local', url: 'http://127.0.0.1:5001', tagTtl: 0, plainHttp: true },
    ]);
  });

  it('names the entry and key of a problem', () => {
    expect(problems({ mirrors: [{ prefix: 'hub', url: 'https://r.example', tagTtl: 'soon' }] }).join('\n')).toMatch(/mirrors.*entry 0: tagTtl: expected a duration/);
    expect(problems({ mirrors: [{ prefix: 'hub', url: 'https://r.example', proxy: true }] }).join('\n')).toMatch(/entry 0: unknown key proxy/);
    expect(problems({ mirrors: ['hub=https://r.example', { prefix: 'x', url: 'http://r.example', plainHttp: false }] }).join('\n')).toMatch(/entry 1: .*plainHttp/);
  });

  it('prints mirrors without passwords, in the entry or in the URL', () => {
    const values = checkConfigDocument({ mirrors: ['hub=https://u:pw-in-url@registry-1.docker.io', { prefix: 'ghcr', url: 'https://ghcr.io', username: 'bot', password: 's3cret' }] }, FILE);
    const printed = printSettings(new Map([['mirrors', { value: values.get('mirrors')!, source: { kind: 'file', name: 'mirrors' } }]]));
    expect(printed).not.toMatch(/s3cret|pw-in-url/);
    expect(printed).toContain('https://u:***@registry-1.docker.io');
    expect(printed).toContain('password: "***"');
  });
});
