import { resolve } from 'node:path';
import type { MirrorRule, RetentionRule, RepositoryQuota } from '@berth/core';
import type { WebhookEndpoint } from '@berth/registry';
import { UsageError } from './cli/usage-error.js';
import { quotaSettings } from './config/quota-setting.js';
import { retentionRules } from './config/retention-setting.js';
import { mirrorSettings } from './config/mirror-setting.js';
import { webhookSettings } from './config/webhook-setting.js';
import { missingFiles, resolveSettings, settingLabel, type ResolveInput, type ResolvedSettings } from './config/resolve.js';

/** The server's configuration, every setting resolved. */
export interface ServerConfig {
  /** Address to listen on (`--host`, `HOST`, `listen.host`). Default `127.0.0.1`. */
  host: string;
  /** Port to listen on (`--port`, `PORT`, `listen.port`); 0 picks a free one. Default 5000. */
  port: number;
  /** Directory holding the blobs, and the SQLite file unless a database URL is given. */
  dataDir: string;
  /**
   * A `postgres://` URL: metadata goes to that PostgreSQL database instead of a SQLite file. Several
   * instances may share one database, provided they also share the data directory (the blobs).
   */
  databaseUrl: string | undefined;
  /** File holding the schema1 signing key (PEM or libtrust JWK); without one the key is kept with the metadata. */
  schema1KeyFile: string | undefined;
  /** Accept signed schema1 pushes. */
  schema1Push: boolean;
  /** Uploads not finished within this many milliseconds are discarded. */
  uploadTtlMs: number;
  /** Blobs in an S3 bucket instead of the data directory. */
  s3: S3Config | undefined;
  /** Platforms served from a list to clients that cannot read lists, in order of preference. */
  platforms: string[] | undefined;
  /** Sign-in: none, Basic against an htpasswd file, or Bearer tokens (built-in service or an external one). */
  auth: AuthConfig;
  /** The registry's outside address (token realm, later redirects); without it, the request's scheme and host. */
  publicUrl: string | undefined;
  /** Read the client address and scheme from `X-Forwarded-For` / `X-Forwarded-Proto` (behind a load balancer). */
  trustProxy: boolean;
  /** Time a client has to send a request's headers; then 408 and the connection is closed. */
  headersTimeoutMs: number;
  /**
   * A connection on which the client moves nothing for this long is closed: a request body that stopped
   * arriving, a download the client stopped reading, a silent connection. Never a limit on a whole
   * request: a slow upload that keeps moving runs as long as it takes. 0 turns it off.
   */
  idleTimeoutMs: number;
  /** An idle kept-alive connection is closed after this long between requests (0: only the idle timeout applies). */
  keepAliveTimeoutMs: number;
  /** Connections served at once; further ones are closed as soon as they are accepted. 0: no bound. */
  maxConnections: number;
  /** On SIGTERM, time in-flight requests get before their connections are closed. */
  shutdownTimeoutMs: number;
  /** How long an unreachable PostgreSQL is retried at start-up. */
  databaseWaitMs: number;
  /** pino level (`info`, `debug`, ...). */
  logLevel: string;
  /** JSON lines, or the pretty form for a terminal (`auto`: pretty when stdout is a terminal). */
  logFormat: 'json' | 'pretty' | 'auto';
  /** Serve Prometheus metrics at `/metrics` (and count them at all). */
  metrics: boolean;
  /** Serve `/metrics` on this port of the same host instead of the main one (so it need not be public). */
  metricsPort: number | undefined;
  /** Serve the web UI at `/` (its pages, and its JSON API under `/api/`). */
  ui: boolean;
  /** PEM certificate chain (server certificate first): with `tlsKeyFile`, the server speaks HTTPS. Re-read on SIGHUP. */
  tlsCertFile: string | undefined;
  /** PEM private key of the certificate. */
  tlsKeyFile: string | undefined;
  /** Offer HTTP/2 (ALPN `h2`) next to HTTP/1.1; needs TLS. */
  http2: boolean;
  /** Webhook receivers (the config file's `webhooks` entries); `--webhook URL` gives one with the defaults. */
  webhooks: WebhookEndpoint[];
  /** Send pull events to the webhooks too (best-effort, from memory); endpoints that did not ask for them ignore them. */
  pullEvents: boolean;
  /** Collect garbage inside the server this often (milliseconds); 0: never. */
  gcIntervalMs: number;
  /** The collection's grace period (milliseconds): anything touched more recently stays. */
  gcGraceMs: number;
  /** The collection also removes untagged, unreferenced manifests. */
  gcDeleteUntagged: boolean;
  /** Storage quotas (the config file's `quotas`), the first matching entry applying. */
  quotas: RepositoryQuota[];
  /** Pull-through mirrors (`--mirror PREFIX=URL`, the config file's `mirrors`); none by default. */
  mirrors: MirrorRule[];
  /** Retention rules every collection applies (the config file's `retention.rules`); none by default. */
  retention: RetentionRule[];
}

/** The server's sign-in mode and its files. */
export type AuthConfig =
  | { mode: 'none' }
  | { mode: 'basic'; htpasswdFile: string; accessFile: string | undefined }
  /** The built-in token service at `/token`, for the users of the htpasswd file. */
  | { mode: 'token'; htpasswdFile: string; accessFile: string | undefined; service: string; issuer: string; signingKeyFile: string | undefined }
  /** Tokens from an external token service, verified with its keys; the access file only narrows them. */
  | {
      mode: 'external-token';
      keysFile: string;
      realm: string;
      service: string;
      issuer: string;
      accessFile: string | undefined;
    };

/** Where the blobs go when they go to S3 (`--s3-*`, `storage.s3` in a config file). */
export interface S3Config {
  /** The bucket the blobs go in (`--s3-bucket`). */
  bucket: string;
  /** Key prefix (a folder) in the bucket (`--s3-prefix`); undefined for none. */
  prefix: string | undefined;
  /** URL of an S3-compatible server (`--s3-endpoint`); undefined for AWS. */
  endpoint: string | undefined;
  /** The bucket's region (`--s3-region`); undefined for the AWS chain's, else us-east-1. */
  region: string | undefined;
  /** Use path-style URLs, as most S3-compatible servers need (`--s3-force-path-style`). Default false. */
  forcePathStyle: boolean;
  /** Answer blob downloads with a redirect to a presigned S3 URL (`--s3-redirect`). Default false. */
  redirect: boolean;
}

function s3Config(value: (name: string) => unknown, label: (name: string) => string): S3Config | undefined {
  const bucket = value('s3Bucket') as string | undefined;
  const others = ['s3Prefix', 's3Endpoint', 's3Region'].filter((name) => value(name) !== undefined);
  if (bucket === undefined) {
    if (others.length > 0) throw new UsageError(`${label(others[0]!)} needs --s3-bucket (storage.s3.bucket in a config file)`);
    return undefined;
  }
  const endpoint = value('s3Endpoint') as string | undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint)) throw new UsageError(`${label('s3Endpoint')} must be an http:// or https:// URL, not ${endpoint}`);
  return {
    bucket,
    prefix: value('s3Prefix') as string | undefined,
    endpoint,
    region: value('s3Region') as string | undefined,
    forcePathStyle: value('s3ForcePathStyle') as boolean,
    redirect: value('s3Redirect') as boolean,
  };
}

/** Resolves the settings and maps them; every mistake is a UsageError (one line per problem). */
export async function readServerConfig(input: ResolveInput): Promise<{ config: ServerConfig; resolved: ResolvedSettings }> {
  const resolved = await resolveSettings(input);
  const config = toServerConfig(resolved);
  const missing = missingFiles(resolved);
  if (missing.length > 0) throw new UsageError(missing.join('\n'));
  return { config, resolved };
}

/**
 * The one mapping from the resolved settings (see `config/settings.ts`: flags, then environment, then
 * the config file, then defaults) to what the server runs with, and the checks that span settings.
 */
export function toServerConfig(resolved: ResolvedSettings): ServerConfig {
  const value = (name: string) => resolved.get(name)?.value;
  const text = (name: string) => value(name) as string | undefined;
  const number = (name: string) => value(name) as number;
  const label = (name: string) => settingLabel(resolved, name);
  const list = value('platforms') as readonly string[] | undefined;
  return {
    host: text('host')!,
    port: number('port'),
    dataDir: resolve(text('data')!),
    logLevel: text('logLevel')!,
    logFormat: text('logFormat') as ServerConfig['logFormat'],
    databaseUrl: databaseUrl(text('database'), label('database')),
    databaseWaitMs: number('databaseWait'),
    schema1KeyFile: text('schema1Key'),
    schema1Push: value('schema1Push') as boolean,
    platforms: list === undefined ? undefined : [...list],
    uploadTtlMs: number('uploadTtl'),
    s3: s3Config(value, label),
    auth: authConfig(text, label),
    publicUrl: publicUrl(text('publicUrl'), label('publicUrl')),
    trustProxy: value('trustProxy') as boolean,
    headersTimeoutMs: number('headersTimeout'),
    idleTimeoutMs: number('idleTimeout'),
    keepAliveTimeoutMs: number('keepAliveTimeout'),
    maxConnections: number('maxConnections'),
    shutdownTimeoutMs: number('shutdownTimeout'),
    ui: value('ui') as boolean,
    ...metricsConfig(value('metrics') as boolean, value('metricsPort') as number | undefined, number('port'), label),
    ...tlsConfig(text('tlsCert'), text('tlsKey'), value('http2') as boolean, label),
    gcIntervalMs: number('gcInterval'),
    gcGraceMs: number('gcGrace'),
    gcDeleteUntagged: value('gcDeleteUntagged') as boolean,
    quotas: quotaSettings(value('quotas') as readonly string[] | undefined),
    retention: retentionRules(text('retention')),
    mirrors: mirrorSettings(value('mirrors') as readonly string[] | undefined),
    ...eventsConfig(webhookSettings(value('webhooks') as readonly string[] | undefined), value('pullEvents') as boolean),
  };
}

/**
 * `--pull-events` sends pulls to every endpoint; in the file an entry asks for them with `pullEvents: true`,
 * and the other entries then ignore them.
 */
function eventsConfig(settings: ReturnType<typeof webhookSettings>, allPulls: boolean): Pick<ServerConfig, 'webhooks' | 'pullEvents'> {
  const pullEvents = allPulls || settings.some((setting) => setting.pullEvents === true);
  const webhooks = settings.map(({ pullEvents: wantsPulls, ...endpoint }): WebhookEndpoint => {
    if (!pullEvents || allPulls || wantsPulls === true) return endpoint;
    return { ...endpoint, ignore: { ...endpoint.ignore, actions: [...(endpoint.ignore?.actions ?? []), 'pull'] } };
  });
  return { webhooks, pullEvents };
}

function metricsConfig(on: boolean, port: number | undefined, mainPort: number, label: (name: string) => string): Pick<ServerConfig, 'metrics' | 'metricsPort'> {
  if (port === undefined) return { metrics: on, metricsPort: undefined };
  if (!on) throw new UsageError(`${label('metricsPort')} and metrics off (${label('metrics')}) contradict each other: choose one`);
  if (port === mainPort) throw new UsageError(`${label('metricsPort')} ${port} is the main port: leave it out to serve /metrics there`);
  return { metrics: true, metricsPort: port };
}

/** Certificate and key come together; HTTP/2 is only offered over TLS (clients speak cleartext h2 to no registry). */
function tlsConfig(cert: string | undefined, key: string | undefined, http2: boolean, label: (name: string) => string): Pick<ServerConfig, 'tlsCertFile' | 'tlsKeyFile' | 'http2'> {
  if ((cert === undefined) !== (key === undefined)) throw new UsageError(`--tls-cert and --tls-key go together (listen.tls.cert and listen.tls.key in a config file); only ${label(cert === undefined ? 'tlsKey' : 'tlsCert')} was given`);
  if (http2 && cert === undefined) throw new UsageError(`${label('http2')} needs TLS: give --tls-cert and --tls-key too`);
  return { tlsCertFile: cert, tlsKeyFile: key, http2 };
}

function authConfig(get: (name: string) => string | undefined, label: (name: string) => string): AuthConfig {
  const mode = get('auth') ?? 'none';
  const htpasswd = get('htpasswd');
  const accessFile = get('access');
  const keysFile = get('tokenKeys');
  const signingKeyFile = get('tokenSigningKey');
  const realm = get('tokenRealm');
  const service = get('tokenService');
  const issuer = get('tokenIssuer');
  if (mode === 'none') {
    if (htpasswd !== undefined || accessFile !== undefined || keysFile !== undefined) {
      throw new UsageError('--htpasswd, --access and --token-keys need --auth basic or --auth token (auth.mode in a config file)');
    }
    return { mode: 'none' };
  }
  if (mode === 'basic') {
    if (htpasswd === undefined) throw new UsageError(`--auth basic needs --htpasswd FILE (auth.htpasswd in a config file); the mode came from ${label('auth')}`);
    return { mode: 'basic', htpasswdFile: htpasswd, accessFile };
  }
  if (keysFile !== undefined) {
    if (realm === undefined || service === undefined || issuer === undefined) {
      throw new UsageError('--token-keys (an external token service) needs --token-realm, --token-service and --token-issuer (auth.token.* in a config file)');
    }
    if (signingKeyFile !== undefined) throw new UsageError('--token-signing-key is for the built-in token service; an external one (--token-keys) signs its own tokens');
    return { mode: 'external-token', keysFile, realm, service, issuer, accessFile };
  }
  if (htpasswd === undefined) {
    throw new UsageError('--auth token needs --htpasswd FILE (the built-in token service) or --token-keys FILE (an external one)');
  }
  if (realm !== undefined) throw new UsageError('--token-realm is for an external token service (with --token-keys); the built-in one is at <public URL>/token');
  return { mode: 'token', htpasswdFile: htpasswd, accessFile, service: service ?? 'berth', issuer: issuer ?? 'berth', signingKeyFile };
}

function publicUrl(value: string | undefined, label: string): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`invalid ${label} "${value}": expected an absolute http:// or https:// URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`invalid ${label} "${value}": use http:// or https://`);
  return value.replace(/\/+$/, '');
}

/** A postgres:// URL, or undefined for SQLite; an empty value counts as unset. */
function databaseUrl(value: string | undefined, label: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1]?.toLowerCase();
  // Only the scheme is echoed back: the rest of the URL may hold a password.
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    throw new UsageError(`unsupported database URL scheme "${scheme ?? ''}" in ${label}: use postgres://..., or leave it out for SQLite in the data directory`);
  }
  return value;
}
