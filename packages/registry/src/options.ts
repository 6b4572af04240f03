import type { BlobStore, EventSource, MetadataStore } from '@berth/core';
import type { ListenerErrorHandler } from './events/event-hub.js';
import { resolveWebhookEndpoint, type ResolvedWebhookEndpoint, type WebhookEndpoint } from './events/webhook-endpoint.js';
import { type MirrorRule, type RepositoryQuota, type PlatformPreference, type QuotaPolicy } from '@berth/core';
import { MAX_MANIFEST_BYTES, compileQuotas, parsePlatform } from '@berth/core/internal';
import { combineObservers, observedMetadataStore, type RegistryObserver } from './observer.js';

/** Options of {@link createRegistryService} (and of `createRegistry` in `@berth/koa`). */
export interface RegistryServiceOptions {
  /** Where repositories, manifests, tags, links and upload sessions are kept. */
  metadata: MetadataStore;
  /** Where blob bytes are kept. */
  blobs: BlobStore;
  /**
   * Mount a blob into a repository on `POST ?mount=<digest>` without `from` when a repository the caller
   * may pull already holds it. On by default: content addressing makes knowing the digest enough to name the content.
   */
  automaticMount?: boolean;
  /** Largest manifest accepted, in bytes (default 4 MiB, like the reference). */
  maxManifestBytes?: number;
  /** Page size of tag and catalog listings when the client gives no `n`. */
  defaultPageSize?: number;
  /** Largest `n` honoured for tag and catalog listings. */
  maxPageSize?: number;
  /**
   * Platforms (`os/arch[/variant]`), in order of preference, served from a manifest list or index to a
   * client that cannot read lists. Default `['linux/amd64']`, like the reference.
   */
  platforms?: string[];
  /** Accept signed schema1 pushes (Docker 1.9 pushes nothing else). Default true. */
  schema1Push?: boolean;
  /**
   * The schema1 signing key, as PEM (PKCS#8 or SEC1 EC) or libtrust JWK text. Without one, a P-256 key
   * is generated on first use and kept with the metadata, so it survives restarts and is shared by instances.
   */
  schema1SigningKey?: string;
  /** Told what the registry does (negotiation outcomes, cache hits, store errors), for metrics. */
  observer?: RegistryObserver;
  /**
   * Webhook receivers. Changes (push, delete, mount) go to them through the metadata store's outbox,
   * written in the same transaction as the change, and are delivered at least once, in order per repository.
   */
  webhooks?: WebhookEndpoint[];
  /** Send pull events to the webhooks too (best-effort, from memory; never a write on a GET). Default false. */
  pullEvents?: boolean;
  /** How events name this instance (`source`): default the host name and a random id per process. */
  eventSource?: EventSource;
  /** Told when an in-process event listener throws; the request goes on regardless. */
  onEventListenerError?: ListenerErrorHandler;
  /**
   * Storage quotas: the first entry whose `repository` pattern (as in access rules) matches a repository
   * caps its usage (blobs linked plus manifests) at `limit` bytes. A push past it gets 403 DENIED. Default none.
   */
  quotas?: RepositoryQuota[];
  /**
   * Pull-through mirrors: repositories under a rule's prefix (or, for `*`, every repository without local
   * content) are pulled from the rule's upstream, cached, and refused to pushes. Default none.
   */
  mirrors?: MirrorRule[];
  /** Where the mirror reports upstream failures and stale answers (a pino logger fits). Default: nowhere. */
  mirrorLog?: MirrorLog;
}

/** The log the mirror writes to: a stale tag served, an upstream failing, a cached blob failing its digest. */
export interface MirrorLog {
  /** Logs an upstream problem the client did not necessarily see (a stale answer, a failed background fetch). */
  warn(fields: object, message: string): void;
}

/** The service options with every default applied. */
export interface ResolvedOptions
  extends Required<Omit<RegistryServiceOptions, 'platforms' | 'schema1SigningKey' | 'observer' | 'webhooks' | 'eventSource' | 'onEventListenerError' | 'quotas' | 'mirrorLog'>> {
  /** The compiled `quotas` option. */
  quotas: QuotaPolicy;
  /** The parsed `platforms` option, in order of preference. */
  platforms: PlatformPreference[];
  /** The configured signing key text, undefined to use the one kept with the metadata. */
  schema1SigningKey: string | undefined;
  /** The observer (a no-op without one); the metadata store reports its failures to it. */
  observer: Required<RegistryObserver>;
  /** The webhook endpoints with their defaults applied. */
  webhooks: ResolvedWebhookEndpoint[];
  /** The `eventSource` option, if given. */
  eventSource: EventSource | undefined;
  /** The `onEventListenerError` option, if given. */
  onEventListenerError: ListenerErrorHandler | undefined;
  /** The `mirrorLog` option, a no-op without one. */
  mirrorLog: MirrorLog;
}

export function resolveOptions(options: RegistryServiceOptions): ResolvedOptions {
  const observer = combineObservers([options.observer]);
  return {
    automaticMount: true,
    maxManifestBytes: MAX_MANIFEST_BYTES,
    defaultPageSize: 1000,
    maxPageSize: 10_000,
    schema1Push: true,
    pullEvents: false,
    ...options,
    platforms: (options.platforms ?? ['linux/amd64']).map(parsePlatform),
    schema1SigningKey: options.schema1SigningKey,
    observer,
    metadata: options.observer === undefined ? options.metadata : observedMetadataStore(options.metadata, observer),
    webhooks: resolveWebhooks(options),
    eventSource: options.eventSource,
    onEventListenerError: options.onEventListenerError,
    quotas: compileQuotas(options.quotas ?? []),
    mirrors: options.mirrors ?? [],
    mirrorLog: options.mirrorLog ?? { warn: () => undefined },
  };
}

function resolveWebhooks(options: RegistryServiceOptions): ResolvedWebhookEndpoint[] {
  const webhooks = (options.webhooks ?? []).map(resolveWebhookEndpoint);
  const urls = new Set(webhooks.map((endpoint) => endpoint.url));
  if (urls.size < webhooks.length) throw new Error('each webhook URL may be configured once (the URL names its queue of events)');
  if (webhooks.length > 0 && options.metadata.outbox === undefined) {
    throw new Error('webhooks need a metadata store with an event outbox (SQLite, PostgreSQL and the memory example have one)');
  }
  return webhooks;
}
