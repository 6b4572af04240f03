import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureServer } from 'node:http2';
import type { Server } from 'node:net';
import type { Logger } from 'pino';
import { boundConnections, serverOptions, type ConnectionBounds } from './connection-bounds.js';
import { HTTP2_SETTINGS, boundSessions, type Http2Sessions } from './http2-bounds.js';
import { readServerCertificate, type CertificateFiles } from './tls-certificate.js';

/** What the listener serves: plain HTTP, HTTPS, or HTTPS with HTTP/2 offered next to HTTP/1.1. */
export interface ListenerOptions extends ConnectionBounds {
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  http2: boolean;
}

export interface Listener {
  /** Not yet listening and without a request handler: the caller adds one (`server.on('request', …)`) and calls `listen`. */
  readonly server: Server;
  readonly scheme: 'http' | 'https';
  /** Stops accepting, lets in-flight requests and streams finish without keeping connections alive, and resolves once all are closed. */
  close(): Promise<void>;
  /** Closes every connection still open, requests in flight included (after `close()`, when draining took too long). */
  closeAllConnections(): void;
}

/**
 * The server for the registry, with the connection bounds on it. With TLS, the certificate and key
 * are checked first (a StartupError says what is wrong) and read again on SIGHUP: a good new pair
 * serves new connections at once, a bad one is logged and the old pair kept. Made before anything
 * else at start-up, so a bad certificate stops it before anything is written.
 */
export async function openListener(options: ListenerOptions, logger: Logger): Promise<Listener> {
  const files = certificateFiles(options);
  if (files === undefined) {
    const server = createHttpServer(serverOptions(options));
    boundConnections(server, options, logger);
    const drain = drainOnClose(server, undefined);
    return { server, scheme: 'http', close: () => closeServer(server, drain), closeAllConnections: () => server.closeAllConnections() };
  }

  const certificate = await readServerCertificate(files);
  logCertificate(logger, 'serving TLS certificate', files, certificate.summary);
  const tls = {
    cert: certificate.cert,
    key: certificate.key,
    minVersion: 'TLSv1.2' as const,
    // A client gets the headers timeout for its handshake too (Node's default is 120 s).
    handshakeTimeout: options.headersTimeoutMs,
  };
  let server: HttpServer;
  let sessions: Http2Sessions | undefined;
  if (options.http2) {
    // One 'request' handler for both protocols: Koa reads and writes the compatibility API like http's.
    const http2Server = createSecureServer({ ...tls, allowHTTP1: true, settings: HTTP2_SETTINGS });
    // allowHTTP1 makes it an HTTP/1.1 server too, with the same timeouts and events (see Node's http2 docs).
    Object.assign(http2Server, serverOptions(options));
    server = http2Server as unknown as HttpServer;
    sessions = boundSessions(http2Server, options, logger);
  } else {
    server = createHttpsServer({ ...serverOptions(options), ...tls }) as unknown as HttpServer;
  }
  boundConnections(server, options, logger);
  const drain = drainOnClose(server, sessions);
  const stopReloading = reloadOnSignal(server as unknown as SecureContextHolder, files, logger);
  return {
    server,
    scheme: 'https',
    async close() {
      stopReloading();
      await closeServer(server, drain);
    },
    closeAllConnections() {
      server.closeAllConnections();
      sessions?.destroyAll();
    },
  };
}

function certificateFiles(options: ListenerOptions): CertificateFiles | undefined {
  if (options.tlsCertFile === undefined || options.tlsKeyFile === undefined) return undefined;
  return { certFile: options.tlsCertFile, keyFile: options.tlsKeyFile };
}

interface SecureContextHolder {
  setSecureContext(options: { cert: Buffer; key: Buffer; minVersion: 'TLSv1.2' }): void;
}

/** Re-reads the pair on SIGHUP (certbot, cert-manager and friends renew files in place); returns the unsubscribe. */
function reloadOnSignal(server: SecureContextHolder, files: CertificateFiles, logger: Logger): () => void {
  const reload = () => {
    readServerCertificate(files).then(
      (certificate) => {
        server.setSecureContext({ cert: certificate.cert, key: certificate.key, minVersion: 'TLSv1.2' });
        logCertificate(logger, 'reloaded TLS certificate', files, certificate.summary);
      },
      (error: unknown) => {
        logger.error({ certFile: files.certFile, keyFile: files.keyFile }, `TLS certificate not reloaded, still serving the previous one: ${(error as Error).message}`);
      },
    );
  };
  process.on('SIGHUP', reload);
  return () => process.off('SIGHUP', reload);
}

function logCertificate(logger: Logger, message: string, files: CertificateFiles, summary: { expired: boolean; [key: string]: unknown }): void {
  const { expired, ...fields } = summary;
  if (expired) logger.warn({ certFile: files.certFile, ...fields }, `${message}: it has expired, clients will refuse it`);
  else logger.info({ certFile: files.certFile, ...fields }, message);
}

function closeServer(server: Server, drain: () => void): Promise<void> {
  // A start-up that failed before `listen` still closes its listener.
  if (!server.listening) return Promise.resolve();
  const closed = new Promise<void>((done, fail) => server.close((error) => (error ? fail(error) : done())));
  drain();
  return closed;
}

/**
 * Lets in-flight requests finish but keeps no connection alive after them, so a closing server exits as
 * soon as its last response is sent instead of waiting for clients' keep-alive sockets to time out:
 * HTTP/1.1 answers say `Connection: close`, HTTP/2 sessions get GOAWAY. Returns the function that starts draining.
 */
function drainOnClose(server: HttpServer, sessions: Http2Sessions | undefined): () => void {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    // HTTP/2 has no Connection header (Node would warn and drop it): its sessions are closed below.
    if (request.httpVersionMajor >= 2) return;
    if (draining) response.setHeader('Connection', 'close');
    inFlight.add(response);
    response.once('close', () => inFlight.delete(response));
  });
  return () => {
    draining = true;
    for (const response of inFlight) if (!response.headersSent) response.setHeader('Connection', 'close');
    server.closeIdleConnections();
    sessions?.closeAll();
  };
}
