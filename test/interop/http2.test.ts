// berth with --http2 (TLS, ALPN h2 next to http/1.1): a node:http2 client and curl --http2 push with
// chunked PATCH uploads, PATCH bodies without Content-Length and monolithic PUTs, then pull; HTTP/1.1
// clients keep working on the same port, skopeo among them; SIGTERM lets
// streams in flight finish, then exits 0; a stream whose body stops is reset by the idle timeout while
// its session carries on.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { connect as connectTcp } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSuccess, runCommand, runEveryStep, systemPath } from '../support/client-image.js';
import { connectHttp2, locationPath, withDigest, type Http2Client } from '../support/http2-client.js';
import { readOciLayout } from '../support/image-readback.js';
import { generateImage, MediaType, writeImageLayout } from '../support/oci-image.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { startBerth, type RunningBerth } from '../support/servers.js';
import { createSkopeo, dockerRef } from '../support/skopeo.js';
import { createTestCa, type IssuedCertificate, type TestCa } from '../support/test-ca.js';

let scratch: Scratch;
let ca: TestCa;
let pair: IssuedCertificate;
let trustDir: string;

beforeAll(async () => {
  scratch = await createScratch('berth-http2-');
  ca = await createTestCa(scratch.child('ca'));
  pair = await ca.issue('server', 0x7007);
  trustDir = scratch.child('trust');
  await mkdir(trustDir);
  await writeFile(`${trustDir}/ca.crt`, ca.certPem);
});

afterAll(async () => {
  await scratch?.dispose();
});

const tlsArgs = () => ['--tls-cert', pair.certPath, '--tls-key', pair.keyPath, '--http2'];
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Resolves once `pattern` has appeared in the server's output. */
async function logLine(server: RunningBerth, pattern: RegExp): Promise<void> {
  while (!pattern.test(server.logs())) {
    const exit = await Promise.race([server.exited, new Promise((resolve) => setTimeout(resolve, 50, undefined))]);
    if (exit !== undefined) throw new Error(`berth exited while waiting for ${pattern}:\n${server.logs()}`);
  }
}

/** ASCII blob content (curl reads one from stdin, which the command runner feeds as text). */
function textBlob(seed: number, size: number): Buffer {
  const line = `berth http2 test blob ${seed} `;
  return Buffer.from(line.repeat(Math.ceil(size / line.length)).slice(0, size));
}

describe('berth with --http2', () => {
  let berth: RunningBerth;

  beforeAll(async () => {
    berth = await startBerth({ args: tlsArgs() });
  });

  afterAll(async () => {
    await berth?.stop();
  });

  it('negotiates h2 through ALPN, and still answers HTTP/1.1 clients on the same port', async () => {
    const client = await connectHttp2(berth.url, ca.certPem);
    try {
      expect(client.session.alpnProtocol).toBe('h2');
      expect((await client.request('GET', '/v2/')).status).toBe(200);
    } finally {
      await client.close();
    }

    const http1 = await new Promise<{ status: number; version: string; alpn: string | false }>((resolve, reject) => {
      const agent = new Agent({ ca: ca.certPem, servername: 'localhost', ALPNProtocols: ['http/1.1'], keepAlive: false });
      const request = httpsRequest(`${berth.url}/v2/`, { agent }, (response) => {
        response.resume();
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, version: response.httpVersion, alpn: (response.socket as TLSSocket).alpnProtocol ?? false }),
        );
      });
      request.on('error', reject);
      request.end();
    });
    expect(http1).toEqual({ status: 200, version: '1.1', alpn: 'http/1.1' });

    const curl = expectSuccess(
      await runCommand('curl', ['-sS', '--http1.1', '--cacert', ca.certPath, '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `${berth.url}/v2/`], {
        env: { PATH: systemPath() },
      }),
    );
    expect(curl.stdout).toBe('1.1 200');
  });

  it('node:http2 pushes with chunked PATCHes, a PATCH without Content-Length and a monolithic PUT, then pulls', async () => {
    const image = generateImage({ layers: 2, seed: 51 });
    const [layerA, layerB] = image.layers as [typeof image.layers[0], typeof image.layers[0]];
    const repository = 'h2/node';
    const client = await connectHttp2(berth.url, ca.certPem);
    try {
      const begin = async () => {
        const started = await client.request('POST', `/v2/${repository}/blobs/uploads/`);
        expect(started.status, started.body.toString()).toBe(202);
        return locationPath(started, berth.url);
      };

      // Layer A: two PATCHes with Content-Range and Content-Length, then a PUT without a body.
      let upload = await begin();
      const half = Math.floor(layerA.bytes.length / 2);
      for (const [start, end] of [[0, half], [half, layerA.bytes.length]] as const) {
        const patched = await client.request(
          'PATCH',
          upload,
          { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end - 1}` },
          layerA.bytes.subarray(start, end),
        );
        expect(patched.status, patched.body.toString()).toBe(202);
        expect(patched.headers.range).toBe(`0-${end - 1}`);
        upload = locationPath(patched, berth.url);
      }
      const committedA = await client.request('PUT', withDigest(upload, layerA.digest));
      expect(committedA.status, committedA.body.toString()).toBe(201);
      expect(committedA.headers['docker-content-digest']).toBe(layerA.digest);

      // Layer B: one PATCH whose body is written in pieces, with no Content-Length (DATA frames only).
      upload = await begin();
      const { stream, answer } = client.open('PATCH', upload, { 'content-type': 'application/octet-stream' });
      for (let offset = 0; offset < layerB.bytes.length; offset += 500) stream.write(layerB.bytes.subarray(offset, offset + 500));
      stream.end();
      const patchedB = await answer;
      expect(patchedB.status, patchedB.body.toString()).toBe(202);
      expect(patchedB.headers.range).toBe(`0-${layerB.bytes.length - 1}`);
      const committedB = await client.request('PUT', withDigest(locationPath(patchedB, berth.url), layerB.digest));
      expect(committedB.status, committedB.body.toString()).toBe(201);

      // The config: a monolithic PUT carrying the whole blob.
      upload = await begin();
      const committedConfig = await client.request('PUT', withDigest(upload, image.config.digest), { 'content-type': 'application/octet-stream' }, image.config.bytes);
      expect(committedConfig.status, committedConfig.body.toString()).toBe(201);

      const manifest = await client.request('PUT', `/v2/${repository}/manifests/v1`, { 'content-type': MediaType.ociManifest }, image.manifest.bytes);
      expect(manifest.status, manifest.body.toString()).toBe(201);
      expect(manifest.headers['docker-content-digest']).toBe(image.manifest.digest);

      // Pulls, all on the same session, two of them at once.
      const served = await client.request('GET', `/v2/${repository}/manifests/v1`, { accept: MediaType.ociManifest });
      expect(served.status).toBe(200);
      expect(served.body.equals(image.manifest.bytes)).toBe(true);
      const blobs = await Promise.all([layerA, layerB, image.config].map((blob) => client.request('GET', `/v2/${repository}/blobs/${blob.digest}`)));
      for (const [i, blob] of [layerA, layerB, image.config].entries()) {
        expect(blobs[i]!.status).toBe(200);
        expect(blobs[i]!.body.equals(blob.bytes), `blob ${blob.digest}`).toBe(true);
      }
    } finally {
      await client.close();
    }
  });

  it('curl --http2 pushes with a chunked PATCH, a PATCH from stdin without Content-Length and a monolithic PUT, then pulls', async () => {
    const repository = 'h2/curl';
    const dir = scratch.child('curl');
    await mkdir(dir);
    const layerA = textBlob(1, 70_000);
    const layerB = textBlob(2, 50_000);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    await writeFile(`${dir}/a`, layerA);
    await writeFile(`${dir}/config`, config);

    /** Runs curl over h2; returns the response headers (lower-cased names) and the status. */
    const curl = async (args: string[], input?: string) => {
      const result = expectSuccess(
        await runCommand('curl', ['-sS', '--http2', '--cacert', ca.certPath, '-D', '-', '-o', '/dev/null', '-w', 'version=%{http_version}\n', ...args], {
          env: { PATH: systemPath() },
          input,
        }),
      );
      expect(result.stdout).toContain('version=2\n');
      const status = Number(/^HTTP\/2 (\d{3})/m.exec(result.stdout)?.[1]);
      const header = (name: string) => new RegExp(`^${name}: *(.*?)\\r?$`, 'mi').exec(result.stdout)?.[1];
      return { status, header, stdout: result.stdout };
    };
    const location = (answer: { header: (name: string) => string | undefined }) => new URL(answer.header('location')!, berth.url).href;
    const digestUrl = (url: string, digest: string) => `${url}${url.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;
    const begin = async () => {
      const started = await curl(['-X', 'POST', `${berth.url}/v2/${repository}/blobs/uploads/`]);
      expect(started.status, started.stdout).toBe(202);
      return location(started);
    };

    // Layer A: a PATCH with Content-Length and Content-Range, then a PUT without a body.
    let upload = await begin();
    const patched = await curl(['-X', 'PATCH', '-H', 'Content-Type: application/octet-stream', '-H', `Content-Range: 0-${layerA.length - 1}`, '--data-binary', `@${dir}/a`, upload]);
    expect(patched.status, patched.stdout).toBe(202);
    const committedA = await curl(['-X', 'PUT', digestUrl(location(patched), sha256(layerA))]);
    expect(committedA.status, committedA.stdout).toBe(201);

    // Layer B: streamed from stdin, so curl cannot know the length and sends no Content-Length.
    upload = await begin();
    const streamed = await curl(['-X', 'PATCH', '-H', 'Content-Type: application/octet-stream', '-T', '-', upload], layerB.toString('latin1'));
    expect(streamed.status, streamed.stdout).toBe(202);
    expect(streamed.header('range')).toBe(`0-${layerB.length - 1}`);
    const committedB = await curl(['-X', 'PUT', digestUrl(location(streamed), sha256(layerB))]);
    expect(committedB.status, committedB.stdout).toBe(201);

    // The config: a monolithic PUT.
    upload = await begin();
    const committedConfig = await curl(['-X', 'PUT', '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${dir}/config`, digestUrl(upload, sha256(config))]);
    expect(committedConfig.status, committedConfig.stdout).toBe(201);

    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: sha256(config), size: config.length },
        layers: [layerA, layerB].map((layer) => ({ mediaType: MediaType.ociLayerGzip, digest: sha256(layer), size: layer.length })),
      }),
    );
    await writeFile(`${dir}/manifest`, manifest);
    const put = await curl(['-X', 'PUT', '-H', `Content-Type: ${MediaType.ociManifest}`, '--data-binary', `@${dir}/manifest`, `${berth.url}/v2/${repository}/manifests/v1`]);
    expect(put.status, put.stdout).toBe(201);

    // Pulls, each into a file, compared byte for byte.
    const pulls: [string, Buffer][] = [
      [`${berth.url}/v2/${repository}/manifests/v1`, manifest],
      [`${berth.url}/v2/${repository}/blobs/${sha256(layerA)}`, layerA],
      [`${berth.url}/v2/${repository}/blobs/${sha256(layerB)}`, layerB],
    ];
    for (const [i, [url, expected]] of pulls.entries()) {
      const output = `${dir}/pulled-${i}`;
      const pulled = await runCommand('curl', ['-sS', '--http2', '--fail', '--cacert', ca.certPath, '-H', `Accept: ${MediaType.ociManifest}`, '-o', output, '-w', '%{http_version}', url], {
        env: { PATH: systemPath() },
      });
      expect(pulled.code, `${pulled.stderr}\n${berth.logs()}`).toBe(0);
      expect(pulled.stdout).toBe('2');
      expect((await readFile(output)).equals(expected), url).toBe(true);
    }
  });
});

describe('skopeo against berth with --http2', () => {
  // skopeo 1.9 (containers/image) builds its own TLS config without ForceAttemptHTTP2, so Go offers it
  // only http/1.1 through ALPN (checked by hand with the session log at debug level; ctr 1.6 does the
  // same): what this shows is that offering h2 takes nothing away from such clients.
  it('pushes and pulls through a port that offers h2', async () => {
    const berth = await startBerth({ args: tlsArgs() });
    const skopeo = await createSkopeo({ certDir: trustDir });
    try {
      const layout = await writeImageLayout({ dir: scratch.child('src'), layers: 2, seed: 61, tag: 'v1' });
      const pushed = await skopeo.copy(layout.ref, dockerRef(berth.host, 'h2/skopeo', 'v1'), { format: 'oci' });
      expect(pushed.digest).toBe(layout.root.digest);
      const back = scratch.child('back');
      await skopeo.copy(dockerRef(berth.host, 'h2/skopeo', 'v1'), `oci:${back}:v1`);
      const pulled = await readOciLayout(back, 'v1');
      expect(pulled.manifest.equals(layout.root.bytes)).toBe(true);
      for (const [digest, bytes] of layout.blobs) {
        if (digest !== layout.root.digest) expect(pulled.blobs.get(digest)?.equals(bytes), `blob ${digest}`).toBe(true);
      }
    } finally {
      await runEveryStep([() => berth.stop(), () => skopeo.dispose()]);
    }
  });
});

describe('HTTP/2 sessions and the connection bounds', () => {
  it('SIGTERM lets a stream in flight finish its upload, sends GOAWAY, then exits 0', async () => {
    const berth = await startBerth({ args: tlsArgs() });
    let client: Http2Client | undefined;
    try {
      client = await connectHttp2(berth.url, ca.certPem);
      const goaway = new Promise<void>((resolve) => client!.session.once('goaway', () => resolve()));
      const started = await client.request('POST', '/v2/h2/drain/blobs/uploads/');
      expect(started.status).toBe(202);
      const body = textBlob(3, 200_000);
      const { stream, answer } = client.open('PATCH', locationPath(started, berth.url), { 'content-type': 'application/octet-stream' });
      stream.write(body.subarray(0, 100_000));
      // A later stream answered means the server has taken in the PATCH's headers (a session's frames are read in
      // order): the PATCH is in flight, not a stream the GOAWAY would refuse.
      expect((await client.request('GET', '/v2/')).status).toBe(200);

      process.kill(berth.pid, 'SIGTERM');
      await logLine(berth, /finishing in-flight requests/);
      await goaway;
      stream.end(body.subarray(100_000));
      const patched = await answer;
      expect(patched.status, patched.body.toString()).toBe(202);
      expect(patched.headers.range).toBe(`0-${body.length - 1}`);
      expect(await berth.exited).toEqual({ code: 0, signal: null });
    } finally {
      await runEveryStep([() => client?.close(), () => berth.stop()]);
    }
  });

  it('resets a stream whose body stops arriving after the idle timeout; the session and the upload carry on', async () => {
    const berth = await startBerth({ args: [...tlsArgs(), '--idle-timeout', '1'] });
    const client = await connectHttp2(berth.url, ca.certPem);
    try {
      const started = await client.request('POST', '/v2/h2/stall/blobs/uploads/');
      const first = textBlob(4, 10_000);
      const patched = await client.request('PATCH', locationPath(started, berth.url), { 'content-type': 'application/octet-stream' }, first);
      expect(patched.status).toBe(202);
      const upload = locationPath(patched, berth.url);

      // A second PATCH that sends part of its body, then nothing.
      const { stream, answer } = client.open('PATCH', upload, { 'content-type': 'application/octet-stream' });
      stream.write(textBlob(5, 5_000));
      const outcome = await answer.then(
        (response) => `answered ${response.status}`,
        () => `reset with code ${stream.rstCode}`,
      );
      expect(outcome).toBe('reset with code 8'); // NGHTTP2_CANCEL
      await logLine(berth, /resetting an HTTP\/2 stream whose request body stopped arriving/);

      // The same session still serves, and the upload is as the first PATCH left it.
      expect(client.session.closed).toBe(false);
      const status = await client.request('GET', upload);
      expect(status.status, status.body.toString()).toBe(204);
      expect(status.headers.range).toBe(`0-${first.length - 1}`);
    } finally {
      await runEveryStep([() => client.close(), () => berth.stop()]);
    }
  });

  it('closes a session without streams after the keep-alive timeout, with GOAWAY', async () => {
    const berth = await startBerth({ args: [...tlsArgs(), '--keep-alive-timeout', '1'] });
    const client = await connectHttp2(berth.url, ca.certPem);
    try {
      const goaway = new Promise<number>((resolve) => client.session.once('goaway', (code: number) => resolve(code)));
      const closed = new Promise<void>((resolve) => client.session.once('close', () => resolve()));
      expect((await client.request('GET', '/v2/')).status).toBe(200);
      expect(await goaway).toBe(0); // NO_ERROR: a graceful close
      await closed;
    } finally {
      await runEveryStep([() => client.close(), () => berth.stop()]);
    }
  });

  it('counts a session as one connection for --max-connections, whatever its streams', async () => {
    const berth = await startBerth({ args: [...tlsArgs(), '--max-connections', '1'] });
    const client = await connectHttp2(berth.url, ca.certPem);
    try {
      const answers = await Promise.all([1, 2, 3, 4].map(() => client.request('GET', '/v2/')));
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
      const refused = await connectHttp2(berth.url, ca.certPem).then(
        async (second) => {
          await second.close();
          return 'connected';
        },
        () => 'refused',
      );
      expect(refused).toBe('refused');
      expect((await client.request('GET', '/v2/')).status).toBe(200);
    } finally {
      await runEveryStep([() => client.close(), () => berth.stop()]);
    }
  });

  it('resets a download stream whose client stops reading, and closes a connection that never starts TLS', async () => {
    const berth = await startBerth({ args: [...tlsArgs(), '--idle-timeout', '1', '--headers-timeout', '1'] });
    const client = await connectHttp2(berth.url, ca.certPem);
    try {
      // 4 MiB: more than the client's stream window (64 KiB by default) and the socket buffers take in.
      const blob = textBlob(6, 4 * 1024 * 1024);
      const started = await client.request('POST', '/v2/h2/reader/blobs/uploads/');
      const put = await client.request('PUT', withDigest(locationPath(started, berth.url), sha256(blob)), {}, blob);
      expect(put.status, put.body.toString()).toBe(201);

      const { stream, answer } = client.open('GET', `/v2/h2/reader/blobs/${sha256(blob)}`);
      stream.end();
      // No 'data' listener until the answer settles, and paused: the client reads nothing of the body.
      stream.removeAllListeners('data');
      stream.pause();
      const outcome = await answer.then(
        (response) => `answered ${response.status} with ${response.body.length} bytes`,
        () => `reset with code ${stream.rstCode}`,
      );
      expect(outcome).toBe('reset with code 8'); // NGHTTP2_CANCEL
      await logLine(berth, /resetting an HTTP\/2 stream whose client stopped reading the response/);
      expect((await client.request('GET', '/v2/')).status).toBe(200);

      const { hostname, port } = new URL(berth.url);
      const silent = connectTcp(Number(port), hostname);
      silent.on('error', () => undefined);
      await new Promise((resolve) => silent.once('close', resolve));
    } finally {
      await runEveryStep([() => client.close(), () => berth.stop()]);
    }
  });
});
