// Overload and slow clients, on raw sockets against the built standalone server: half-sent request
// lines, bodies that stop moving and bodies that keep moving slowly, responses nobody reads, a body
// longer than its Content-Length, a Range header with a thousand ranges, and more connections than
// --max-connections. The timeouts are set to a second or two so that each case takes seconds; the
// state is checked afterwards (upload offsets, blob bytes, the log: no error line, no 500).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../support/random.js';
import { BERTH_MAIN, watch } from '../support/servers.js';

interface LogLine {
  level?: number;
  msg?: string;
  method?: string;
  url?: string;
  status?: number;
  [key: string]: unknown;
}

interface Berth {
  url: string;
  port: number;
  /** Every JSON line the server wrote to stdout so far. */
  lines(): LogLine[];
  waitForLine(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  stop(): Promise<void>;
}

/** The built standalone server with every stdout line kept (the request log is what the tests check). */
async function startServer(args: string[]): Promise<Berth> {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-overload-'));
  const child = spawn(process.execPath, [BERTH_MAIN, '--host', '127.0.0.1', '--port', '0', '--data', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      // The "listening on" line.
    }
  });
  const watched = watch(child, 'berth');
  try {
    const url = await watched.waitForLine((line) => /listening on (http:\/\/[^\s"']+)/.exec(line)?.[1]);
    return {
      url,
      port: Number(new URL(url).port),
      lines: () => lines,
      waitForLine: async (match, timeoutMs = 10_000) => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const found = lines.find(match);
          if (found) return found;
          if (Date.now() > deadline) throw new Error(`no such log line within ${timeoutMs} ms:\n${watched.logs()}`);
          await sleep(50);
        }
      },
      stop: async () => {
        await watched.stop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await watched.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** Nothing at error level and no 500 in the log: every case here is the client's doing. */
function expectCleanLog(server: Berth): void {
  const bad = server.lines().filter((line) => (line.level ?? 0) >= 50 || (typeof line.status === 'number' && line.status >= 500));
  expect(bad).toEqual([]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function randomBytes(size: number, seed: number): Buffer {
  const next = seededRandom(seed);
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = Math.floor(next() * 256);
  return bytes;
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A raw TCP connection to the server: what it received, and when and how it ended. */
class Connection {
  readonly socket: Socket;
  readonly opened = Date.now();
  #received: Buffer[] = [];
  /** Resolves when the socket is closed, with the milliseconds since it was opened. */
  readonly closed: Promise<number>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#received.push(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve(Date.now() - this.opened)));
  }

  static open(port: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(new Connection(socket)));
      socket.once('error', reject);
    });
  }

  get text(): string {
    return Buffer.concat(this.#received).toString('latin1');
  }

  /** The status codes of the responses received so far, in order. */
  get statuses(): number[] {
    return [...this.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => Number(match[1]));
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (error) => (error ? reject(error) : resolve())));
  }

  async waitFor(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out; received so far: ${this.text.slice(0, 500)}`);
      await sleep(20);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

function requestHead(method: string, path: string, port: number, headers: Record<string, string> = {}): string {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

async function startUpload(server: Berth, repository: string): Promise<string> {
  const response = await fetch(`${server.url}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  expect(response.status).toBe(202);
  return response.headers.get('location')!;
}

async function patch(server: Berth, location: string, bytes: Buffer, start: number): Promise<Response> {
  return fetch(new URL(location, server.url), {
    method: 'PATCH',
    headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + bytes.length - 1}` },
    body: bytes,
  });
}

/** The upload's size as the server reports it (its `Range` is `0-<last byte>`). */
async function uploadedBytes(server: Berth, location: string): Promise<number> {
  const response = await fetch(new URL(location, server.url));
  expect(response.status).toBe(204);
  return Number(/^0-(\d+)$/.exec(response.headers.get('range') ?? '')?.[1]) + 1;
}

async function blobBytes(server: Berth, repository: string, digest: string): Promise<Buffer> {
  const response = await fetch(`${server.url}/v2/${repository}/blobs/${digest}`);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

describe('slow clients (idle timeout 1 s)', () => {
  let server: Berth;
  beforeAll(async () => {
    server = await startServer(['--idle-timeout', '1', '--headers-timeout', '10s', '--keep-alive-timeout', '5']);
  });
  afterAll(async () => server?.stop());

  it('lets a slow but moving upload run past the idle timeout: 1 byte every 50 ms for 3 s', async () => {
    const bytes = randomBytes(60, 1);
    const location = await startUpload(server, 'slow/moving');
    const connection = await Connection.open(server.port);
    const started = Date.now();
    await connection.write(
      requestHead('PATCH', location, server.port, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) }),
    );
    for (const byte of bytes) {
      await sleep(50);
      await connection.write(Buffer.from([byte]));
    }
    await connection.waitFor(() => connection.text.includes('\r\n\r\n'));
    expect(Date.now() - started).toBeGreaterThan(2_500);
    expect(connection.statuses).toEqual([202]);
    expect(connection.text).toMatch(/\r\nRange: 0-59\r\n/i);
    connection.close();

    const digest = sha256(bytes);
    const done = await fetch(new URL(`${location}?digest=${digest}`, server.url), { method: 'PUT' });
    expect(done.status).toBe(201);
    expect(Buffer.compare(await blobBytes(server, 'slow/moving', digest), bytes)).toBe(0);
  });

  it('cuts a PATCH whose body stops moving, and the upload stays as it was before it', async () => {
    const first = randomBytes(1_000, 2);
    const rest = randomBytes(3_000, 3);
    const location = await startUpload(server, 'slow/stalled');
    expect((await patch(server, location, first, 0)).status).toBe(202);

    const connection = await Connection.open(server.port);
    await connection.write(
      requestHead('PATCH', location, server.port, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(rest.length),
        'Content-Range': `1000-${1000 + rest.length - 1}`,
      }),
    );
    await connection.write(rest.subarray(0, 500));
    // Nothing more: the server closes the connection about a second later.
    const closedAfter = await connection.closed;
    expect(closedAfter).toBeGreaterThan(900);
    expect(closedAfter).toBeLessThan(5_000);
    expect(connection.statuses).toEqual([]);

    await server.waitForLine((line) => line.method === 'PATCH' && line.url === location && line.status === 499);
    expect(await uploadedBytes(server, location)).toBe(1_000);
    // The client can send the chunk again and finish.
    expect((await patch(server, location, rest, 1_000)).status).toBe(202);
    const whole = Buffer.concat([first, rest]);
    const done = await fetch(new URL(`${location}?digest=${sha256(whole)}`, server.url), { method: 'PUT' });
    expect(done.status).toBe(201);
    expect(Buffer.compare(await blobBytes(server, 'slow/stalled', sha256(whole)), whole)).toBe(0);
  });

  it('cuts a monolithic PUT whose body stops moving, and nothing is stored', async () => {
    const bytes = randomBytes(5_000, 4);
    const digest = sha256(bytes);
    const connection = await Connection.open(server.port);
    await connection.write(
      requestHead('POST', `/v2/slow/monolithic/blobs/uploads/?digest=${digest}`, server.port, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(bytes.length),
      }),
    );
    await connection.write(bytes.subarray(0, 2_000));
    const closedAfter = await connection.closed;
    expect(closedAfter).toBeLessThan(5_000);
    expect(connection.statuses).toEqual([]);
    expect((await fetch(`${server.url}/v2/slow/monolithic/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
  });

  it('closes a connection whose client stops reading a download', async () => {
    const bytes = randomBytes(32 * 1024 * 1024, 5);
    const digest = sha256(bytes);
    const pushed = await fetch(`${server.url}/v2/slow/download/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes });
    expect(pushed.status).toBe(201);

    const connection = await Connection.open(server.port);
    connection.socket.pause();
    await connection.write(requestHead('GET', `/v2/slow/download/blobs/${digest}`, server.port));
    const cut = await server.waitForLine((line) => line.msg === 'closing a connection whose client stopped reading the response', 10_000);
    expect(cut.url).toBe(`/v2/slow/download/blobs/${digest}`);
    connection.close();
  });

  it('closes kept-alive connections after the keep-alive timeout, silent ones after the idle timeout', async () => {
    const silent = await Connection.open(server.port);
    const kept = await Connection.open(server.port);
    await kept.write(requestHead('GET', '/v2/', server.port));
    await kept.waitFor(() => kept.statuses.length === 1);
    expect(await silent.closed).toBeLessThan(4_000);
    // Kept alive for 5 s (between requests the keep-alive timeout applies, not the idle one).
    const keptFor = await kept.closed;
    expect(keptFor).toBeGreaterThan(4_500);
    expect(keptFor).toBeLessThan(8_000);
  });

  it('logged no error and no 500', () => {
    expectCleanLog(server);
  });
});

describe('half-sent request lines (headers timeout 1 s)', () => {
  let server: Berth;
  beforeAll(async () => {
    server = await startServer(['--headers-timeout', '1', '--idle-timeout', '30']);
  });
  afterAll(async () => server?.stop());

  it('answers 200 connections that send `GET /v2/ HT` with 408 and closes them, serving others meanwhile', async () => {
    const stalled = await Promise.all(Array.from({ length: 200 }, () => Connection.open(server.port)));
    await Promise.all(stalled.map((connection) => connection.write('GET /v2/ HT')));

    // Meanwhile the server answers everyone else at once.
    const answered: number[] = [];
    const polling = (async () => {
      for (let i = 0; i < 10; i++) {
        const started = Date.now();
        const response = await fetch(`${server.url}/v2/`, { signal: AbortSignal.timeout(2_000) });
        expect(response.status).toBe(200);
        answered.push(Date.now() - started);
        await sleep(100);
      }
    })();

    const closedAfter = await Promise.all(stalled.map((connection) => connection.closed));
    await polling;
    expect(Math.min(...closedAfter)).toBeGreaterThanOrEqual(900);
    expect(Math.max(...closedAfter)).toBeLessThan(4_000);
    for (const connection of stalled) expect(connection.statuses).toEqual([408]);
    expect(Math.max(...answered)).toBeLessThan(1_000);
  });

  it('logged no error and no 500', () => {
    expectCleanLog(server);
  });
});

describe('malformed requests', () => {
  let server: Berth;
  beforeAll(async () => {
    server = await startServer(['--headers-timeout', '5', '--idle-timeout', '5']);
  });
  afterAll(async () => server?.stop());

  // Bytes that cannot start a request: the parser fails on them at once.
  const extra = Buffer.concat([Buffer.from([0x00, 0x01, 0x02]), randomBytes(997, 6)]);

  it('answers a monolithic PUT whose body is longer than its Content-Length, stores exactly Content-Length bytes, then 400', async () => {
    const bytes = randomBytes(10_000, 7);
    const digest = sha256(bytes);
    const location = await startUpload(server, 'long/put');
    const connection = await Connection.open(server.port);
    await connection.write(
      Buffer.concat([
        Buffer.from(
          requestHead('PUT', `${location}?digest=${digest}`, server.port, {
            'Content-Type': 'application/octet-stream',
            'Content-Length': String(bytes.length),
          }),
        ),
        bytes,
        extra,
      ]),
    );
    await connection.closed;
    expect(connection.statuses).toEqual([201, 400]);
    expect(Buffer.compare(await blobBytes(server, 'long/put', digest), bytes)).toBe(0);
  });

  it('answers a PATCH whose body is longer than its Content-Length with 202 for the declared bytes, then 400', async () => {
    const bytes = randomBytes(4_000, 8);
    const location = await startUpload(server, 'long/patch');
    const connection = await Connection.open(server.port);
    await connection.write(
      Buffer.concat([
        Buffer.from(
          requestHead('PATCH', location, server.port, {
            'Content-Type': 'application/octet-stream',
            'Content-Length': String(bytes.length),
          }),
        ),
        bytes,
        extra,
      ]),
    );
    await connection.closed;
    expect(connection.statuses).toEqual([202, 400]);
    expect(connection.text).toMatch(/\r\nRange: 0-3999\r\n/i);
    expect(await uploadedBytes(server, location)).toBe(4_000);
    const done = await fetch(new URL(`${location}?digest=${sha256(bytes)}`, server.url), { method: 'PUT' });
    expect(done.status).toBe(201);
  });

  it('answers a GET with a Range header of 1,000 ranges with 416 and the JSON error, one range with 206', async () => {
    const bytes = randomBytes(5_000, 9);
    const digest = sha256(bytes);
    expect((await fetch(`${server.url}/v2/ranges/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes })).status).toBe(201);
    const ranges = `bytes=${Array.from({ length: 1_000 }, (_, i) => `${i * 5}-${i * 5 + 1}`).join(',')}`;
    const refused = await fetch(`${server.url}/v2/ranges/blobs/${digest}`, { headers: { range: ranges } });
    expect(refused.status).toBe(416);
    expect(refused.headers.get('content-range')).toBe('bytes */5000');
    const body = (await refused.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]?.code).toBe('UNSUPPORTED');
    const one = await fetch(`${server.url}/v2/ranges/blobs/${digest}`, { headers: { range: 'bytes=10-19' } });
    expect(one.status).toBe(206);
    expect(Buffer.compare(Buffer.from(await one.arrayBuffer()), bytes.subarray(10, 20))).toBe(0);
  });

  it('logged no error and no 500', () => {
    expectCleanLog(server);
  });
});

describe('--max-connections 20', () => {
  let server: Berth;
  beforeAll(async () => {
    server = await startServer(['--max-connections', '20', '--keep-alive-timeout', '30', '--idle-timeout', '30']);
  });
  afterAll(async () => server?.stop());

  it('closes connections beyond the bound at once and keeps serving the ones it has', async () => {
    const kept = await Promise.all(Array.from({ length: 20 }, () => Connection.open(server.port)));
    for (const connection of kept) {
      await connection.write(requestHead('GET', '/v2/', server.port));
      await connection.waitFor(() => connection.statuses.length === 1);
    }

    const refused = await Promise.all(Array.from({ length: 10 }, () => Connection.open(server.port)));
    await Promise.all(refused.map((connection) => connection.write(requestHead('GET', '/v2/', server.port)).catch(() => undefined)));
    const refusedAfter = await Promise.all(refused.map((connection) => connection.closed));
    expect(Math.max(...refusedAfter)).toBeLessThan(1_000);
    for (const connection of refused) expect(connection.text).toBe('');
    await server.waitForLine((line) => line.msg?.startsWith('connection limit reached') === true);

    // The connections it has are served as before.
    for (const connection of kept) {
      await connection.write(requestHead('GET', '/v2/', server.port));
      await connection.waitFor(() => connection.statuses.length === 2);
      expect(connection.statuses).toEqual([200, 200]);
    }

    // Room again once some go.
    for (const connection of kept.slice(0, 5)) connection.close();
    await Promise.all(kept.slice(0, 5).map((connection) => connection.closed));
    // The server counts them gone once it has seen them close: give it a moment.
    let again: Connection | undefined;
    for (let attempt = 0; attempt < 20 && again === undefined; attempt++) {
      await sleep(100);
      const candidate = await Connection.open(server.port);
      await candidate.write(requestHead('GET', '/v2/', server.port)).catch(() => undefined);
      await Promise.race([candidate.closed, candidate.waitFor(() => candidate.statuses.length === 1, 2_000).catch(() => undefined)]);
      if (candidate.statuses.length === 1) again = candidate;
      else candidate.close();
    }
    expect(again?.statuses).toEqual([200]);
    for (const connection of [...kept.slice(5), again!]) connection.close();
  });

  it('logged no error and no 500', () => {
    expectCleanLog(server);
  });
});
