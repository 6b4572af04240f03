import { z } from 'zod';
import type { WebhookEndpoint } from '@berth/registry';
import { parseDuration } from './duration.js';

/** One `webhooks` entry of the config file: a URL, or a URL with its delivery options. */
export interface WebhookSetting extends WebhookEndpoint {
  /** Send pull events to this endpoint too (best-effort, from memory). */
  pullEvents?: boolean;
}

const ACTIONS = ['push', 'pull', 'delete', 'mount'] as const;
const HTTP_URL_EXPECTED_TEXT = 'expected an absolute http:// or https:// URL';

const httpUrl = z.string().refine(isHttpUrl, { message: HTTP_URL_EXPECTED_TEXT });
const duration = z.union([z.string(), z.number()]).transform((raw, ctx) => {
  const value = parseDuration(String(raw), 's');
  if (value === undefined || value <= 0) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration above 0 such as 500ms, 10s or 1m (a bare number is seconds)' });
    return z.NEVER;
  }
  return value;
});
const entry = z.strictObject({
  url: httpUrl,
  headers: z.record(z.string(), z.string()).optional(),
  timeout: duration.optional(),
  retries: z.number().int().positive().optional(),
  ignore: z.strictObject({ mediaTypes: z.array(z.string()).optional(), actions: z.array(z.enum(ACTIONS)).optional() }).optional(),
  backoff: z.strictObject({ initial: duration.optional(), max: duration.optional() }).optional(),
  maxPendingPulls: z.number().int().positive().optional(),
  pullEvents: z.boolean().optional(),
});

const HTTP_URL_EXPECTED = HTTP_URL_EXPECTED_TEXT;

/**
 * Flags and the environment give URLs (text, comma-separated); the file a list of URLs or entries.
 * Each endpoint is returned as JSON text (setting values are text); a problem names the entry (in a
 * file) and the key.
 */
export function parseWebhooks(raw: unknown): { ok: true; value: string[] } | { ok: false; problem: string } {
  const fromFile = Array.isArray(raw);
  const items: unknown[] | undefined = fromFile ? raw : typeof raw === 'string' ? raw.split(',').map((item) => item.trim()).filter((item) => item !== '') : undefined;
  if (items === undefined) return { ok: false, problem: 'expected a list of URLs or of entries with a url' };
  const endpoints: WebhookSetting[] = [];
  for (const [index, item] of items.entries()) {
    const where = fromFile ? `entry ${index}: ` : '';
    if (typeof item === 'string') {
      if (!isHttpUrl(item)) return { ok: false, problem: `${where}${HTTP_URL_EXPECTED}` };
      endpoints.push({ url: item });
      continue;
    }
    const result = entry.safeParse(item);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      const key = issue.path.map(String).join('.');
      return { ok: false, problem: `${where}${key === '' ? '' : `${key}: `}${issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.join(', ')}` : issue.message}` };
    }
    endpoints.push(result.data);
  }
  const urls = endpoints.map((endpoint) => endpoint.url);
  if (new Set(urls).size < urls.length) return { ok: false, problem: 'each webhook URL may be given once' };
  return { ok: true, value: endpoints.map((endpoint) => JSON.stringify(endpoint)) };
}

export function webhookSettings(value: readonly string[] | undefined): WebhookSetting[] {
  return (value ?? []).map((text) => JSON.parse(text) as WebhookSetting);
}

/** For `config print`: header values and a URL's password and query are never shown. */
export function maskedWebhook(setting: WebhookSetting): WebhookSetting {
  const masked: WebhookSetting = { ...setting, url: maskedUrl(setting.url) };
  if (setting.headers) masked.headers = Object.fromEntries(Object.keys(setting.headers).map((name) => [name, '***']));
  return masked;
}

function maskedUrl(text: string): string {
  const url = new URL(text);
  if (url.password !== '') url.password = 'xxx';
  if (url.search !== '') url.search = '?***';
  return url.toString().replace(/:xxx@/, ':***@');
}

/** Comma-separated URLs as a message may echo them: without query or password. */
export function withoutSecrets(text: string): string {
  return text
    .split(',')
    .map((item) => item.trim().split('?')[0]!.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@'))
    .join(',');
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
