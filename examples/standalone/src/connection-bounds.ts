import { STATUS_CODES, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { Logger } from 'pino';

/** How long clients may take, and how many may connect (see ServerConfig). */
export interface ConnectionBounds {
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
}

/**
 * Options for `http.createServer`. Node's total-time limit on a request (`requestTimeout`, 300 s by
 * default) is switched off: it would cut a multi-GiB upload that is slow but moving. Bodies that stop
 * moving are the idle timeout's business instead (see `boundConnections`). Node checks the headers
 * timeout every `connectionsCheckingInterval` (30 s by default, which would let a half-sent request line
 * live for up to 30 s past its bound), so the check runs four times per headers timeout here (at least
 * every 5 s, at most every 100 ms).
 */
export function serverOptions(bounds: ConnectionBounds): ServerOptions {
  return {
    requestTimeout: 0,
    headersTimeout: bounds.headersTimeoutMs,
    connectionsCheckingInterval: Math.min(Math.max(Math.floor(bounds.headersTimeoutMs / 4), 100), 5_000),
  };
}

/**
 * Puts the bounds on a server made with `serverOptions`:
 *
 * - at most `maxConnections` connections; Node closes further ones as soon as they are accepted, and a
 *   warning says so (at most once a minute);
 * - the idle timeout as the sockets' inactivity timeout, judged when it fires: a request body that
 *   stopped arriving, a response the client stopped reading, or a connection with no request in flight
 *   (silent, idle between requests, headers trickling) is closed; a request whose whole body is in and
 *   which the registry is still working on (hashing, syncing a big blob), or whose body waits because
 *   the registry is not reading it yet, is left alone. A slow client that keeps sending never times out;
 * - the keep-alive timeout between requests;
 * - requests the HTTP parser cannot read (the bytes after a body longer than its Content-Length, a bad
 *   chunk, a half-sent request line past the headers timeout) are answered with a bare 4xx and the
 *   connection is closed, but only after the response to a complete request before them is sent, so
 *   that request is answered as if nothing followed it.
 */
export function boundConnections(server: Server, bounds: ConnectionBounds, logger: Logger): void {
  server.keepAliveTimeout = bounds.keepAliveTimeoutMs;
  if (bounds.maxConnections > 0) {
    server.maxConnections = bounds.maxConnections;
    let dropped = 0;
    let lastWarning = 0;
    server.on('drop', () => {
      dropped++;
      const now = Date.now();
      if (now - lastWarning < 60_000) return;
      lastWarning = now;
      logger.warn({ maxConnections: bounds.maxConnections, dropped }, 'connection limit reached: closing new connections (see --max-connections)');
      dropped = 0;
    });
  }

  // The request a socket is serving (the last one, when a client pipelines).
  const inFlight = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const exchange = { req, res };
    inFlight.set(socket, exchange);
    res.once('close', () => {
      if (inFlight.get(socket) === exchange) inFlight.delete(socket);
    });
  });

  if (bounds.idleTimeoutMs > 0) {
    // Node arms every new socket with this, and again after each keep-alive wait.
    server.timeout = bounds.idleTimeoutMs;
    server.on('timeout', (socket: Socket) => {
      // HTTP/2 sessions time out through here too: http2-bounds.ts judges them.
      if (!(socket instanceof Socket)) return;
      const exchange = inFlight.get(socket);
      const stall = exchange === undefined ? 'idle' : clientStall(exchange.req, exchange.res, socket);
      if (stall === undefined) {
        // The registry is the one taking its time: look again later.
        socket.setTimeout(bounds.idleTimeoutMs);
        return;
      }
      if (exchange !== undefined) {
        logger.info(
          { method: exchange.req.method, url: exchange.req.url, idleTimeoutMs: bounds.idleTimeoutMs, stall },
          stall === 'body' ? 'closing a connection whose request body stopped arriving' : 'closing a connection whose client stopped reading the response',
        );
      }
      socket.destroy();
    });
  } else {
    // Without a listener Node destroys the socket on any timeout, which is right for the keep-alive one.
    server.on('timeout', (socket: Socket) => {
      if (socket instanceof Socket) socket.destroy();
    });
  }

  const answered = new WeakSet<Socket>();
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    // The parser reports every later chunk of a broken stream too; answer once.
    if (answered.has(socket)) return;
    answered.add(socket);
    // A TLS handshake that failed or timed out (https reports it here): there is no HTTP to answer in.
    if (error.code === 'ECONNRESET' || !socket.writable || isTlsFailure(error)) {
      socket.destroy();
      return;
    }
    const status = CLIENT_ERROR_STATUS[error.code ?? ''] ?? 400;
    const answer = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
    const close = () => {
      if (socket.writable && !socket.destroyed) {
        socket.write(answer);
        socket.destroySoon();
      } else {
        socket.destroy();
      }
    };
    const exchange = inFlight.get(socket);
    if (exchange === undefined || exchange.res.writableFinished) {
      close();
    } else if (!exchange.req.complete) {
      // The request being served is the broken one (a bad chunk in its body): it cannot be answered.
      socket.destroy();
    } else {
      // What follows a complete request is not a request: answer that one first, then this.
      exchange.res.once('close', close);
    }
  });
}

/** Errors of the TLS layer (a handshake timeout, plain HTTP sent to the HTTPS port, a bad record). */
function isTlsFailure(error: NodeJS.ErrnoException): boolean {
  return /^ERR_(TLS|SSL)_/.test(error.code ?? '') || (error as { library?: unknown }).library === 'SSL routines';
}

const CLIENT_ERROR_STATUS: Record<string, number> = {
  ERR_HTTP_REQUEST_TIMEOUT: 408,
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
};

/**
 * Whether the client is what holds up an exchange on a socket that has seen no traffic for a while:
 * 'body' when the request body stopped arriving while the registry was waiting for it, 'response' when
 * the client stopped reading the response, undefined when the registry is the slow party.
 */
function clientStall(req: IncomingMessage, res: ServerResponse, socket: Socket): 'body' | 'response' | undefined {
  if (!req.complete) {
    // Bytes waiting in the request stream mean the registry has not read them yet (Node stops reading the
    // socket once the stream is full): the disk is slow, not the client.
    return req.readableLength > 0 ? undefined : 'body';
  }
  if (res.headersSent && !res.writableFinished) {
    // Bytes queued on the socket that did not move since the last timeout (Node re-arms the timer
    // while its write queue shrinks): the client stopped reading.
    return socket.writableLength > 0 || res.writableLength > 0 ? 'response' : undefined;
  }
  // The whole request is in and the answer is being worked out (a digest, a sync): not the client's doing.
  return undefined;
}
