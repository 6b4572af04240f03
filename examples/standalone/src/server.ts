import { createServer, type RequestListener } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import type { AddressInfo, Server } from 'node:net';
import Koa from 'koa';
import type { Logger } from 'pino';
import { createRegistry, type Registry } from '@berth/koa';
import type { MetadataStore } from '@berth/core';
import { openPostgresMetadataStore } from '@berth/storage-postgres';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';
import type { ServerConfig } from './config.js';
import { openServerAccess } from './access.js';
import { StartupError, prepareDataDirectory } from './data-dir.js';
import { openWhenReachable } from './database-wait.js';
import { openListener } from './listener.js';
import { logAppErrors, requestLog } from './request-log.js';
import { startUploadSweep } from './upload-sweep.js';
import { openBlobStore, type StandaloneBlobStore } from './blob-store.js';
import { startGcSchedule } from './gc-schedule.js';

/** A started server: its URL, its logger and how to stop it. */
export interface RunningServer {
  /** The URL the server answers at: `scheme://host:port`, with the port it actually listens on. */
  url: string;
  /** The logger the server writes its request and error lines to. */
  logger: Logger;
  /**
   * Stops accepting connections and lets in-flight requests finish for up to the shutdown timeout,
   * then closes the connections still open; closes the stores. `drained` is false when connections
   * had to be closed under running requests.
   */
  close(): Promise<{ drained: boolean }>;
}

/** Starts the berth server: opens the stores, listens, and runs the background work (upload sweep, collector schedule). */
export async function startServer(config: ServerConfig, logger: Logger): Promise<RunningServer> {
  // HTTP, HTTPS or HTTPS with HTTP/2; a bad certificate stops the start here, before anything is written.
  const listener = await openListener(config, logger);
  // The ports are bound next, so a port in use is reported before anything is written: before the data
  // directory is created and before a database is touched (or migrated). Until the registry is ready,
  // a request that arrives gets 503.
  let handleRequest: RequestListener = answerNotReady;
  const { server } = listener;
  server.on('request', (request, response) => handleRequest(request, response));
  let handleMetrics: RequestListener = answerNotReady;
  const metricsServer = config.metrics && config.metricsPort !== undefined ? createServer((request, response) => handleMetrics(request, response)) : undefined;
  try {
    await listen(server, config.port, config.host);
  } catch (error) {
    throw listenError(error, config.host, config.port);
  }
  if (metricsServer) {
    await listen(metricsServer, config.metricsPort!, config.host).catch(async (error: unknown) => {
      await listener.close();
      throw listenError(error, config.host, config.metricsPort!, '--metrics-port (BERTH_METRICS_PORT)');
    });
  }

  let metadata: MetadataStore | undefined;
  let blobs: StandaloneBlobStore | undefined;
  let stopSweep: (() => Promise<void>) | undefined;
  let stopGc: () => Promise<void> = async () => undefined;
  let registry: Registry | undefined;
  let app: Koa;
  // Set when close() begins: /readyz answers 503 on connections still open while the rest drains.
  let draining = false;
  const { port } = server.address() as AddressInfo;
  try {
    // Before anything opens a file there: an unusable directory is one clear error, never a hang.
    await prepareDataDirectory(config.dataDir);
    metadata = await openMetadata(config, logger);
    blobs = await openBlobStore(config);
    const access = await openServerAccess(config, metadata, logger);
    registry = createRegistry({
      ...(access.authorize && { authorize: access.authorize }),
      metadata,
      blobs,
      schema1Push: config.schema1Push,
      ...(config.schema1KeyFile !== undefined && { schema1SigningKey: await readFile(config.schema1KeyFile, 'utf8') }),
      ...(config.platforms !== undefined && { platforms: config.platforms }),
      ...(!config.metrics && { metrics: false as const }),
      webhooks: config.webhooks,
      pullEvents: config.pullEvents,
      quotas: config.quotas,
      // Like distribution: this machine's name and the port it serves.
      eventSource: { addr: `${hostname()}:${port}` },
      webhookLog: logger.child({ component: 'webhooks' }),
      mirrors: config.mirrors,
      mirrorLog: logger.child({ component: 'mirror' }),
    });
    stopSweep = startUploadSweep(registry.service, blobs, config.uploadTtlMs, logger);
    if (config.gcIntervalMs > 0) {
      stopGc = startGcSchedule(registry.service, { intervalMs: config.gcIntervalMs, graceMs: config.gcGraceMs, deleteUntagged: config.gcDeleteUntagged, retention: config.retention }, logger);
    }

    app = new Koa();
    // Behind a load balancer: the client's address (sign-in limits) and scheme (the token realm) come from X-Forwarded-*.
    app.proxy = config.trustProxy;
    app.on('error', logAppErrors(logger, config.dataDir));
    app.use(requestLog(logger));
    // Before sign-in and the token routes: a load balancer's probes carry no credentials.
    app.use(registry.health({ draining: () => draining }));
    if (config.metrics && config.metricsPort === undefined) app.use(registry.metricsMiddleware());
    if (access.tokenRoutes) app.use(access.tokenRoutes);
    app.use(registry.routes()).use(registry.allowedMethods());
    // After the registry's routes: the UI never answers /v2, /token, /healthz, /readyz or /metrics anyway.
    if (config.ui) app.use(registry.ui());
    if (metricsServer) handleMetrics = new Koa().use(registry.metricsMiddleware()).callback();
  } catch (error) {
    await listener.close();
    if (metricsServer) await new Promise<void>((done) => metricsServer.close(() => done()));
    await stopSweep?.();
    await stopGc();
    await registry?.close();
    await blobs?.close();
    await metadata?.close();
    throw error;
  }
  handleRequest = app.callback();

  if (config.auth.mode === 'none' && !isLoopback(config.host)) {
    logger.warn({ host: config.host }, 'listening beyond this machine without sign-in: anyone who reaches the port may push and delete (see --auth)');
  }
  const hostInUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${listener.scheme}://${hostInUrl}:${port}`;
  if (metricsServer) {
    const { port: metricsPort } = metricsServer.address() as AddressInfo;
    logger.info({ metrics: `http://${hostInUrl}:${metricsPort}/metrics` }, 'metrics on their own port');
  }
  const stores = { metadata, blobs, stopSweep, stopGc, registry };

  return {
    url,
    logger,
    async close() {
      draining = true;
      const closed = listener.close();
      const metricsClosed = metricsServer && new Promise<void>((done) => metricsServer.close(() => done()));
      metricsServer?.closeAllConnections();
      const swept = stores.stopSweep();
      const collected = stores.stopGc();
      let drained = true;
      // 0: no bound, wait for every request.
      const timer =
        config.shutdownTimeoutMs > 0
          ? setTimeout(() => {
              drained = false;
              logger.warn({ shutdownTimeoutMs: config.shutdownTimeoutMs }, 'shutdown timeout reached: closing the connections still open');
              listener.closeAllConnections();
            }, config.shutdownTimeoutMs)
          : undefined;
      try {
        await closed;
      } finally {
        clearTimeout(timer);
      }
      await metricsClosed;
      await swept;
      await collected;
      // Undelivered events stay in the outbox for the next start.
      await stores.registry.close();
      await stores.blobs.close();
      await stores.metadata.close();
      return { drained };
    },
  };
}

/** Before the stores are open: the spec's error body, 503, and the connection closed. */
const answerNotReady: RequestListener = (_request, response) => {
  const body = JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'the registry is starting', detail: null }] });
  response.writeHead(503, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'close', 'Retry-After': '1' });
  response.end(body);
};

/** PostgreSQL when a database URL is given (instances sharing it must share the data directory too), else SQLite in the data directory. */
export async function openMetadata(config: ServerConfig, logger: Logger): Promise<MetadataStore> {
  if (config.databaseUrl === undefined) {
    const filename = join(config.dataDir, 'berth.sqlite');
    logger.info({ metadata: 'sqlite', filename }, 'metadata store');
    return openSqliteMetadataStore({ filename });
  }
  const url = new URL(config.databaseUrl);
  // Host and database only: the URL may carry a password.
  logger.info({ metadata: 'postgres', host: url.host, database: url.pathname.slice(1) }, 'metadata store');
  const log = logger.child({ component: 'postgres' });
  const where = `${url.host}${url.pathname}`;
  // While start-up waits for the database, the pool's own connection errors are what the wait's warnings say already.
  let opening = true;
  const firstLine = (message: unknown) => String(message).split('\n')[0];
  const store = await openWhenReachable(
    () =>
      openPostgresMetadataStore({
        connection: config.databaseUrl!,
        log: {
          warn: (message) => (opening ? log.debug(firstLine(message)) : log.warn(firstLine(message))),
          error: (message) => log.error(firstLine(message)),
          debug: () => undefined,
        },
      }),
    { waitMs: config.databaseWaitMs, logger, where },
  );
  opening = false;
  return store;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** A port in use or not allowed is the operator's to fix: say which and how. */
function listenError(error: unknown, host: string, port: number, flag = '--port (PORT)'): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'EADDRINUSE') return new StartupError(`cannot listen on ${host}:${port}: the port is in use; stop what holds it or choose another ${flag}`);
  if (code === 'EACCES') return new StartupError(`cannot listen on ${host}:${port}: permission denied (ports below 1024 need privileges); choose another ${flag}`);
  if (code === 'EADDRNOTAVAIL') return new StartupError(`cannot listen on ${host}:${port}: the address is not on this machine; choose another --host (HOST)`);
  return error;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      done();
    });
  });
}
