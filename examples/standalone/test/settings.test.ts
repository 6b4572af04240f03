// The pieces of the command line that are pure: durations, the flag parser, the config document's
// checks and the pretty log line. The binary itself is tested in test/faults/cli*.test.ts.
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../src/cli/args.js';
import { UsageError } from '../src/cli/usage-error.js';
import { ConfigFileError, checkConfigDocument } from '../src/config/config-file.js';
import { formatDuration, parseDuration } from '../src/config/duration.js';
import { maskUrlPassword } from '../src/config/print.js';
import { SETTINGS, envName } from '../src/config/settings.js';
import { prettyLine } from '../src/pretty-log.js';

describe('durations', () => {
  it.each([
    ['500ms', 's', 500],
    ['90s', 's', 90_000],
    ['15m', 's', 900_000],
    ['1h', 's', 3_600_000],
    ['7d', 'h', 604_800_000],
    ['1.5h', 's', 5_400_000],
    ['30', 's', 30_000],
    ['2.5', 's', 2_500],
    ['168', 'h', 604_800_000],
    ['0', 's', 0],
  ] as const)('%s (bare unit %s) is %d ms', (text, unit, ms) => {
    expect(parseDuration(text, unit)).toBe(ms);
  });

  it.each(['', 'soon', '5 minutes', '-1s', '1w', '1h30m', 's'])('%j is not a duration', (text) => {
    expect(parseDuration(text, 's')).toBeUndefined();
  });

  it('prints the shortest exact unit, and reads back what it prints', () => {
    for (const ms of [0, 500, 1_500, 90_000, 900_000, 5_400_000, 604_800_000]) expect(parseDuration(formatDuration(ms), 's')).toBe(ms);
    expect([formatDuration(90_000), formatDuration(3_600_000), formatDuration(1_500)]).toEqual(['90s', '1h', '1500ms']);
  });
});

describe('the flag parser', () => {
  const specs = [
    { name: 'port', takesValue: true },
    { name: 'trust-proxy', takesValue: false },
    { name: 'webhook', takesValue: true, repeatable: true },
  ];

  it('takes --flag value, --flag=value, switches and their --no- form, repeats, and skips a --', () => {
    const parsed = parseArgs(['--', '--port', '1', '--no-trust-proxy', 'extra', '--webhook=a', '--webhook', 'b'], specs, 'serve');
    expect(Object.fromEntries(parsed.flags)).toEqual({ port: '1', 'trust-proxy': false, webhook: ['a', 'b'] });
    expect(parsed.positionals).toEqual(['extra']);
    expect(parseArgs(['--port=-3', '--trust-proxy'], specs, 'serve').flags.get('port')).toBe('-3');
    expect(parseArgs(['-h'], specs, 'serve').help).toBe(true);
  });

  it.each([
    [['--prot', '1'], /^unknown flag --prot \(see berth serve --help\)$/],
    [['-p'], /^unknown flag -p/],
    [['--port'], /^--port needs a value/],
    [['--port', '--trust-proxy'], /^--port needs a value/],
    [['--trust-proxy=maybe'], /^invalid --trust-proxy "maybe"/],
    [['--no-port'], /^unknown flag --no-port/],
  ])('%j is a UsageError', (argv, message) => {
    expect(() => parseArgs(argv, specs, 'serve')).toThrow(UsageError);
    expect(() => parseArgs(argv, specs, 'serve')).toThrow(message);
  });
});

describe('the config document', () => {
  const problems = (document: unknown): readonly string[] => {
    try {
      checkConfigDocument(document, '/etc/berth/berth.yml');
      return [];
    } catch (error) {
      if (!(error instanceof ConfigFileError)) throw error;
      return error.problems;
    }
  };

  it('gives the values by setting name, paths relative to the file', () => {
    const values = checkConfigDocument({ listen: { port: 5820, idleTimeout: '2m', trustProxy: 'true' }, storage: { data: 'data', uploadTtl: 48 }, compatibility: { platforms: ['linux/arm64'] } }, '/etc/berth/berth.yml');
    expect(Object.fromEntries(values)).toEqual({ port: 5820, idleTimeout: 120_000, trustProxy: true, data: '/etc/berth/data', uploadTtl: 172_800_000, platforms: ['linux/arm64'] });
    expect(checkConfigDocument(null, '/x.yml').size).toBe(0);
    expect(Object.fromEntries(checkConfigDocument({ gc: { interval: '6h', grace: 0, deleteUntagged: true } }, '/x.yml'))).toEqual({ gcInterval: 21_600_000, gcGrace: 0, gcDeleteUntagged: true });
  });

  it('names every problem by its path', () => {
    expect(problems({ listen: { port: -1, tls: { cert: 'c.pem' } }, storage: 'here', log: { level: 'loud' }, colour: 1, gc: { grace: 'soon' }, ui: { theme: 'dark' }, mirrors: [{ url: 'https://mirror' }], webhooks: [] })).toEqual([
      'listen.port: expected an integer 0-65535',
      'listen.tls.cert: file not found (/etc/berth/c.pem)',
      'storage: expected a mapping of keys',
      'log.level: expected one of fatal, error, warn, info, debug, trace, silent',
      'gc.grace: expected a duration such as 500ms, 90s, 15m, 1h or 7d (a bare number is seconds; 0 turns it off)',
      'mirrors: entry 0: prefix: expected the repository prefix it serves (hub, ghcr/team, or *)',
      'ui.theme: unknown key (see berth config print for the keys)',
      'colour: unknown key (see berth config print for the keys)',
    ]);
  });
});

it('every flag has the BERTH_ variable of its name, and every setting a distinct file key', () => {
  expect(envName('tls-cert')).toBe('BERTH_TLS_CERT');
  const keys = SETTINGS.map((setting) => setting.file).filter((key) => key !== '');
  expect(new Set(keys).size).toBe(keys.length);
  const topLevel = new Set(keys.map((key) => key.split('.')[0]));
  expect([...topLevel].sort()).toEqual(['access', 'auth', 'compatibility', 'gc', 'listen', 'log', 'metrics', 'mirrors', 'quotas', 'retention', 'storage', 'ui', 'webhooks']);
});

it('masks the password of a URL and nothing else', () => {
  expect(maskUrlPassword('postgres://berth:s3cret@db:5432/berth')).toBe('postgres://berth:***@db:5432/berth');
  expect(maskUrlPassword('postgres://berth@db/berth')).toBe('postgres://berth@db/berth');
});

it('prints a log line for a terminal', () => {
  const line = JSON.stringify({ level: 40, time: Date.UTC(2026, 0, 2, 3, 4, 5), pid: 1, hostname: 'h', msg: 'PostgreSQL is unreachable; retrying', attempt: 2, reason: 'ECONNREFUSED', note: 'two words' });
  expect(prettyLine(line)).toBe('03:04:05 WARN  PostgreSQL is unreachable; retrying attempt=2 reason=ECONNREFUSED note="two words"');
  expect(prettyLine('not json')).toBe('not json');
});
