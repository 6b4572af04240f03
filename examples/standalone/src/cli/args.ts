import { UsageError } from './usage-error.js';

export interface FlagSpec {
  /** Without dashes. */
  readonly name: string;
  /** A flag without a value is a switch (`--trust-proxy`, `--no-trust-proxy`, `--trust-proxy=false`). */
  readonly takesValue: boolean;
  /** Repeated occurrences collect into a list. */
  readonly repeatable?: boolean;
}

export interface ParsedArgs {
  readonly flags: Map<string, string | boolean | string[]>;
  readonly positionals: string[];
  readonly help: boolean;
}

/**
 * A small strict parser: `--flag value`, `--flag=value`, switches, `-h`/`--help`. A `--` is skipped, so
 * that `pnpm start -- --port 5820` (pnpm passes the `--` on) means what `pnpm start --port 5820` does.
 * Every mistake is a UsageError naming the flag.
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], command: string): ParsedArgs {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const flags = new Map<string, string | boolean | string[]>();
  const positionals: string[] = [];
  let help = false;
  for (let index = 0; index < argv.length; index++) {
    const token = argv[index]!;
    if (token === '--') continue;
    if (token === '-h' || token === '--help') {
      help = true;
      continue;
    }
    if (!token.startsWith('-') || token === '-') {
      positionals.push(token);
      continue;
    }
    if (!token.startsWith('--')) throw new UsageError(`unknown flag ${token} (see berth ${command} --help)`);
    const equals = token.indexOf('=');
    let name = token.slice(2, equals === -1 ? undefined : equals);
    let inline = equals === -1 ? undefined : token.slice(equals + 1);
    let spec = byName.get(name);
    if (spec === undefined && name.startsWith('no-') && byName.get(name.slice(3))?.takesValue === false) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      name = name.slice(3);
      spec = byName.get(name);
      inline = 'false';
    }
    if (spec === undefined) throw new UsageError(`unknown flag --${name} (see berth ${command} --help)`);
    if (!spec.takesValue) {
      if (inline === undefined) flags.set(name, true);
      else if (/^(true|1)$/i.test(inline)) flags.set(name, true);
      else if (/^(false|0)$/i.test(inline)) flags.set(name, false);
      else throw new UsageError(`invalid --${name} "${inline}": expected true, false, 1 or 0 (or --${name} / --no-${name})`);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[index + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`--${name} needs a value (see berth ${command} --help)`);
      value = next;
      index++;
    }
    if (spec.repeatable === true) {
      const previous = flags.get(name);
      flags.set(name, [...(Array.isArray(previous) ? previous : []), value]);
    } else {
      flags.set(name, value);
    }
  }
  return { flags, positionals, help };
}
