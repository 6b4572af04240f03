// A small HTTP/2 client over node:http2 for the registry's API: one session, requests as streams,
// bodies given whole, or written by the caller piece by piece (no Content-Length).
import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';

export interface Http2Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface Http2Client {
  readonly session: ClientHttp2Session;
  /** A request with a whole body (sent with Content-Length) or none. */
  request(method: string, path: string, headers?: Record<string, string>, body?: Buffer): Promise<Http2Answer>;
  /** Opens a request stream whose body the caller writes and ends; `answer` settles with the response. */
  open(method: string, path: string, headers?: Record<string, string>): { stream: ClientHttp2Stream; answer: Promise<Http2Answer> };
  close(): Promise<void>;
}

/** Connects to `url` (https) trusting `ca`; resolves once the session is up (ALPN settled). */
export async function connectHttp2(url: string, ca: string): Promise<Http2Client> {
  const session = connect(url, { ca, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
    session.once('close', () => reject(new Error(`${url}: the session closed before it was set up`)));
  });
  // A session error after connecting fails the streams; this keeps it from crashing the test process.
  session.on('error', () => undefined);

  const open = (method: string, path: string, headers: Record<string, string> = {}) => {
    const stream = session.request({ [constants.HTTP2_HEADER_METHOD]: method, [constants.HTTP2_HEADER_PATH]: path, ...headers });
    const answer = new Promise<Http2Answer>((resolve, reject) => {
      let responseHeaders: IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      stream.on('response', (received) => (responseHeaders = received));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', reject);
      stream.on('close', () => {
        if (responseHeaders === undefined) reject(new Error(`${method} ${path}: stream closed without a response (RST code ${stream.rstCode})`));
        else if (stream.rstCode !== constants.NGHTTP2_NO_ERROR) reject(new Error(`${method} ${path}: stream reset (RST code ${stream.rstCode}) during the response`));
        else resolve({ status: Number(responseHeaders[constants.HTTP2_HEADER_STATUS]), headers: responseHeaders, body: Buffer.concat(chunks) });
      });
    });
    return { stream, answer };
  };

  return {
    session,
    open,
    request: (method, path, headers = {}, body) => {
      const { stream, answer } = open(method, path, body === undefined ? headers : { ...headers, 'content-length': String(body.length) });
      stream.end(body);
      return answer;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (session.closed || session.destroyed) resolve();
        else session.close(() => resolve());
      }),
  };
}

/** The path and query of an upload's Location header (absolute or relative). */
export function locationPath(answer: Http2Answer, base: string): string {
  const location = answer.headers.location;
  if (typeof location !== 'string') throw new Error(`no Location header (status ${answer.status}): ${answer.body.toString('utf8')}`);
  const url = new URL(location, base);
  return `${url.pathname}${url.search}`;
}

/** `path` with `digest=` added to its query. */
export function withDigest(path: string, digest: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
}
