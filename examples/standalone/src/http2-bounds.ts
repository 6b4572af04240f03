import { constants, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ConnectionBounds } from './connection-bounds.js';

/** HTTP/2 sessions being served, for a graceful close (GOAWAY). */
export interface Http2Sessions {
  /** Sends GOAWAY on every session: streams in flight finish, no new ones start, then the connection closes. */
  closeAll(): void;
  /** Ends every session at once, streams in flight included (the shutdown timeout ran out). */
  destroyAll(): void;
}

/**
 * The connection bounds for HTTP/2 sessions (HTTP/1.1 connections on the same server keep those of
 * `boundConnections`); one session is one connection, so `maxConnections` counts sessions:
 *
 * - a session with no stream open is closed gracefully (GOAWAY) after the keep-alive timeout, or after
 *   the headers timeout when no request came at all;
 * - a session on which nothing moves for the idle timeout is closed when it has no stream open; a
 *   stream whose request body stopped arriving, or whose response the client stopped reading, is
 *   reset on its own (the other streams of its session carry on), judged as for HTTP/1.1: a stream the
 *   registry is still working on is left alone.
 */
export function boundSessions(server: Http2SecureServer, bounds: ConnectionBounds, logger: Logger): Http2Sessions {
  const openStreams = new Map<Http2Session, number>();
  const quietTimers = new Map<Http2Session, NodeJS.Timeout>();
  let closing = false;

  /** Closes a session that stays without a stream for `ms`. */
  const closeWhenQuiet = (session: Http2Session, ms: number) => {
    clearTimeout(quietTimers.get(session));
    quietTimers.delete(session);
    if (ms <= 0) return;
    const timer = setTimeout(() => {
      if ((openStreams.get(session) ?? 0) === 0 && !session.closed) session.close();
    }, ms);
    timer.unref();
    quietTimers.set(session, timer);
  };

  server.on('session', (session: Http2Session) => {
    openStreams.set(session, 0);
    logger.debug({ remoteAddress: session.socket?.remoteAddress }, 'HTTP/2 session opened');
    // The connection-level window: without it all streams of a session share 64 KiB in flight.
    session.setLocalWindowSize(SESSION_WINDOW_BYTES);
    if (closing) {
      session.close();
      return;
    }
    closeWhenQuiet(session, bounds.headersTimeoutMs);
    session.once('close', () => {
      openStreams.delete(session);
      clearTimeout(quietTimers.get(session));
      quietTimers.delete(session);
    });
  });

  server.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
    if (req.httpVersionMajor < 2) return;
    const stream = req.stream;
    const session = stream.session;
    if (session === undefined) return;
    openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
    closeWhenQuiet(session, 0);
    stream.once('close', () => {
      const left = (openStreams.get(session) ?? 1) - 1;
      if (!openStreams.has(session)) return;
      openStreams.set(session, left);
      if (left === 0) closeWhenQuiet(session, bounds.keepAliveTimeoutMs);
    });
    if (bounds.idleTimeoutMs > 0) {
      stream.on('timeout', () => {
        const stall = streamStall(req, res);
        if (stall === undefined) {
          // The registry is the one taking its time: look again later.
          stream.setTimeout(bounds.idleTimeoutMs);
          return;
        }
        logger.info(
          { method: req.method, url: req.url, idleTimeoutMs: bounds.idleTimeoutMs, stall },
          stall === 'body' ? 'resetting an HTTP/2 stream whose request body stopped arriving' : 'resetting an HTTP/2 stream whose client stopped reading the response',
        );
        stream.close(constants.NGHTTP2_CANCEL);
      });
      stream.setTimeout(bounds.idleTimeoutMs);
    }
  });

  // Node arms every session with `server.timeout` (the idle timeout) and reports it here; HTTP/1.1
  // sockets are `boundConnections`' business.
  server.on('timeout', (target: Http2Session | Socket) => {
    if (target instanceof Socket) return;
    // A session with streams in flight is judged stream by stream.
    if ((openStreams.get(target) ?? 0) === 0) target.close();
  });

  return {
    closeAll() {
      closing = true;
      for (const session of openStreams.keys()) if (!session.closed) session.close();
    },
    destroyAll() {
      closing = true;
      for (const session of openStreams.keys()) if (!session.destroyed) session.destroy();
    },
  };
}

/** 16 MiB: enough to keep a loopback or LAN link busy; bounds what one session may buffer while the registry reads. */
const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;

/** Per stream, advertised in SETTINGS (see listener.ts). */
export const HTTP2_SETTINGS = { initialWindowSize: 1024 * 1024, maxConcurrentStreams: 100 } as const;

/** As `clientStall` for HTTP/1.1, for one stream. */
function streamStall(req: Http2ServerRequest, res: Http2ServerResponse): 'body' | 'response' | undefined {
  const stream = req.stream;
  // `req.complete` only turns true once the registry has read the body to its end: whether the client
  // sent all of it is the stream's state (END_STREAM received; with the headers for a GET).
  const bodyReceived = req.complete || stream.endAfterHeaders || stream.state?.remoteClose === 1;
  if (!bodyReceived) {
    // Bytes waiting in the request stream mean the registry has not read them yet: the disk is slow, not the client.
    return req.readableLength > 0 || stream.readableLength > 0 ? undefined : 'body';
  }
  if (res.headersSent && !stream.writableFinished) {
    // Data queued that flow control keeps from going out: the client stopped reading.
    return stream.writableLength > 0 ? 'response' : undefined;
  }
  return undefined;
}
