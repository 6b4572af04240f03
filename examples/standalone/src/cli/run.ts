import { readFileSync } from 'node:fs';
import { StartupError } from '../data-dir.js';
import { UsageError } from './usage-error.js';

// Loaded when used: `--version`, `keygen` and `user` need none of the server's modules.
const serve = async (argv: readonly string[]) => (await import('./serve.js')).serve(argv);
const COMMANDS: Record<string, (argv: readonly string[]) => Promise<number>> = {
  serve,
  keygen: async (argv) => (await import('./keygen.js')).keygen(argv),
  user: async (argv) => (await import('./user.js')).user(argv),
  config: async (argv) => (await import('./config-command.js')).config(argv),
  gc: async (argv) => (await import('./gc.js')).gc(argv),
  usage: async (argv) => (await import('./usage.js')).usage(argv),
};

const HELP = `Usage: berth [command] [flags]

An OCI / Docker container registry.

Commands:
  serve        run the registry (the default when no command is given)
  keygen       generate a schema1 or token signing key
  user         add or remove a user of an htpasswd file
  config       check a config file, or print the effective configuration
  gc           collect garbage: remove blobs and manifests no tag reaches
  usage        bytes each repository holds, its quota, and the registry's total

  berth COMMAND --help   the flags of a command
  berth --version        the version
`;

/**
 * The command line: picks the command (serve when the first argument is a flag or absent) and turns
 * every failure into `berth: …` lines without a stack trace. Exit status 2 for a mistake in the
 * command line, the configuration or a setting to fix (the data directory, the port), 1 for anything
 * else.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  try {
    const args = argv[0] === '--' ? argv.slice(1) : argv;
    const [first] = args;
    if (first === '--version' || first === '-v') {
      process.stdout.write(`berth ${version()}\n`);
      return 0;
    }
    if (first === '--help' || first === '-h' || first === 'help') {
      process.stdout.write(HELP);
      return 0;
    }
    if (first === undefined || first.startsWith('-')) return await serve(args).catch((error: unknown) => report(error, 'cannot start: '));
    const command = COMMANDS[first];
    if (command === undefined) throw new UsageError(`unknown command "${first}": expected serve, keygen, user, config, gc or usage (see berth --help)`);
    return await command(args.slice(1)).catch((error: unknown) => report(error, first === 'serve' ? 'cannot start: ' : ''));
  } catch (error) {
    return report(error, '');
  }
}

/** `prefix` goes before an unexpected failure's message (`cannot start: ` for serve). */
function report(error: unknown, prefix: string): number {
  const usage = error instanceof UsageError || error instanceof StartupError;
  const message = error instanceof Error ? error.message : String(error);
  const lines = usage ? message.split('\n') : [`${prefix}${message.replace(/\s*\n\s*/g, ' ')}`];
  for (const line of lines) process.stderr.write(`berth: ${line}\n`);
  return usage ? 2 : 1;
}

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}
