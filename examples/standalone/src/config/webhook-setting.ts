import { z } from 'zod';
import type { WebhookEndpoint } from '@berth/registry';
import { parseDuration } from './duration.js';

/** One `webhooks` entry of the config file: a URL, or a URL with its delivery options. */
export interface WebhookSetting extends WebhookEndpoint {
  /** Send pull events to this endpoint too (best-effort, from memory). */
  pullEvents?: boolean;
}

const ACTIONS = ['push', 'pull', 'delete', 'mount'] as const;

const httpUrl = z.string().refine(isHttpUrl, { message: 'expected an absolute http:// or https:// URL' });
const duration = z.union([z.string(), z.number()]).transform((raw, ctx) => {
  const value = parseDuration(String(raw), 's');
  if (value === undefined || value <= 0) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration above 0 such as 500ms, 10s or 1m (a bare number is seconds)' });
    return z.NEVER;
  }
  return value;
});
const entry = z.union([
  httpUrl.transform((url): WebhookSetting => ({ url })),
  z.strictObject({
    url: httpUrl,
    headers: z.record(z.string(), z.string()).optional(),
    timeout: duration.optional(),
    retries: z.number().int().positive().optional(),
    ignore: z.strictObject({ mediaTypes: z.array(z.string()).optional(), actions: z.array(z.enum(ACTIONS)).optional() }).optional(),
    backoff: z.strictObject({ initial: duration.optional(), max: duration.optional() }).optional(),
    maxPendingPulls: z.number().int().positive().optional(),
    pullEvents: z.boolean().optional(),
  }),
]);

/**
 * Flags and the environment give URLs (text, comma-separated); the file a list of URLs or entries.
 * Each endpoint is returned as JSON text (setting values are text); a problem names the entry and key.
 */
export function parseWebhooks(raw: unknown): { ok: true; value: string[] } | { ok: false; problem: string } {
  const items = typeof raw === 'string' ? raw.split(',').map((item) => item.trim()).filter((item) => item !== '') : raw;
  if (!Array.isArray(items)) return { ok: false, problem: 'expected a list of URLs or of entries with a url' };
  const result = z.array(entry).safeParse(items);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    // The union's own message is unhelpful; the path says which entry, and for URLs the query is left out (it may hold a token).
    const at = issue.path.length > 0 ? `entry ${issue.path.map(String).join('.')}: ` : '';
    return { ok: false, problem: `${at}${issue.code === 'invalid_union' ? 'expected a URL, or an entry with url and optional headers, timeout, retries, ignore, backoff, maxPendingPulls, pullEvents' : issue.message}` };
  }
  const urls = result.data.map((endpoint) => endpoint.url);
  if (new Set(urls).size < urls.length) return { ok: false, problem: 'each webhook URL may be given once' };
  return { ok: true, value: result.data.map((endpoint) => JSON.stringify(endpoint)) };
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

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
