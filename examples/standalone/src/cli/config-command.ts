import { loadAccessFile } from '@berth/auth';
import { readServerConfig } from '../config.js';
import { printSettings } from '../config/print.js';
import { parseArgs } from './args.js';
import { SETTING_FLAGS } from './serve.js';
import { UsageError } from './usage-error.js';

export const CONFIG_HELP = `Usage: berth config check FILE
       berth config print [--config FILE] [serve flags]

check   validates a config file (YAML or JSON) alone, without the environment: every key, every value,
        that the files it names exist and that the settings fit together. Exit 0 when it can be used,
        2 with one line per problem, each naming its path (listen.port: expected an integer 0-65535).
print   prints the configuration serve would run with (flags, then environment, then the file, then
        defaults) as YAML, each value with where it came from; a URL's password is shown as ***.
`;

export async function config(argv: readonly string[]): Promise<number> {
  const [action] = argv.filter((token) => !token.startsWith('-'));
  if (action === 'check') return check(argv.slice(argv.indexOf('check') + 1));
  if (action === 'print') return print(argv.slice(argv.indexOf('print') + 1));
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(CONFIG_HELP);
    return 0;
  }
  throw new UsageError(action === undefined ? 'config needs check or print (see berth config --help)' : `unknown config command "${action}": expected check or print`);
}

async function check(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, [], 'config');
  if (args.help) {
    process.stdout.write(CONFIG_HELP);
    return 0;
  }
  const [file, ...extra] = args.positionals;
  if (file === undefined) throw new UsageError('config check needs a FILE (see berth config --help)');
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}" (see berth config --help)`);
  const { config: server } = await readServerConfig({ flags: new Map([['config', file]]), env: {}, cwd: process.cwd(), ignoreEnv: true });
  // The access rules are read as serve would read them: a bad rule names its line.
  const accessFile = server.auth.mode === 'none' ? undefined : server.auth.accessFile;
  if (accessFile !== undefined) {
    await loadAccessFile(accessFile).catch((error: unknown) => {
      throw new UsageError(`${file}: access: ${(error as Error).message}`);
    });
  }
  process.stdout.write(`${file}: ok\n`);
  return 0;
}

async function print(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, SETTING_FLAGS, 'config print');
  if (args.help) {
    process.stdout.write(CONFIG_HELP);
    return 0;
  }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}" (see berth config --help)`);
  const { resolved } = await readServerConfig({ flags: args.flags, env: process.env, cwd: process.cwd() });
  process.stdout.write(printSettings(resolved));
  return 0;
}
