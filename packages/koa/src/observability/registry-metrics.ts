import type { ServerResponse } from 'node:http';
import type { Context, Next } from 'koa';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { countReceivedBytes } from './received-bytes.js';
import { type EndpointStatus, type RegistryObserver } from '@berth/registry';
import { redactedUrl } from '@berth/registry/internal';

/** What the metrics read of webhook delivery when scraped. */
export interface WebhookDeliveryState {
  status(): EndpointStatus[];
  oldestPendingAge(): Promise<number | undefined>;
}

/** The `metrics` option of {@link createRegistry}. */
export interface MetricsOptions {
  /** Put before every metric name. Default `berth_`. */
  prefix?: string;
  /** The prom-client Registry to add berth's metrics to (a host's own, or prom-client's global `register`). Default: a new one. */
  register?: Registry;
  /** Include prom-client's default process metrics (CPU, memory, event loop, GC), under the same prefix. Default true. */
  collectDefault?: boolean;
}

/** The route label of a request no route matched: never the raw path, which would make a series per URL. */
export const UNMATCHED_ROUTE = 'unmatched';

/** The status recorded for a request whose client went away before any answer (nginx's "client closed request"). */
const CLIENT_CLOSED_REQUEST = 499;

/** Seconds; up to 5 minutes, because pushing or pulling a big layer is one request. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * berth's Prometheus metrics: the HTTP side (requests by route template, method and status; durations;
 * bytes each way), recorded by a Koa middleware, and the registry side (negotiation outcomes, the
 * conversion cache, store errors, uploads, GC), recorded through the service's observer.
 */
export class RegistryMetrics {
  readonly register: Registry;
  readonly observer: RegistryObserver;
  readonly #requests: Counter<'route' | 'method' | 'status'>;
  readonly #duration: Histogram<'route' | 'method'>;
  readonly #received: Counter<'route' | 'method'>;
  readonly #sent: Counter<'route' | 'method'>;
  readonly #prefix: string;

  constructor(options: MetricsOptions = {}) {
    const prefix = options.prefix ?? 'berth_';
    const register = options.register ?? new Registry();
    this.register = register;
    this.#prefix = prefix;
    const registers = [register];
    this.#requests = new Counter({
      name: `${prefix}http_requests_total`,
      help: 'Registry requests answered, by route template, method and status (499: the client went away first).',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.#duration = new Histogram({
      name: `${prefix}http_request_duration_seconds`,
      help: 'Time from a registry request arriving to its response being sent, by route template and method.',
      labelNames: ['route', 'method'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#received = new Counter({
      name: `${prefix}http_received_bytes_total`,
      help: 'Request body bytes received, by route template and method.',
      labelNames: ['route', 'method'],
      registers,
    });
    this.#sent = new Counter({
      name: `${prefix}http_sent_bytes_total`,
      help: 'Response body bytes sent, by route template and method.',
      labelNames: ['route', 'method'],
      registers,
    });
    const uploadsInProgress = new Gauge({
      name: `${prefix}uploads_in_progress`,
      help: 'Blob uploads receiving bytes in this process right now.',
      registers,
    });
    const blobUploads = new Counter({
      name: `${prefix}blob_uploads_total`,
      help: 'Blob uploads verified and published into a repository (mounts are not uploads).',
      registers,
    });
    const blobUploadBytes = new Counter({
      name: `${prefix}blob_upload_bytes_total`,
      help: 'Size of the blobs counted by blob_uploads_total.',
      registers,
    });
    const manifestsServed = new Counter({
      name: `${prefix}manifests_served_total`,
      help: 'Manifest GETs and HEADs by negotiation outcome: stored, child (platform from a list), schema1, schema2 (converted), refused.',
      labelNames: ['outcome'],
      registers,
    });
    const cacheHits = new Counter({
      name: `${prefix}conversion_cache_hits_total`,
      help: 'Conversions answered from the in-process cache of recent conversions, by target format.',
      labelNames: ['format'],
      registers,
    });
    const cacheMisses = new Counter({
      name: `${prefix}conversion_cache_misses_total`,
      help: 'Conversions not in the in-process cache (converted, or read from the metadata store), by target format.',
      labelNames: ['format'],
      registers,
    });
    const storeErrors = new Counter({
      name: `${prefix}metadata_store_errors_total`,
      help: 'Metadata store operations that failed (database unavailable, storage full, faults), by operation.',
      labelNames: ['operation'],
      registers,
    });
    const blobsMissing = new Counter({
      name: `${prefix}blobs_missing_total`,
      help: 'Blobs the metadata links but the blob store lacks, found while serving a blob or converting a manifest.',
      labelNames: ['use'],
      registers,
    });
    const gcRuns = new Counter({ name: `${prefix}gc_runs_total`, help: 'Garbage collection runs finished.', registers });
    const gcFreed = new Counter({ name: `${prefix}gc_freed_bytes_total`, help: 'Bytes freed by garbage collection.', registers });
    const gcBlobs = new Counter({ name: `${prefix}gc_deleted_blobs_total`, help: 'Blobs deleted by garbage collection.', registers });
    const mirrorReads = new Counter({
      name: `${prefix}mirror_reads_total`,
      help: 'Manifest and blob reads of mirrored repositories: hit (from the cache, a revalidated tag included), miss (fetched from the upstream), stale (cached tag served because the upstream failed), unavailable (503).',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    const mirrorBytes = new Counter({
      name: `${prefix}mirror_upstream_bytes_total`,
      help: 'Bytes of manifests and blobs received from upstream registries, by upstream URL (without credentials).',
      labelNames: ['upstream'],
      registers,
    });
    if (options.collectDefault ?? true) addDefaultMetrics(register, prefix);

    this.observer = {
      manifestServed: ({ outcome }) => manifestsServed.inc({ outcome }),
      conversionCache: ({ format, hit }) => (hit ? cacheHits : cacheMisses).inc({ format }),
      metadataStoreError: ({ operation }) => storeErrors.inc({ operation }),
      blobMissing: ({ use }) => blobsMissing.inc({ use }),
      uploadReceiving: (change) => uploadsInProgress.inc(change),
      blobUploaded: ({ size }) => {
        blobUploads.inc();
        blobUploadBytes.inc(size);
      },
      gcRun: ({ bytesFreed, blobsDeleted }) => {
        gcRuns.inc();
        gcFreed.inc(bytesFreed);
        if (blobsDeleted !== undefined) gcBlobs.inc(blobsDeleted);
      },
      mirrorRead: ({ kind, outcome }) => mirrorReads.inc({ kind, outcome }),
      mirrorUpstreamBytes: ({ upstream, bytes }) => mirrorBytes.inc({ upstream }, bytes),
    };
  }

  /**
   * Webhook delivery, read at each scrape: events delivered, failed attempts and pull events dropped per
   * endpoint (the URL without credentials or query), and how long the oldest undelivered change has waited.
   */
  observeWebhooks(delivery: WebhookDeliveryState): void {
    const registers = [this.register];
    const perEndpoint = (name: string, help: string, read: (status: EndpointStatus) => number) =>
      new Counter({
        name: `${this.#prefix}${name}`,
        help,
        labelNames: ['endpoint'],
        registers,
        collect() {
          this.reset();
          for (const status of delivery.status()) this.inc({ endpoint: redactedUrl(status.url) }, read(status));
        },
      });
    perEndpoint('webhook_events_delivered_total', 'Events a webhook endpoint accepted (2xx), since start.', (status) => status.delivered);
    perEndpoint('webhook_failed_attempts_total', 'Webhook requests that failed (refused, timed out, not 2xx), since start.', (status) => status.failedAttempts);
    perEndpoint('webhook_pull_events_dropped_total', 'Best-effort pull events dropped: the in-memory queue was full or their retries ran out.', (status) => status.droppedPulls);
    new Gauge({
      name: `${this.#prefix}webhook_oldest_pending_seconds`,
      help: 'Age of the oldest change event (push, delete, mount) not yet delivered to every webhook endpoint; 0 when none waits.',
      registers,
      async collect() {
        this.set(((await delivery.oldestPendingAge()) ?? 0) / 1000);
      },
    });
  }

  /**
   * Records each registry request once its response is done (sent, or cut off by the client). The route
   * label is the matched route's template (`/v2/*name/blobs/:digest`), or `unmatched`.
   */
  readonly recordRequests = async (ctx: Context, next: Next): Promise<void> => {
    const started = process.hrtime.bigint();
    const received = countReceivedBytes(ctx.req);
    const sent = countSentBytes(ctx.res);
    ctx.res.once('close', () => {
      const route = (ctx as Context & { _matchedRoute?: unknown })._matchedRoute;
      const labels = { route: typeof route === 'string' ? route : UNMATCHED_ROUTE, method: ctx.method };
      const status = ctx.res.headersSent ? ctx.res.statusCode : CLIENT_CLOSED_REQUEST;
      this.#requests.inc({ ...labels, status: String(status) });
      this.#duration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
      this.#received.inc(labels, received());
      this.#sent.inc(labels, sent());
    });
    await next();
  };
}

/**
 * prom-client's default metrics describe the process, not a registry, and each collection starts its
 * own event-loop and GC monitors: one set per prefix for the whole process, added to every register
 * that wants them (a name the register already has, from the host's own collection, is left alone).
 */
const defaultMetricsByPrefix = new Map<string, Registry>();

function addDefaultMetrics(register: Registry, prefix: string): void {
  let defaults = defaultMetricsByPrefix.get(prefix);
  if (defaults === undefined) {
    defaults = new Registry();
    collectDefaultMetrics({ register: defaults, prefix });
    defaultMetricsByPrefix.set(prefix, defaults);
  }
  for (const { name } of defaults.getMetricsAsArray()) {
    const metric = defaults.getSingleMetric(name);
    if (metric !== undefined && register.getSingleMetric(name) === undefined) register.registerMetric(metric);
  }
}

/** Counts the body bytes written to the response (Node leaves the body out of a HEAD answer, and so does this). */
function countSentBytes(res: ServerResponse): () => number {
  let bytes = 0;
  const count = (chunk: unknown, encoding: unknown) => {
    if (res.req.method === 'HEAD' || chunk === undefined || chunk === null || typeof chunk === 'function') return;
    if (typeof chunk === 'string') bytes += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    else if (chunk instanceof Uint8Array) bytes += chunk.byteLength;
  };
  const write = res.write;
  const end = res.end;
  res.write = function countingWrite(this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    count(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof res.write;
  res.end = function countingEnd(this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    count(chunk, rest[0]);
    return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as typeof res.end;
  return () => bytes;
}
