// Clients that go away mid-request, on raw sockets: the headers and part of a body, then the
// connection closes (normally, or with a TCP reset). That is not a server error: the log gets one
// info line for the request, with status 499 and the bytes that arrived, and nothing at error level;
// the upload is as it was before the cut chunk, and nothing half-received becomes visible.
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  completeUpload,
  entries,
  getBlob,
  patchChunk,
  pushBlob,
  send,
  sendPartialRequest,
  sha256Digest,
  startUpload,
  uploadOffset,
} from '../support/faults-registry.js';
import { errorLines, requestLines, startFaultServer, type FaultServer, type LogLine } from '../support/faults-server.js';
import { seededRandom } from '../support/random.js';
import { createScratch, type Scratch } from '../support/scratch.js';

let scratch: Scratch;
let server: FaultServer;
let blobRoot: string;

beforeAll(async () => {
  scratch = await createScratch('berth-faults-abort-');
  const dataDir = scratch.child('data');
  blobRoot = join(dataDir, 'blobs');
  server = await startFaultServer(dataDir);
});

afterAll(async () => {
  await server?.stop();
  await scratch?.dispose();
});

function randomBytes(size: number, seed: number): Buffer {
  const next = seededRandom(seed);
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = Math.floor(next() * 256);
  return bytes;
}

/** Waits for the request line of a cut request (status 499) to be written. */
async function cutRequestLogged(method: string, path: string): Promise<void> {
  await server.waitForLine((line) => line['method'] === method && line['url'] === path && line['status'] === 499);
}

/** The request lines of one method and path. */
function linesOf(lines: LogLine[], method: string, path: string): LogLine[] {
  return requestLines(lines).filter((line) => line['method'] === method && line['url'] === path);
}

/** Every line the server wrote while `action` ran. */
async function linesDuring(action: () => Promise<void>): Promise<LogLine[]> {
  const before = server.lines().length;
  await action();
  return server.lines().slice(before);
}

function expectOneInfoLine(lines: LogLine[], sent: number, declared: number): void {
  expect(lines, JSON.stringify(lines)).toHaveLength(1);
  const [line] = lines;
  expect(line).toMatchObject({ level: 30, status: 499, aborted: true, expected: declared });
  expect(line!['msg']).toBe('client closed the connection before the response');
  // A normal close delivers every byte sent before it; a reset may drop what the server had not read yet.
  expect(line!['received']).toBeLessThanOrEqual(sent);
  expect(line!['received']).toBeGreaterThan(0);
}

describe('a client that disconnects mid-request', () => {
  it('PATCH cut after part of a chunk: one info line with the bytes received, the upload still at the last acknowledged offset', async () => {
    const first = randomBytes(300_000, 1);
    const location = await startUpload(server.url, 'abort/patch');
    expect((await patchChunk(server.url, location, first, 0)).status).toBe(202);
    await server.waitForLine((line) => line['method'] === 'PATCH' && line['url'] === location && line['status'] === 202);

    const sent = randomBytes(200_000, 2);
    const lines = await linesDuring(async () => {
      await sendPartialRequest({ port: server.port, method: 'PATCH', path: location, declaredLength: 1_000_000, body: sent, close: 'fin' });
      await cutRequestLogged('PATCH', location);
    });
    const aborted = linesOf(lines, 'PATCH', location);
    expectOneInfoLine(aborted, sent.byteLength, 1_000_000);
    // A normal close: everything sent before it was read.
    expect(aborted[0]!['received']).toBe(sent.byteLength);
    expect(errorLines(lines)).toEqual([]);

    // The cut chunk left nothing: status and disk both say 300000, and the upload continues from there.
    expect(await uploadOffset(server.url, location)).toBe(first.byteLength);
    const id = location.split('/').pop()!;
    expect((await stat(join(blobRoot, 'uploads', id, 'data'))).size).toBe(first.byteLength);
    const rest = randomBytes(100_000, 3);
    expect((await patchChunk(server.url, location, rest, first.byteLength)).status).toBe(202);
    const whole = Buffer.concat([first, rest]);
    expect((await completeUpload(server.url, location, sha256Digest(whole))).status).toBe(201);
    const pulled = await getBlob(server.url, 'abort/patch', sha256Digest(whole));
    expect(sha256Digest(pulled.body)).toBe(sha256Digest(whole));
  });

  it('monolithic POST cut mid-body (TCP reset): one info line, no blob, no upload left behind', async () => {
    const whole = randomBytes(2_000_000, 4);
    const digest = sha256Digest(whole);
    const path = `/v2/abort/mono/blobs/uploads/?digest=${digest}`;
    const lines = await linesDuring(async () => {
      await sendPartialRequest({ port: server.port, method: 'POST', path, declaredLength: whole.byteLength, body: whole.subarray(0, 700_000), close: 'reset' });
      await cutRequestLogged('POST', path);
    });
    expectOneInfoLine(linesOf(lines, 'POST', path), 700_000, whole.byteLength);
    expect(errorLines(lines), JSON.stringify(errorLines(lines))).toEqual([]);

    expect((await send(`${server.url}/v2/abort/mono/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
    expect(await entries(join(blobRoot, 'uploads'))).toEqual([]);
    // The client comes back and pushes it whole.
    expect((await pushBlob(server.url, 'abort/mono', whole)).status).toBe(201);
    expect(sha256Digest((await getBlob(server.url, 'abort/mono', digest)).body)).toBe(digest);
  });

  it('manifest PUT cut mid-body: one info line, nothing stored', async () => {
    const path = '/v2/abort/manifest/manifests/latest';
    const lines = await linesDuring(async () => {
      await sendPartialRequest({ port: server.port, method: 'PUT', path, declaredLength: 5000, body: Buffer.from('{"schemaVersion":2,'), close: 'fin' });
      await cutRequestLogged('PUT', path);
    });
    expectOneInfoLine(linesOf(lines, 'PUT', path), 19, 5000);
    expect(errorLines(lines)).toEqual([]);
    expect((await send(`${server.url}${path}`)).status).toBe(404);
  });

  it('never logged a 500 or an error-level line in this server\'s life', () => {
    const lines = server.lines();
    expect(errorLines(lines)).toEqual([]);
    expect(requestLines(lines).filter((line) => line['status'] === 500)).toEqual([]);
    expect(server.output()).not.toMatch(/HPE_INVALID_EOF_STATE|ECONNRESET/);
  });
});
