import { readFile } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SETTINGS, type Setting, type SettingValue } from './settings.js';
import { isEmptyValue, parseSettingValue } from './setting-value.js';

/** A config file that cannot be used: every problem, each naming its path (`listen.port: expected …`). */
export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(problems.map((problem) => `${file}: ${problem}`).join('\n'));
  }
}

/** The settings a config file gives, by setting name, already checked and parsed. */
export type FileValues = Map<string, SettingValue>;

/**
 * Reads a YAML or JSON config file (by its extension; otherwise JSON if it starts with `{`, else YAML)
 * and checks every key. Relative paths in it are relative to the file's directory.
 */
export async function loadConfigFile(path: string): Promise<FileValues> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigFileError(path, [code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? String(error)})`]);
  }
  let document: unknown;
  try {
    const json = extname(path).toLowerCase() === '.json' || (extname(path) === '' && text.trimStart().startsWith('{'));
    document = json ? JSON.parse(text) : parseYaml(text, { prettyErrors: false });
  } catch (error) {
    throw new ConfigFileError(path, [`not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}`]);
  }
  return checkConfigDocument(document ?? {}, path);
}

/** Checks a parsed config document against the settings table with zod; every problem is collected. */
export function checkConfigDocument(document: unknown, path: string): FileValues {
  const values: FileValues = new Map();
  const schema = documentSchema(values, dirname(path));
  const result = schema.safeParse(document);
  if (!result.success) throw new ConfigFileError(path, result.error.issues.flatMap(describeIssue));
  return values;
}

type Shape = { [key: string]: Shape | Setting };

/** Nested strict objects, one leaf per setting: unknown keys are errors, and so is a value for a feature not built yet. */
function documentSchema(values: FileValues, baseDir: string): z.ZodType {
  const root: Shape = {};
  for (const setting of SETTINGS) {
    if (setting.file === '') continue;
    const keys = setting.file.split('.');
    let node = root;
    for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Shape;
    node[keys.at(-1)!] = setting;
  }
  const build = (shape: Shape): z.ZodType =>
    z
      .strictObject(
        Object.fromEntries(Object.entries(shape).map(([key, child]) => [key, isSetting(child) ? leaf(child).optional() : build(child).optional()])),
      )
      .nullish();
  const leaf = (setting: Setting) =>
    z.unknown().superRefine((raw, ctx) => {
      if (raw === undefined || raw === null) return;
      if (setting.notAvailable !== undefined) {
        if (!isEmptyValue(raw)) ctx.addIssue({ code: 'custom', message: `not available in this version of berth (comes with ${setting.notAvailable})` });
        return;
      }
      const parsed = parseSettingValue(setting, raw, baseDir);
      if (parsed.ok) values.set(setting.name, parsed.value);
      else ctx.addIssue({ code: 'custom', message: parsed.problem });
    });
  return build(root);
}

function isSetting(node: Shape | Setting): node is Setting {
  return typeof (node as Setting).name === 'string' && typeof (node as Setting).kind === 'object';
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const at = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${at === '' ? '' : `${at}.`}${key}: unknown key (see berth config print for the keys)`);
  }
  if (issue.code === 'invalid_type') return [`${at === '' ? '(top level)' : at}: expected a mapping of keys`];
  return [`${at}: ${issue.message}`];
}
