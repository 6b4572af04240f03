// A minimal HTTP client over node:http: streamed request bodies with backpressure, and responses either
// collected (small ones) or counted and dropped (blobs), so the client does as little work as it can.
import { Agent, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { once } from 'node:events';

/** One connection per transfer, as a single `docker push` layer upload gets. */
export const freshConnection = new Agent({ keepAlive: false });

/**
 * @param {string} method
 * @param {string} url
 * @param {{ headers?: Record<string, string>, body?: Uint8Array | Iterable<Uint8Array>, agent?: Agent,
 *           collect?: boolean }} [options]  collect: keep the response body (else only count it)
 * @returns {Promise<{ status: number, headers: import('node:http').IncomingHttpHeaders, body: Buffer, bytes: number }>}
 */
export async function request(method, url, options = {}) {
  const { headers = {}, body, agent = freshConnection, collect = true } = options;
  // https: URLs (bench/tls.mjs) come with an https Agent that trusts the bench's CA.
  const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { method, headers, agent });
  const responded = new Promise((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  // An early answer (an error before the body is sent) must not leave the writer waiting for 'drain'.
  let answeredEarly = false;
  responded.then(
    () => (answeredEarly = true),
    () => (answeredEarly = true),
  );
  if (body instanceof Uint8Array) {
    req.end(body);
  } else if (body) {
    for (const chunk of body) {
      if (answeredEarly) break;
      if (!req.write(chunk)) await Promise.race([once(req, 'drain'), responded.catch(() => undefined)]);
    }
    req.end();
  } else {
    req.end();
  }
  const res = await responded;
  const parts = [];
  let bytes = 0;
  for await (const chunk of res) {
    bytes += chunk.byteLength;
    if (collect) parts.push(chunk);
  }
  return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), bytes };
}

/** Throws unless the response has the expected status, with the body in the message. */
export function expectStatus(response, expected, what) {
  if (response.status !== expected) {
    throw new Error(`${what}: expected HTTP ${expected}, got ${response.status}: ${response.body.toString('utf8', 0, 500)}`);
  }
  return response;
}

/** A Location header made absolute against the server's base URL. */
export function absoluteLocation(base, response) {
  const location = response.headers.location;
  if (!location) throw new Error(`no Location header (HTTP ${response.status})`);
  return new URL(location, base).toString();
}

/** `url` with `name=value` added to its query (Locations of the reference carry their own state parameters). */
export function withQuery(url, name, value) {
  const parsed = new URL(url);
  parsed.searchParams.set(name, value);
  return parsed.toString();
}
