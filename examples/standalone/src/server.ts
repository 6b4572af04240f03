import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { pino, type Logger } from 'pino';
import { createRegistry } from '@berth/koa';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';
import { createFsBlobStore } from '@berth/blobs-fs';
import type { ServerConfig } from './config.js';
import { requestLog } from './request-log.js';

export interface RunningServer {
  url: string;
  logger: Logger;
  /** Stops accepting connections, lets in-flight requests finish, then closes the stores. */
  close(): Promise<void>;
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const logger = pino({ level: config.logLevel });
  const metadata = await openSqliteMetadataStore({ filename: join(config.dataDir, 'berth.sqlite') });
  const blobs = await createFsBlobStore({ root: join(config.dataDir, 'blobs') });
  const registry = createRegistry({ metadata, blobs });

  const app = new Koa();
  app.on('error', (error: unknown) => logger.error({ err: error }, 'request failed'));
  app.use(requestLog(logger));
  app.use(registry.routes()).use(registry.allowedMethods());

  const server = createServer(app.callback());
  await listen(server, config.port, config.host);
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  return {
    url,
    logger,
    async close() {
      const closed = new Promise<void>((done, fail) => server.close((error) => (error ? fail(error) : done())));
      server.closeIdleConnections();
      await closed;
      await metadata.close();
    },
  };
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
