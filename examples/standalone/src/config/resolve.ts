import { existsSync } from 'node:fs';
import { UsageError } from '../cli/usage-error.js';
import { ConfigFileError, loadConfigFile, type FileValues } from './config-file.js';
import { parseSettingValue } from './setting-value.js';
import { withoutSecrets } from './webhook-setting.js';
import { mirrorsWithoutSecrets } from './mirror-setting.js';
import { SETTINGS, envNames, type Setting, type SettingValue } from './settings.js';

/** Where a resolved value came from: `--port`, `PORT`, `listen.port` in the file, or the default. */
export type Source = { kind: 'flag' | 'env' | 'file'; name: string } | { kind: 'default' };

/** A setting's value and where it came from. */
export interface ResolvedSetting {
  /** The parsed value. */
  readonly value: SettingValue;
  /** Where the value came from: a flag, an environment variable, the config file or the default. */
  readonly source: Source;
}

/** Every setting that has a value, by setting name. */
export type ResolvedSettings = Map<string, ResolvedSetting>;

/** What the settings are read from: command-line flags, the environment and the config file. */
export interface ResolveInput {
  /** Flag values by flag name (as `parseArgs` gives them). */
  flags: ReadonlyMap<string, string | boolean | string[]>;
  /** Environment variables to read settings from (usually `process.env`). */
  env: NodeJS.ProcessEnv;
  /** Directory relative paths in flags and the environment are resolved against. */
  cwd: string;
  /** Leave out the environment (`config check` judges the file alone). */
  ignoreEnv?: boolean;
}

/**
 * Flags win over the environment, which wins over the config file, which wins over the defaults.
 * Every problem is collected and thrown as one UsageError (one line each), naming the flag, the
 * variable (and its flag) or the file and path.
 */
export async function resolveSettings(input: ResolveInput): Promise<ResolvedSettings> {
  const problems: string[] = [];
  const resolved: ResolvedSettings = new Map();
  const env = input.ignoreEnv === true ? {} : input.env;

  const fromCommandLine = (setting: Setting): ResolvedSetting | undefined => {
    const flag = setting.flag;
    if (flag === undefined) return undefined;
    const given = input.flags.get(flag);
    if (given !== undefined) return judge(setting, given, { kind: 'flag', name: flag }, `--${flag}`);
    for (const variable of envNames(setting)) {
      const text = env[variable];
      if (text === undefined || text === '') continue;
      return judge(setting, text, { kind: 'env', name: variable }, `${variable} (--${flag})`);
    }
    return undefined;
  };
  const judge = (setting: Setting, raw: string | boolean | string[], source: Source, label: string): ResolvedSetting | undefined => {
    if (setting.notAvailable !== undefined) {
      problems.push(`${label}: not available in this version of berth (comes with ${setting.notAvailable})`);
      return undefined;
    }
    const parsed = parseSettingValue(setting, Array.isArray(raw) ? raw.join(',') : raw, input.cwd, { checkExists: false });
    if (parsed.ok) return { value: parsed.value, source };
    const text = Array.isArray(raw) ? raw.join(',') : String(raw);
    // A webhook URL's query or password may hold a token: echo it without them.
    problems.push(`invalid ${label} ${JSON.stringify(setting.kind.type === 'webhooks' ? withoutSecrets(text) : setting.kind.type === 'mirrors' ? mirrorsWithoutSecrets(text) : text)}: ${parsed.problem}`);
    return undefined;
  };

  const configSetting = SETTINGS.find((setting) => setting.name === 'config')!;
  const config = fromCommandLine(configSetting);
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  let file: FileValues = new Map();
  if (config !== undefined) {
    resolved.set('config', config);
    try {
      file = await loadConfigFile(String(config.value));
    } catch (error) {
      if (!(error instanceof ConfigFileError)) throw error;
      problems.push(...error.message.split('\n'));
    }
  }

  for (const setting of SETTINGS) {
    if (setting === configSetting) continue;
    const chosen =
      fromCommandLine(setting) ??
      (file.has(setting.name) ? { value: file.get(setting.name)!, source: { kind: 'file' as const, name: setting.file } } : undefined) ??
      (setting.default === undefined ? undefined : { value: setting.default, source: { kind: 'default' as const } });
    if (chosen !== undefined) resolved.set(setting.name, chosen);
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return resolved;
}

/** How to name a setting in a message: the flag and, when it came from the file, the file's key. */
export function settingLabel(resolved: ResolvedSettings, name: string): string {
  const setting = SETTINGS.find((candidate) => candidate.name === name)!;
  const source = resolved.get(name)?.source;
  if (source?.kind === 'file') return `${setting.file} (--${setting.flag})`;
  if (source?.kind === 'env') return `${source.name} (--${setting.flag})`;
  return `--${setting.flag}`;
}

/**
 * Files named by flags or variables that are not there (`--htpasswd: file not found (/etc/users)`).
 * Judged after the settings are known to fit together, so that a missing setting is reported first;
 * the config file's own paths were judged with the file.
 */
export function missingFiles(resolved: ResolvedSettings): string[] {
  const problems: string[] = [];
  for (const setting of SETTINGS) {
    const entry = resolved.get(setting.name);
    if (entry === undefined || setting.kind.type !== 'path' || setting.kind.mustExist !== true) continue;
    if (entry.source.kind !== 'flag' && entry.source.kind !== 'env') continue;
    if (!existsSync(String(entry.value))) problems.push(`${settingLabel(resolved, setting.name)}: file not found (${String(entry.value)})`);
  }
  return problems;
}
