import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import bcrypt from 'bcryptjs';
import { parseArgs } from './args.js';
import { readPasswordFromStdin, readPasswordFromTerminal } from './password-input.js';
import { UsageError } from './usage-error.js';

export const USER_HELP = `Usage: berth user add NAME --htpasswd FILE [--password-stdin] [--cost N]
       berth user remove NAME --htpasswd FILE

Adds a user to an htpasswd file (bcrypt, $2y$, as distribution and htpasswd -B write), or replaces the
password of one already there; removes a user. Other lines stay as they are; the file is rewritten
atomically (a server reading it never sees half a file) and created with mode 0600.

  --htpasswd FILE     the htpasswd file (serve --htpasswd reads it, and notices changes)
  --password-stdin    read the password from stdin (one line) instead of asking twice on the terminal
  --cost N            bcrypt cost, 4-31 (default 10)
`;

const DEFAULT_COST = 10;

export async function user(argv: readonly string[]): Promise<number> {
  const args = parseArgs(
    argv,
    [
      { name: 'htpasswd', takesValue: true },
      { name: 'password-stdin', takesValue: false },
      { name: 'cost', takesValue: true },
    ],
    'user',
  );
  if (args.help) {
    process.stdout.write(USER_HELP);
    return 0;
  }
  const [action, name, ...extra] = args.positionals;
  if (action !== 'add' && action !== 'remove') {
    throw new UsageError(action === undefined ? 'user needs add or remove (see berth user --help)' : `unknown user command "${action}": expected add or remove`);
  }
  if (name === undefined) throw new UsageError(`user ${action} needs a user NAME (see berth user --help)`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}" (see berth user --help)`);
  checkUserName(name);
  const file = args.flags.get('htpasswd') as string | undefined;
  if (file === undefined) throw new UsageError(`user ${action} needs --htpasswd FILE`);

  if (action === 'remove') {
    if (args.flags.has('password-stdin') || args.flags.has('cost')) throw new UsageError('user remove takes no --password-stdin or --cost');
    const lines = await readLines(file, { mustExist: true });
    const kept = lines.filter((line) => entryName(line) !== name);
    if (kept.length === lines.length) {
      process.stderr.write(`berth: no user "${name}" in ${file}\n`);
      return 1;
    }
    await replaceFile(file, kept);
    process.stderr.write(`removed user ${name} from ${file}\n`);
    return 0;
  }

  const cost = costOf(args.flags.get('cost') as string | undefined);
  const password = args.flags.get('password-stdin') === true ? await readPasswordFromStdin() : await readPasswordFromTerminal();
  // bcryptjs writes $2b$; $2y$ is the same algorithm under the prefix htpasswd and distribution use.
  const entry = `${name}:${(await bcrypt.hash(password, cost)).replace(/^\$2b\$/, '$2y$')}`;
  const lines = await readLines(file, { mustExist: false });
  const at = lines.findIndex((line) => entryName(line) === name);
  // The first entry of the name is replaced in place; any later duplicates go.
  const updated = at === -1 ? [...lines, entry] : lines.flatMap((line, index) => (index === at ? [entry] : entryName(line) === name ? [] : [line]));
  await replaceFile(file, updated);
  process.stderr.write(`${at === -1 ? 'added user' : 'changed the password of'} ${name} ${at === -1 ? 'to' : 'in'} ${file}\n`);
  return 0;
}

/** The names an htpasswd line and the access rules can hold: no colon, no white space, not a rule's keyword. */
function checkUserName(name: string): void {
  if (name === '' || /[:\s]/.test(name)) throw new UsageError(`invalid user name "${name}": no colon or white space`);
  if (name === 'anonymous' || name === '*') throw new UsageError(`"${name}" cannot be a user name: the access rules use it for ${name === '*' ? 'any signed-in user' : 'callers without credentials'}`);
}

function costOf(text: string | undefined): number {
  if (text === undefined) return DEFAULT_COST;
  const cost = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(cost >= 4 && cost <= 31)) throw new UsageError(`invalid --cost "${text}": expected a whole number 4-31`);
  return cost;
}

function entryName(line: string): string | undefined {
  if (line.trimStart().startsWith('#')) return undefined;
  const colon = line.indexOf(':');
  return colon === -1 ? undefined : line.slice(0, colon);
}

async function readLines(file: string, { mustExist }: { mustExist: boolean }): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !mustExist) return [];
    throw new UsageError(`cannot read ${file}: ${code === 'ENOENT' ? 'file not found' : (code ?? String(error))}`);
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Write a temporary file beside it, then rename: readers see the old file or the new one. Keeps an existing file's mode. */
async function replaceFile(file: string, lines: readonly string[]): Promise<void> {
  const mode = await stat(file).then(
    (info) => info.mode & 0o777,
    () => 0o600,
  );
  const temporary = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    await writeFile(temporary, lines.length === 0 ? '' : `${lines.join('\n')}\n`, { mode, flag: 'wx' });
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw new UsageError(`cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
