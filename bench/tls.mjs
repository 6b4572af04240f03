// berth over TLS with --http2: the same server pulled from and pushed to over HTTP/1.1 (ALPN
// http/1.1, one connection per transfer as a `docker push` layer gets) and over HTTP/2 (one session,
// streams; client windows as Go's transport sets them), to see what h2 costs before it may become the default.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, constants } from 'node:http2';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { absoluteLocation, expectStatus, request, withQuery } from './http.mjs';
import { startBerth } from './servers.mjs';

const run = promisify(execFile);

/** Go's http2.Transport: 4 MiB per stream, 1 GiB for the connection. */
const CLIENT_STREAM_WINDOW = 4 * 1024 * 1024;
const CLIENT_SESSION_WINDOW = 1024 * 1024 * 1024;

/**
 * A throwaway CA and a certificate for 127.0.0.1 (openssl), and berth serving it with --http2.
 * @returns {Promise<{ server: import('./servers.mjs').BenchServer & { name: string }, ca: string, stop: () => Promise<void> }>}
 */
export async function startTlsBerth() {
  const dir = join(tmpdir(), `berth-bench-tls-${process.pid}`);
  await mkdir(dir, { recursive: true });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', '1', '-subj', '/CN=berth bench CA']);
  await run('openssl', ['req', ...ec, '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.csr'), '-subj', '/CN=localhost']);
  await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', [
    'x509', '-req', '-in', join(dir, 'server.csr'), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'),
    '-set_serial', '1', '-days', '1', '-extfile', join(dir, 'ext.cnf'), '-out', join(dir, 'server.crt'),
  ]);
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8');
  const server = await startBerth({ args: ['--tls-cert', join(dir, 'server.crt'), '--tls-key', join(dir, 'server.key'), '--http2'] });
  return {
    server,
    ca,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** HTTP/1.1 over TLS, a fresh connection per request unless `keepAlive`. */
export function http1Agent(ca, { keepAlive = false, maxSockets = Infinity } = {}) {
  return new Agent({ ca, keepAlive, maxSockets, ALPNProtocols: ['http/1.1'] });
}

export async function http1Pull(server, agent, repository, digest, size) {
  const response = await request('GET', `${server.url}/v2/${repository}/blobs/${digest}`, { agent, collect: false });
  if (response.status !== 200 || response.bytes !== size) throw new Error(`HTTP/1.1 pull: HTTP ${response.status}, ${response.bytes} of ${size} bytes`);
}

export async function http1PushMonolithic(server, agent, repository, source, digest) {
  const started = expectStatus(
    await request('POST', `${server.url}/v2/${repository}/blobs/uploads/`, { agent, headers: { 'content-length': '0' } }),
    202,
    'HTTP/1.1 start upload',
  );
  const done = await request('PUT', withQuery(absoluteLocation(server.url, started), 'digest', digest), {
    agent,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(source.size) },
    body: source.chunks(),
  });
  expectStatus(done, 201, 'HTTP/1.1 monolithic PUT');
}

/** An HTTP/2 session to the server (ALPN h2), with Go's client windows. */
export async function http2Session(server, ca) {
  const session = connect(server.url, { ca, settings: { initialWindowSize: CLIENT_STREAM_WINDOW } });
  await once(session, 'connect');
  if (session.alpnProtocol !== 'h2') throw new Error(`expected ALPN h2, got ${session.alpnProtocol}`);
  session.setLocalWindowSize(CLIENT_SESSION_WINDOW);
  return session;
}

/** One request on `session`; the body (a buffer or chunks) is written with backpressure; the response counted, or kept when `collect`. */
async function http2Request(session, method, path, { headers = {}, body, collect = false } = {}) {
  const stream = session.request({ [constants.HTTP2_HEADER_METHOD]: method, [constants.HTTP2_HEADER_PATH]: path, ...headers });
  const responded = once(stream, 'response');
  if (body === undefined) {
    stream.end();
  } else {
    for (const chunk of body instanceof Uint8Array ? [body] : body) {
      if (!stream.write(chunk)) await once(stream, 'drain');
    }
    stream.end();
  }
  const [responseHeaders] = await responded;
  const parts = [];
  let bytes = 0;
  for await (const chunk of stream) {
    bytes += chunk.byteLength;
    if (collect) parts.push(chunk);
  }
  return { status: Number(responseHeaders[constants.HTTP2_HEADER_STATUS]), headers: responseHeaders, bytes, body: Buffer.concat(parts) };
}

export async function http2Pull(session, repository, digest, size) {
  const response = await http2Request(session, 'GET', `/v2/${repository}/blobs/${digest}`);
  if (response.status !== 200 || response.bytes !== size) throw new Error(`HTTP/2 pull: HTTP ${response.status}, ${response.bytes} of ${size} bytes`);
}

export async function http2PushMonolithic(server, session, repository, source, digest) {
  const started = await http2Request(session, 'POST', `/v2/${repository}/blobs/uploads/`, { collect: true });
  expectStatus(started, 202, 'HTTP/2 start upload');
  const target = new URL(withQuery(absoluteLocation(server.url, started), 'digest', digest));
  const done = await http2Request(session, 'PUT', `${target.pathname}${target.search}`, {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(source.size) },
    body: source.chunks(),
    collect: true,
  });
  expectStatus(done, 201, 'HTTP/2 monolithic PUT');
}
