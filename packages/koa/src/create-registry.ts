import Koa, { type Context, type Middleware, type Next } from 'koa';
import Router from '@koa/router';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry as MetricsRegistry } from 'prom-client';
import {
  createRegistryService,
  type DeliveryLog,
  type EndpointStatus,
  type RegistryEventListener,
  type RegistryService,
  type RegistryServiceOptions,
} from '@berth/registry';
import { combineObservers, WebhookDelivery } from '@berth/registry/internal';
import type { EventAction } from '@berth/core';
import { accessGate, type Authorize } from './access-control.js';
import { consoleErrorLog, logRequestErrors, type CallbackOptions } from './error-log.js';
import { registryErrors } from './errors.js';
import { registerBaseRoutes, registryAllowedMethods, unknownEndpoint } from './routes/base.js';
import { registerBlobRoutes } from './routes/blobs.js';
import { registerListingRoutes } from './routes/listings.js';
import { registerManifestRoutes } from './routes/manifests.js';
import { registerUploadRoutes } from './routes/uploads.js';
import { healthEndpoints, type HealthOptions } from './observability/health.js';
import { metricsEndpoint, type MetricsEndpointOptions } from './observability/metrics-endpoint.js';
import { RegistryMetrics, type MetricsOptions } from './observability/registry-metrics.js';
import { assignRequestId } from './observability/request-id.js';
import { registryUi, type UiOptions } from './ui-api/registry-ui.js';

/** Options of {@link createRegistry}: the registry service options and the HTTP layer's. */
export interface CreateRegistryOptions extends RegistryServiceOptions {
  /**
   * Serve the registry only for these hosts (a string, a list or a RegExp matched against `Host`).
   * Clients always call `/v2/` at the host root, so a host, not a path prefix, is how berth shares an app.
   */
  host?: string | string[] | RegExp;
  /**
   * Access check run before every operation with every scope it needs; returns what is granted. The
   * default allows everything. `basicAuth()` and `tokenAuth()` are ready-made ones.
   */
  authorize?: Authorize;
  /**
   * Prometheus metrics (prom-client): `{ prefix = 'berth_', register = a new Registry, collectDefault = true }`,
   * or `false` for none. They are in `registry.metrics`; `registry.metricsMiddleware()` serves them.
   */
  metrics?: MetricsOptions | false;
  /** Where the webhook worker reports failing endpoints and events left waiting (a pino logger fits). */
  webhookLog?: DeliveryLog;
}

/** The registry's events for the embedding app, and the state of webhook delivery. */
export interface RegistryEvents {
  /**
   * Calls `listener` for each event of the action: push, delete and mount once the change committed,
   * pull when a manifest or a whole blob was served. A listener that throws or rejects never fails the request.
   */
  on<A extends EventAction>(action: A, listener: RegistryEventListener<A>): RegistryEvents;
  /** Removes a listener added with `on`. */
  off<A extends EventAction>(action: A, listener: RegistryEventListener<A>): RegistryEvents;
  /** Age in milliseconds of the oldest change event not yet delivered to a webhook; undefined when none waits. */
  oldestPendingAge(): Promise<number | undefined>;
  /** Per webhook endpoint: delivered, failed attempts, pull events dropped and waiting. */
  webhookStatus(): EndpointStatus[];
}

/** What {@link createRegistry} returns: the routes to mount, a Node request handler, health, metrics and events. */
export interface Registry {
  /** The registry's work without HTTP (the stores behind it, uploads, manifests, listings, garbage collection). */
  service: RegistryService;
  /** The `@koa/router` router the registry's `/v2/` routes are registered on; mount them with `routes()`. */
  router: Router;
  /** The registry's routes, to `app.use()` in an existing Koa app (errors rendered in the spec's format). */
  routes(): Middleware;
  /** 405 with `Allow` and the spec's JSON error body (UNSUPPORTED) for a known path and an unsupported method. */
  allowedMethods(): Middleware;
  /**
   * A plain Node request handler (`http.createServer(registry.callback())`). The errors of its requests
   * (faults answered 500, a full storage) go to `options.log`, by default to stderr.
   */
  callback(options?: CallbackOptions): (req: IncomingMessage, res: ServerResponse) => void;
  /** `GET /healthz` (the process answers) and `GET /readyz` (both stores reachable, else 503 naming which). */
  health(options?: HealthOptions): Middleware;
  /** The prom-client Registry holding berth's metrics (for `Registry.merge` into a host's); undefined with `metrics: false`. */
  metrics: MetricsRegistry | undefined;
  /** `GET /metrics` in the Prometheus text format. Throws with `metrics: false`. */
  metricsMiddleware(options?: MetricsEndpointOptions): Middleware;
  /** For a garbage collector to report a finished run (`gc_runs_total`, `gc_freed_bytes_total`). */
  recordGcRun(run: { bytesFreed: number; blobsDeleted?: number }): void;
  /** Listeners of the registry's events and the state of webhook delivery. */
  events: RegistryEvents;
  /**
   * The web UI as middleware: its JSON API under `{prefix}/api` (the same access checks as /v2, sign-in
   * sessions for the built-in modes) and its pages (from `@berth/ui`) on every other GET under the prefix.
   * `app.use(registry.ui({ prefix: '/registry' }))`. Never answers `/v2`, `/token`, `/healthz`, `/readyz`, `/metrics`.
   */
  ui(options?: UiOptions): Middleware;
  /** Stops the webhook worker (events not yet delivered stay in the outbox for the next start). Idempotent; the stores stay open. */
  close(): Promise<void>;
}

/** Creates the registry as Koa middleware over a metadata store and a blob store. */
export function createRegistry(options: CreateRegistryOptions): Registry {
  const metrics = options.metrics === false ? undefined : new RegistryMetrics(options.metrics);
  const service = createRegistryService({ ...options, observer: combineObservers([options.observer, metrics?.observer]) });
  const deps = { service, access: accessGate(options.authorize ?? (() => undefined)) };
  const router = new Router(options.host === undefined ? {} : { host: options.host });
  registerBaseRoutes(router, deps);
  registerUploadRoutes(router, deps);
  registerBlobRoutes(router, deps);
  registerManifestRoutes(router, deps);
  registerListingRoutes(router, deps);
  const isRegistryRequest = (ctx: Context) => isRegistryPath(ctx.path) && hostMatches(options.host, ctx.host);
  const routes = forRegistryRequests(isRegistryRequest, [
    assignRequestId,
    ...(metrics ? [metrics.recordRequests] : []),
    registryErrors,
    router.routes() as unknown as Middleware,
    unknownEndpoint,
  ]);

  const allowedMethods = registryAllowedMethods(router);

  // One worker per registry instance, only when there is somewhere to deliver to.
  const { outbox } = options.metadata;
  const delivery =
    service.options.webhooks.length > 0 && outbox !== undefined
      ? new WebhookDelivery({ outbox, endpoints: service.options.webhooks, ...(options.webhookLog && { log: options.webhookLog }) })
      : undefined;
  service.events.attach(delivery);
  if (delivery) metrics?.observeWebhooks(delivery);
  delivery?.start();
  let closed: Promise<void> | undefined;

  const events: RegistryEvents = {
    on: (action, listener) => {
      service.events.hub.on(action, listener);
      return events;
    },
    off: (action, listener) => {
      service.events.hub.off(action, listener);
      return events;
    },
    oldestPendingAge: async () => delivery?.oldestPendingAge(),
    webhookStatus: () => delivery?.status() ?? [],
  };

  const registry: Registry = {
    service,
    router,
    events,
    close: () => {
      closed ??= (async () => {
        service.events.attach(undefined);
        await delivery?.close();
      })();
      return closed;
    },
    routes: () => routes,
    allowedMethods: () => allowedMethods,
    callback: (callbackOptions = {}) => {
      const app = new Koa();
      app.use(registry.routes()).use(registry.allowedMethods());
      app.on('error', logRequestErrors(callbackOptions.log ?? consoleErrorLog));
      return app.callback();
    },
    health: (healthOptions) => healthEndpoints(options, healthOptions),
    metrics: metrics?.register,
    metricsMiddleware: (endpointOptions) => {
      if (!metrics) throw new TypeError('metricsMiddleware(): this registry was created with metrics: false');
      return metricsEndpoint(metrics.register, endpointOptions);
    },
    recordGcRun: (run) => service.observer.gcRun(run),
    ui: (uiOptions) => registryUi(service, options.authorize, uiOptions),
  };
  return registry;
}

function isRegistryPath(path: string): boolean {
  return path === '/v2' || path.startsWith('/v2/');
}

/** The same host test as @koa/router's `host` option, for the middleware around the router. */
function hostMatches(host: CreateRegistryOptions['host'], requestHost: string): boolean {
  if (host === undefined) return true;
  if (typeof host === 'string') return host === requestHost;
  if (Array.isArray(host)) return host.includes(requestHost);
  return host.test(requestHost);
}

/** Runs the chain for registry requests only; everything else goes straight on to the host app. */
function forRegistryRequests(applies: (ctx: Context) => boolean, chain: Middleware[]): Middleware {
  return (ctx: Context, next: Next) => {
    if (!applies(ctx)) return next();
    const dispatch = (index: number): Promise<void> =>
      index === chain.length ? next() : Promise.resolve(chain[index]!(ctx, () => dispatch(index + 1)));
    return dispatch(0);
  };
}
