import type { EventAction } from '@berth/core';

/**
 * One webhook receiver, the shape of an entry of the config file's `webhooks` list. Times are in
 * milliseconds.
 */
export interface WebhookEndpoint {
  /** Where events are POSTed. Also the endpoint's identity in the outbox: changing it starts a new queue. */
  url: string;
  /** Sent with every request (for example `Authorization`); values are never logged. */
  headers?: Record<string, string>;
  /** How long one delivery may take before it counts as failed (default 5000). */
  timeout?: number;
  /**
   * Attempts for a best-effort pull event before it is dropped (default 3). Changes (push, delete,
   * mount) are never given up: they wait in the outbox, retried with backoff, until delivered.
   */
  retries?: number;
  /** Events not sent to this endpoint: by action, or by the target's media type. */
  ignore?: { mediaTypes?: string[]; actions?: EventAction[] };
  /** Backoff between failed deliveries: doubles from `initial` up to `max`, with jitter (defaults 1000 and 60000). */
  backoff?: { initial?: number; max?: number };
  /** Pull events held in memory for this endpoint; further ones are dropped and counted (default 1000). */
  maxPendingPulls?: number;
}

/** A webhook endpoint with every default applied. */
export interface ResolvedWebhookEndpoint {
  /** Where events are POSTed; the endpoint's identity in the outbox. */
  url: string;
  /** Headers sent with every request (empty when none). */
  headers: Record<string, string>;
  /** Milliseconds one delivery may take before it counts as failed. Default 5 000. */
  timeout: number;
  /** Attempts for a pull event before it is dropped. Default 3. */
  retries: number;
  /** Media types and actions whose events this endpoint does not get (empty lists by default). */
  ignore: { mediaTypes: string[]; actions: EventAction[] };
  /**
   * Milliseconds between failed deliveries: doubles from `initial` to `max`, with jitter. Defaults 1 000 and 60 000.
   */
  backoff: { initial: number; max: number };
  /** Most pull events held in memory for this endpoint. Default 1 000. */
  maxPendingPulls: number;
}

export function resolveWebhookEndpoint(endpoint: WebhookEndpoint): ResolvedWebhookEndpoint {
  let url: URL;
  try {
    url = new URL(endpoint.url);
  } catch {
    throw new Error(`webhook URL "${redactedUrl(endpoint.url)}" is not an absolute URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`webhook URL "${redactedUrl(endpoint.url)}" must be http:// or https://`);
  const positive = (value: number | undefined, fallback: number, what: string) => {
    if (value === undefined) return fallback;
    if (!Number.isFinite(value) || value <= 0) throw new Error(`webhook ${redactedUrl(endpoint.url)}: ${what} must be above 0`);
    return value;
  };
  return {
    url: endpoint.url,
    headers: { ...endpoint.headers },
    timeout: positive(endpoint.timeout, 5000, 'timeout'),
    retries: positive(endpoint.retries, 3, 'retries'),
    ignore: { mediaTypes: [...(endpoint.ignore?.mediaTypes ?? [])], actions: [...(endpoint.ignore?.actions ?? [])] },
    backoff: { initial: positive(endpoint.backoff?.initial, 1000, 'backoff.initial'), max: positive(endpoint.backoff?.max, 60_000, 'backoff.max') },
    maxPendingPulls: positive(endpoint.maxPendingPulls, 1000, 'maxPendingPulls'),
  };
}

/** The URL as logs show it: scheme, host and path, without credentials or a query that may hold a token. */
export function redactedUrl(text: string): string {
  try {
    const url = new URL(text);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
