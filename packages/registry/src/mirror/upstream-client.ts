import { Readable } from 'node:stream';
import { RegistryError, parseAuthChallenge, type AuthChallenge, type ResolvedMirrorRule } from '@berth/core/internal';

/** Time an upstream has to answer a request with its headers (connecting included). */
export const UPSTREAM_RESPONSE_TIMEOUT_MS = 15_000;
/** Time an upstream body may stay silent before the transfer is given up. */
export const UPSTREAM_IDLE_TIMEOUT_MS = 30_000;
/** A token without `expires_in` is good for 60 seconds (Docker token specification). */
const DEFAULT_TOKEN_SECONDS = 60;
/** Tokens are renewed this long before they expire, so one never runs out during a request. */
const TOKEN_EXPIRY_MARGIN_MS = 10_000;

/** An upstream answer the mirror acts on: a body stream (GET) with its headers. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The body's chunks (failing when the upstream goes silent); absent for HEAD and 404. */
  readonly body: AsyncIterable<Uint8Array> | undefined;
}

/** Timeouts of the upstream client (tests shorten them). */
export interface UpstreamTimeouts {
  /** Time to wait for an upstream's response headers, connecting included (default 15 s). */
  responseMs?: number;
  /** Time an upstream body may send nothing before the transfer is given up (default 30 s). */
  idleMs?: number;
}

/**
 * Talks to one upstream registry for the mirror: GET and HEAD of manifests and blobs, with the client
 * side of the Docker token specification (401 -> token realm -> Bearer; Basic credentials sent to the
 * realm when configured, anonymous otherwise) and tokens cached per scope until they expire. Network
 * failures, timeouts, 429 and 5xx become UNAVAILABLE; credentials never appear in an error message.
 */
export class UpstreamClient {
  readonly #tokens = new Map<string, { authorization: string; expiresAt: number }>();
  readonly #responseMs: number;
  readonly #idleMs: number;

  constructor(
    readonly rule: ResolvedMirrorRule,
    timeouts: UpstreamTimeouts = {},
  ) {
    this.#responseMs = timeouts.responseMs ?? UPSTREAM_RESPONSE_TIMEOUT_MS;
    this.#idleMs = timeouts.idleMs ?? UPSTREAM_IDLE_TIMEOUT_MS;
  }

  /**
   * `GET` or `HEAD` of `/v2/<name>/<path>` at the upstream. 200 and 404 are returned as they are (a 404's
   * body is drained); every other outcome throws UNAVAILABLE, or 404 for a refusal of access.
   */
  async request(method: 'GET' | 'HEAD', name: string, path: string, accept?: string): Promise<UpstreamResponse> {
    const url = `${this.rule.url}/v2/${name}/${path}`;
    const scope = `repository:${name}:pull`;
    const headers: Record<string, string> = accept === undefined ? {} : { Accept: accept };
    let authorization = this.#cachedToken(scope);
    let response = await this.#fetch(method, url, authorization === undefined ? headers : { ...headers, Authorization: authorization });
    if (response.status === 401) {
      await discard(response);
      const challenge = parseAuthChallenge(response.headers.get('www-authenticate') ?? '');
      authorization = await this.#authorization(challenge, scope);
      if (authorization !== undefined) response = await this.#fetch(method, url, { ...headers, Authorization: authorization });
    }
    if (response.status === 200 || response.status === 404) {
      if (response.status === 404) await discard(response);
      return {
        status: response.status,
        headers: response.headers,
        body: response.status === 200 && method === 'GET' && response.body ? this.#idleGuarded(response.body) : undefined,
      };
    }
    await discard(response);
    if (response.status === 401 || response.status === 403) {
      // Docker Hub answers an unknown repository with 401, whatever the credentials: the client gets a 404.
      throw new RegistryError('NAME_UNKNOWN', `the upstream ${this.rule.url} refused access to ${name} (unknown repository, or credentials needed)`, {
        detail: { upstream: this.rule.url, status: response.status },
      });
    }
    throw unavailable(this.rule, `answered ${response.status}`);
  }

  async #fetch(method: string, url: string, headers: Record<string, string>): Promise<Response> {
    // Aborts only while waiting for the headers; the body has the idle timeout instead.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new UpstreamTimeout()), this.#responseMs);
    try {
      return await fetch(url, { method, headers, redirect: 'follow', signal: controller.signal });
    } catch (error) {
      throw unavailable(this.rule, describeFailure(error), error);
    } finally {
      clearTimeout(timer);
    }
  }

  #cachedToken(scope: string): string | undefined {
    const token = this.#tokens.get(scope);
    if (token === undefined) return undefined;
    if (token.expiresAt > Date.now()) return token.authorization;
    this.#tokens.delete(scope);
    return undefined;
  }

  /** The Authorization header a challenge asks for, undefined when there is nothing to answer it with. */
  async #authorization(challenge: AuthChallenge | undefined, scope: string): Promise<string | undefined> {
    const { credentials } = this.rule;
    const basic = credentials && `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    if (challenge?.scheme === 'basic') return basic;
    if (challenge?.scheme !== 'bearer') return undefined;
    const realm = new URL(challenge.realm);
    if (challenge.service !== undefined) realm.searchParams.set('service', challenge.service);
    realm.searchParams.set('scope', scope);
    const response = await this.#fetch('GET', realm.toString(), basic === undefined ? {} : { Authorization: basic });
    if (response.status !== 200) {
      await discard(response);
      if (response.status === 401 || response.status === 403) {
        throw new RegistryError('UNAVAILABLE', `the upstream ${this.rule.url} refused the configured credentials`, { detail: { upstream: this.rule.url } });
      }
      throw unavailable(this.rule, `its token service answered ${response.status}`);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = (await response.json()) as typeof body;
    } catch (error) {
      throw unavailable(this.rule, 'its token service sent no JSON', error);
    }
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (token === undefined || token === '') throw unavailable(this.rule, 'its token service sent no token');
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    const authorization = `Bearer ${token}`;
    this.#tokens.set(scope, { authorization, expiresAt: Date.now() + Math.max(seconds * 1000 - TOKEN_EXPIRY_MARGIN_MS, 0) });
    return authorization;
  }

  /**
   * The body's chunks, failing with UNAVAILABLE when the upstream sends nothing for the idle timeout. Only
   * time spent waiting for the upstream counts (not a slow consumer), and leaving early cancels the download.
   */
  async *#idleGuarded(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
    const source = Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>);
    const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
    try {
      for (;;) {
        const next = chunks.next();
        // The losing read rejects once the source is destroyed below: nobody waits for it then.
        next.catch(() => undefined);
        let timer: NodeJS.Timeout | undefined;
        const silence = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(unavailable(this.rule, `sent nothing for ${this.#idleMs} ms`)), this.#idleMs);
        });
        let result: IteratorResult<Uint8Array>;
        try {
          result = await Promise.race([next, silence]);
        } finally {
          clearTimeout(timer);
        }
        if (result.done) return;
        yield result.value;
      }
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      throw unavailable(this.rule, 'broke off a transfer', error);
    } finally {
      source.destroy();
    }
  }
}

/** UNAVAILABLE naming the upstream by its URL without user-info (the rule holds no credentials in it). */
export function unavailable(rule: ResolvedMirrorRule, what: string, cause?: unknown): RegistryError {
  return new RegistryError('UNAVAILABLE', `the upstream ${rule.url} ${what}`, { detail: { upstream: rule.url }, ...(cause !== undefined && { cause }) });
}

class UpstreamTimeout extends Error {
  override name = 'UpstreamTimeout';
}

function describeFailure(error: unknown): string {
  if (error instanceof UpstreamTimeout || (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'))) return 'did not answer in time';
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  return typeof cause?.code === 'string' ? `could not be reached (${cause.code})` : 'could not be reached';
}

async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}
