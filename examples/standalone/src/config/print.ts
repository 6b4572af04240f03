import { formatByteSize } from '@berth/core/internal';
import { Document, isMap, isScalar } from 'yaml';
import { formatDuration } from './duration.js';
import { quotaSettings } from './quota-setting.js';
import type { ResolvedSettings, Source } from './resolve.js';
import { SETTINGS, type Setting, type SettingValue } from './settings.js';
import { printableRetention } from './retention-setting.js';
import { maskedMirror, mirrorSettings } from './mirror-setting.js';
import { maskedWebhook, webhookSettings } from './webhook-setting.js';

/**
 * The effective configuration as a config file (YAML) that would give the same settings, each value
 * followed by where it came from (`# --port`, `# PORT`, `# config file`, `# default`). A URL's
 * password is printed as `***`.
 */
export function printSettings(resolved: ResolvedSettings): string {
  const document = new Document({});
  for (const setting of SETTINGS) {
    const entry = resolved.get(setting.name);
    if (entry === undefined || setting.file === '' || setting.notAvailable !== undefined) continue;
    const path = setting.file.split('.');
    document.setIn(path, document.createNode(printable(setting, entry.value)));
    const node = document.getIn(path, true);
    if (isScalar(node) || isMap(node) || (node !== null && typeof node === 'object' && 'comment' in node)) {
      (node as { comment?: string | null }).comment = ` ${describeSource(entry.source)}`;
    }
  }
  return document.toString({ lineWidth: 0 });
}

function printable(setting: Setting, value: SettingValue): unknown {
  if (setting.kind.type === 'duration') return formatDuration(value as number);
  if (setting.kind.type === 'webhooks') return webhookSettings(value as readonly string[]).map(maskedWebhook);
  if (setting.kind.type === 'quotas') return quotaSettings(value as readonly string[]).map(({ repository, limit }) => ({ repositories: repository, limit: formatByteSize(limit) }));
  if (setting.kind.type === 'retention') return printableRetention(value as string);
  if (setting.kind.type === 'mirrors') return mirrorSettings(value as readonly string[]).map(maskedMirror);
  if (setting.secret === 'url-password' && typeof value === 'string') return maskUrlPassword(value);
  return Array.isArray(value) ? [...value] : value;
}

/** `postgres://berth:s3cret@db/berth` -> `postgres://berth:***@db/berth`; anything else unchanged. */
export function maskUrlPassword(text: string): string {
  try {
    const url = new URL(text);
    if (url.password === '') return text;
    url.password = '***';
    return url.toString().replace(/%2A%2A%2A@/i, '***@');
  } catch {
    return text.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
  }
}

function describeSource(source: Source): string {
  switch (source.kind) {
    case 'flag':
      return `--${source.name}`;
    case 'env':
      return source.name;
    case 'file':
      return 'config file';
    case 'default':
      return 'default';
  }
}
