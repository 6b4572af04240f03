import { SETTINGS, envNames, type Setting } from '../config/settings.js';
import { readServerConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { startServer } from '../server.js';
import { parseArgs, type FlagSpec } from './args.js';
import { formatDuration } from '../config/duration.js';
import { UsageError } from './usage-error.js';

/** The flags of `serve` (and `config print`): one per setting that has one. */
export const SETTING_FLAGS: readonly FlagSpec[] = SETTINGS.filter((setting) => setting.flag !== undefined).map((setting) => ({
  name: setting.flag!,
  takesValue: setting.kind.type !== 'boolean',
  repeatable: setting.kind.type === 'list' || setting.kind.type === 'webhooks' || setting.kind.type === 'mirrors',
}));

/**
 * `berth serve`: resolves the settings, starts the server and runs until SIGTERM or SIGINT, which
 * drain in-flight requests for up to the shutdown timeout. Exit status 0 when everything drained,
 * 1 when connections had to be closed under running requests (or closing failed).
 */
export async function serve(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, SETTING_FLAGS, 'serve');
  if (args.help) {
    process.stdout.write(serveHelp());
    return 0;
  }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}" (see berth serve --help)`);
  const { config } = await readServerConfig({ flags: args.flags, env: process.env, cwd: process.cwd() });
  const logger = createLogger(config.logLevel, config.logFormat);
  const server = await startServer(config, logger);
  // Start-up and shutdown lines are written whatever the level: scripts wait for the listening line.
  const lifecycle = logger.isLevelEnabled('info') ? logger : logger.child({}, { level: 'info' });
  return new Promise<number>((finish) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      lifecycle.info({ signal, shutdownTimeoutMs: config.shutdownTimeoutMs }, 'finishing in-flight requests');
      server.close().then(
        ({ drained }) => {
          lifecycle.info({ drained }, drained ? 'stopped' : 'stopped; connections were closed under running requests');
          finish(drained ? 0 : 1);
        },
        (error: unknown) => {
          server.logger.error({ err: error }, 'shutdown failed');
          finish(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // Announced once a signal can stop it cleanly: whoever waits for this line may send SIGTERM at once.
    lifecycle.info({ url: server.url }, `listening on ${server.url}`);
  });
}

export function serveHelp(): string {
  const rows = SETTINGS.filter((setting) => setting.flag !== undefined && setting.notAvailable === undefined).map(helpRow);
  const later = SETTINGS.filter((setting) => setting.notAvailable !== undefined && setting.flag !== undefined).map((setting) => `--${setting.flag}`);
  return `Usage: berth serve [flags]

Runs the registry (the default command). Every flag has an environment variable BERTH_<FLAG>
(--upload-ttl: BERTH_UPLOAD_TTL) and a key in the config file; flags win over the environment,
which wins over the file, which wins over the defaults. Durations: 500ms, 90s, 15m, 1h, 7d.

${rows.join('\n')}

Not available in this version: ${later.join(', ')}.
`;
}

function helpRow(setting: Setting): string {
  const flag = setting.kind.type === 'boolean' ? `--[no-]${setting.flag}` : `--${setting.flag} ${setting.valueName ?? 'VALUE'}`;
  const details = [
    envNames(setting).join(', '),
    setting.file === '' ? undefined : `file: ${setting.file}`,
    setting.default === undefined ? undefined : `default: ${printDefault(setting)}`,
  ].filter((part) => part !== undefined);
  return `  ${flag.padEnd(30)} ${setting.help}\n  ${''.padEnd(30)} (${details.join('; ')})`;
}

function printDefault(setting: Setting): string {
  if (setting.kind.type === 'duration') return formatDuration(setting.default as number);
  return Array.isArray(setting.default) ? setting.default.join(',') : String(setting.default);
}
