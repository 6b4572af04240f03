import type { Scope } from '@berth/core';
import { formatScope } from '@berth/core/internal';

/** How long an anonymous token is reused at most (it is also never used past its own expiry). */
const REUSE_SECONDS = 60;
const MAX_CACHED = 1000;
const FETCH_TIMEOUT_MS = 5000;

/**
 * Anonymous tokens from a token service, fetched the way a registry client without credentials fetches
 * them (`GET realm?service=…&scope=…`, no Authorization): what the web UI may show a visitor who is not
 * signed in, when an external token service decides access. Reused for a minute per realm and scopes.
 */
export class AnonymousTokens {
  private readonly cache = new Map<string, { token: string; until: number }>();

  async token(realm: string, service: string, scopes: readonly Scope[]): Promise<string | undefined> {
    // A realm that is no URL gives no token: the visitor is refused as without one.
    if (!URL.canParse(realm)) return undefined;
    const url = new URL(realm);
    url.searchParams.set('service', service);
    for (const scope of scopes) url.searchParams.append('scope', formatScope(scope));
    const key = url.toString();
    const cached = this.cache.get(key);
    if (cached && cached.until > Date.now()) return cached.token;
    const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) }).catch(() => undefined);
    if (!response?.ok) return undefined;
    const body = (await response.json().catch(() => undefined)) as { token?: unknown; access_token?: unknown; expires_in?: unknown } | undefined;
    const token = typeof body?.token === 'string' ? body.token : typeof body?.access_token === 'string' ? body.access_token : undefined;
    if (token === undefined) return undefined;
    const seconds = typeof body?.expires_in === 'number' ? Math.min(body.expires_in, REUSE_SECONDS) : REUSE_SECONDS;
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(key, { token, until: Date.now() + seconds * 1000 });
    return token;
  }
}
