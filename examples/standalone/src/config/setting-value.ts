import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDuration } from './duration.js';
import type { Setting, SettingValue } from './settings.js';
import { parseQuotas } from './quota-setting.js';
import { parseRetention } from './retention-setting.js';
import { parseMirrors } from './mirror-setting.js';
import { parseWebhooks } from './webhook-setting.js';

export type Parsed = { ok: true; value: SettingValue } | { ok: false; problem: string };

const BOOLEANS = new Map([
  ['true', true],
  ['1', true],
  ['false', false],
  ['0', false],
]);

/**
 * One setting's value from a flag, a variable (text) or the config file (text, or a YAML number,
 * boolean or list). `baseDir` resolves relative paths: the working directory, or the config file's.
 * A problem is worded to follow the setting's name: `expected an integer 0-65535`, `file not found`.
 * `checkExists: false` leaves out whether a file is there (see `missingFiles`).
 */
export function parseSettingValue(setting: Setting, raw: unknown, baseDir: string, { checkExists = true }: { checkExists?: boolean } = {}): Parsed {
  const kind = setting.kind;
  const text = typeof raw === 'string' ? raw.trim() : typeof raw === 'number' ? String(raw) : undefined;
  switch (kind.type) {
    case 'string':
      return text === undefined ? expected('a string') : { ok: true, value: text };
    case 'choice':
      return text !== undefined && kind.choices.includes(text) ? { ok: true, value: text } : expected(`one of ${kind.choices.join(', ')}`);
    case 'path': {
      if (text === undefined || text === '') return expected('a file name');
      const path = resolve(baseDir, text);
      if (checkExists && kind.mustExist === true && !existsSync(path)) return { ok: false, problem: `file not found (${path})` };
      return { ok: true, value: path };
    }
    case 'integer': {
      const value = text !== undefined && /^\d+$/.test(text) ? Number(text) : Number.NaN;
      return Number.isSafeInteger(value) && value >= kind.min && value <= kind.max ? { ok: true, value } : expected(kind.expected);
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return { ok: true, value: raw };
      const value = text === undefined ? undefined : BOOLEANS.get(text.toLowerCase());
      return value === undefined ? expected('true, false, 1 or 0') : { ok: true, value };
    }
    case 'duration': {
      const value = text === undefined ? undefined : parseDuration(text, kind.bareUnit);
      if (value === undefined || (value === 0 && !kind.zero)) {
        const bare = kind.bareUnit === 'h' ? 'hours' : 'seconds';
        return expected(`a duration such as 500ms, 90s, 15m, 1h or 7d (a bare number is ${bare}${kind.zero ? '; 0 turns it off' : '; above 0'})`);
      }
      return { ok: true, value };
    }
    case 'list': {
      const items = Array.isArray(raw) ? raw : text === undefined ? undefined : text.split(',');
      if (items === undefined || !items.every((item) => typeof item === 'string')) return expected('a comma-separated list, or a list of strings');
      const list = (items as string[]).map((item) => item.trim()).filter((item) => item !== '');
      return list.length === 0 ? expected('at least one item') : { ok: true, value: list };
    }
    case 'webhooks':
      return parseWebhooks(raw);
    case 'quotas':
      return parseQuotas(raw);
    case 'retention':
      return parseRetention(raw);
    case 'mirrors':
      return parseMirrors(raw);
    case 'section':
      return raw === undefined ? expected('a value') : { ok: true, value: JSON.stringify(raw) };
  }
}

function expected(what: string): Parsed {
  return { ok: false, problem: `expected ${what}` };
}

/** Whether a config file value says nothing: absent, null, false, an empty list or an empty mapping. */
export function isEmptyValue(raw: unknown): boolean {
  if (raw === undefined || raw === null || raw === false || raw === '') return true;
  if (Array.isArray(raw)) return raw.length === 0;
  if (typeof raw === 'object') return Object.values(raw).every(isEmptyValue);
  return false;
}
