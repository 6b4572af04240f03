// Webhooks as settings: URLs from flags and the environment, entries with options in the config file,
// what reaches the server's configuration, and what `config print` and error lines may show.
import { describe, expect, it } from 'vitest';
import { toServerConfig } from '../src/config.js';
import { checkConfigDocument } from '../src/config/config-file.js';
import { CONFIG_FILE as FILE, configProblems as problems } from './support/config-problems.js';
import { printSettings } from '../src/config/print.js';
import { resolveSettings } from '../src/config/resolve.js';
import { UsageError } from '../src/cli/usage-error.js';


async function serverConfig(flags: Record<string, string | string[] | boolean>, env: NodeJS.ProcessEnv = {}) {
  const resolved = await resolveSettings({ flags: new Map(Object.entries(flags)), env, cwd: '/srv' });
  return { resolved, config: toServerConfig(resolved) };
}

describe('webhooks in the config file', () => {
  it('takes URLs and entries with headers, durations, retries and filters', () => {
    const values = checkConfigDocument(
      {
        webhooks: [
          'http://hooks.internal:8080/events',
          {
            url: 'https://ci.example.com/hook',
            headers: { Authorization: 'Bearer s3cret' },
            timeout: '2s',
            retries: 5,
            backoff: { initial: '500ms', max: '1m' },
            ignore: { actions: ['pull'], mediaTypes: ['application/octet-stream'] },
            maxPendingPulls: 10,
          },
        ],
      },
      FILE,
    );
    const endpoints = (values.get('webhooks') as string[]).map((text) => JSON.parse(text) as unknown);
    expect(endpoints).toEqual([
      { url: 'http://hooks.internal:8080/events' },
      {
        url: 'https://ci.example.com/hook',
        headers: { Authorization: 'Bearer s3cret' },
        timeout: 2000,
        retries: 5,
        backoff: { initial: 500, max: 60_000 },
        ignore: { actions: ['pull'], mediaTypes: ['application/octet-stream'] },
        maxPendingPulls: 10,
      },
    ]);
  });

  it('names the entry and key of each mistake', () => {
    expect(problems({ webhooks: ['ftp://x/y'] })).toEqual(['webhooks: entry 0: expected an absolute http:// or https:// URL']);
    expect(problems({ webhooks: ['http://a/', { url: 'http://b/', timeout: 'soon' }] })).toEqual([
      'webhooks: entry 1: timeout: expected a duration above 0 such as 500ms, 10s or 1m (a bare number is seconds)',
    ]);
    expect(problems({ webhooks: [{ url: 'http://b/', ignore: { actions: ['upload'] } }] })[0]).toMatch(/^webhooks: entry 0: ignore\.actions\.0: /);
    expect(problems({ webhooks: [{ url: 'http://b/', colour: 'red' }] })).toEqual(['webhooks: entry 0: unknown key colour']);
    expect(problems({ webhooks: ['http://a/', 'http://a/'] })).toEqual(['webhooks: each webhook URL may be given once']);
  });
});

describe('webhooks from flags and the environment', () => {
  it('repeats --webhook, splits BERTH_WEBHOOK on commas, and flags win', async () => {
    expect((await serverConfig({ webhook: ['http://a/1', 'http://b/2'] })).config.webhooks).toEqual([{ url: 'http://a/1' }, { url: 'http://b/2' }]);
    expect((await serverConfig({}, { BERTH_WEBHOOK: 'http://a/1, http://b/2' })).config.webhooks).toEqual([{ url: 'http://a/1' }, { url: 'http://b/2' }]);
    expect((await serverConfig({ webhook: ['http://c/3'] }, { BERTH_WEBHOOK: 'http://a/1' })).config.webhooks).toEqual([{ url: 'http://c/3' }]);
    expect((await serverConfig({})).config).toMatchObject({ webhooks: [], pullEvents: false });
  });

  it('sends pulls to every endpoint with --pull-events', async () => {
    const { config } = await serverConfig({ webhook: ['http://a/1'], 'pull-events': true });
    expect(config).toMatchObject({ pullEvents: true, webhooks: [{ url: 'http://a/1' }] });
  });

  it('echoes a bad URL without its query or password', async () => {
    const refusal = await serverConfig({ webhook: ['ftp://user:pw@hooks.example/x?token=query-secret'] }).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(UsageError);
    expect((refusal as Error).message).toBe('invalid --webhook "ftp://user:***@hooks.example/x": expected an absolute http:// or https:// URL');
  });
});

describe('pull events per entry', () => {
  it('turns pull events on for the entries that ask, and off for the others', () => {
    const values = checkConfigDocument({ webhooks: [{ url: 'http://a/', pullEvents: true }, 'http://b/'] }, FILE);
    const resolved = new Map([...values].map(([name, value]) => [name, { value, source: { kind: 'file' as const, name } }]));
    for (const [name, value] of [['host', '127.0.0.1'], ['port', 5000], ['data', '/srv/data'], ['logLevel', 'info'], ['logFormat', 'json'], ['pullEvents', false], ['http2', false], ['metrics', true]] as const) {
      resolved.set(name, { value, source: { kind: 'file', name } });
    }
    const config = toServerConfig(resolved);
    expect(config.pullEvents).toBe(true);
    expect(config.webhooks).toEqual([{ url: 'http://a/' }, { url: 'http://b/', ignore: { actions: ['pull'] } }]);
  });
});

describe('config print', () => {
  it('masks header values and a URL password and query, nothing else', async () => {
    const values = checkConfigDocument({ webhooks: [{ url: 'https://u:pw@ci.example.com/hook?token=t', headers: { Authorization: 'Bearer s3cret' }, retries: 2 }] }, FILE);
    const printed = printSettings(new Map([['webhooks', { value: values.get('webhooks')!, source: { kind: 'file', name: 'webhooks' } }]]));
    expect(printed).not.toMatch(/s3cret|pw@|token=t/);
    expect(printed).toContain('Authorization: "***"');
    expect(printed).toContain('https://u:***@ci.example.com/hook?***');
    expect(printed).toContain('retries: 2');
  });
});
