import { createServer, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { pino, type Logger } from 'pino';
import { createRegistry } from '@berth/koa';
import type { MetadataStore } from '@berth/core';
import { openPostgresMetadataStore } from '@berth/storage-postgres';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';
import { createFsBlobStore } from '@berth/blobs-fs';
import type { ServerConfig } from './config.js';
import { createServerAccess } from './access.js';
import { boundConnections, serverOptions } from './connection-bounds.js';
import { StartupError, prepareDataDirectory } from './data-dir.js';
import { logAppErrors, requestLog } from './request-log.js';
import { startUploadSweep } from './upload-sweep.js';

export interface RunningServer {
  url: string;
  logger: Logger;
  /** Stops accepting connections, lets in-flight requests finish, then closes the stores. */
  close(): Promise<void>;
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const logger = pino({ level: config.logLevel });
  // Before anything opens a file there: an unusable directory is one clear error, never a hang.
  await prepareDataDirectory(config.dataDir);
  const metadata = await openMetadata(config, logger);
  const blobs = await createFsBlobStore({ root: join(config.dataDir, 'blobs') });
  const access = await createServerAccess(config, metadata, logger);
  // Like distribution: this machine's name and the port it serves (known once listening, for --port 0).
  const eventSource = { addr: `${hostname()}:${config.port}` };
  const registry = createRegistry({
    ...(access.authorize && { authorize: access.authorize }),
    metadata,
    blobs,
    schema1Push: config.schema1Push,
    ...(config.schema1KeyFile !== undefined && { schema1SigningKey: await readFile(config.schema1KeyFile, 'utf8') }),
    ...(config.platforms !== undefined && { platforms: config.platforms }),
    webhooks: config.webhooks,
    pullEvents: config.pullEvents,
    eventSource,
    webhookLog: logger.child({ component: 'webhooks' }),
  });

  const stopSweep = startUploadSweep(registry.service, blobs, config.uploadTtlMs, logger);

  const app = new Koa();
  // Behind a load balancer: the client's address (sign-in limits) and scheme (the token realm) come from X-Forwarded-*.
  app.proxy = config.trustProxy;
  app.on('error', logAppErrors(logger, config.dataDir));
  app.use(requestLog(logger));
  if (access.tokenRoutes) app.use(access.tokenRoutes);
  app.use(registry.routes()).use(registry.allowedMethods());

  const server = createServer(serverOptions(config), app.callback());
  boundConnections(server, config, logger);
  const drain = drainOnClose(server);
  try {
    await listen(server, config.port, config.host);
  } catch (error) {
    await stopSweep();
    await registry.close();
    await metadata.close();
    throw listenError(error, config.host, config.port);
  }
  const { port } = server.address() as AddressInfo;
  eventSource.addr = `${hostname()}:${port}`;
  if (config.auth.mode === 'none' && !isLoopback(config.host)) {
    logger.warn({ host: config.host }, 'listening beyond this machine without sign-in: anyone who reaches the port may push and delete (see --auth)');
  }
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  return {
    url,
    logger,
    async close() {
      const closed = new Promise<void>((done, fail) => server.close((error) => (error ? fail(error) : done())));
      const swept = stopSweep();
      drain();
      await closed;
      await swept;
      // Undelivered events stay in the outbox for the next start.
      await registry.close();
      await metadata.close();
    },
  };
}

/** PostgreSQL when a database URL is given (instances sharing it must share the data directory too), else SQLite in the data directory. */
async function openMetadata(config: ServerConfig, logger: Logger): Promise<MetadataStore> {
  if (config.databaseUrl === undefined) {
    const filename = join(config.dataDir, 'berth.sqlite');
    logger.info({ metadata: 'sqlite', filename }, 'metadata store');
    return openSqliteMetadataStore({ filename });
  }
  const url = new URL(config.databaseUrl);
  // Host and database only: the URL may carry a password.
  logger.info({ metadata: 'postgres', host: url.host, database: url.pathname.slice(1) }, 'metadata store');
  const log = logger.child({ component: 'postgres' });
  return openPostgresMetadataStore({
    connection: config.databaseUrl,
    log: { warn: (message) => log.warn(String(message)), error: (message) => log.error(String(message)), debug: () => undefined },
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** A port in use or not allowed is the operator's to fix: say which and how. */
function listenError(error: unknown, host: string, port: number): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'EADDRINUSE') return new StartupError(`cannot listen on ${host}:${port}: the port is in use; stop what holds it or choose another --port (PORT)`);
  if (code === 'EACCES') return new StartupError(`cannot listen on ${host}:${port}: permission denied (ports below 1024 need privileges); choose another --port (PORT)`);
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

/**
 * Lets in-flight requests finish but keeps no connection alive after them, so a closing server exits as
 * soon as its last response is sent instead of waiting for clients' keep-alive sockets to time out.
 * Returns the function that starts draining.
 */
function drainOnClose(server: Server): () => void {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  server.on('request', (_request, response: ServerResponse) => {
    if (draining) response.setHeader('Connection', 'close');
    inFlight.add(response);
    response.once('close', () => inFlight.delete(response));
  });
  return () => {
    draining = true;
    for (const response of inFlight) if (!response.headersSent) response.setHeader('Connection', 'close');
    server.closeIdleConnections();
  };
}
