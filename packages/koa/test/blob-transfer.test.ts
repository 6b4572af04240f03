import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openFsBlobStore } from '@berth/blobs-fs';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';
import type { MetadataStore } from '@berth/core';
import { createRegistry } from '../src/index.js';
import { sha256 } from './support/content.js';

const MiB = 1024 * 1024;

/** Blobs bigger than one send buffer, over a real listening server (client aborts need a real socket). */
describe('blob transfer through reused send buffers', () => {
  let dir: string;
  let metadata: MetadataStore;
  let server: Server;
  let base: string;
  const appErrors: unknown[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-koa-transfer-'));
    metadata = await openSqliteMetadataStore({ filename: join(dir, 'berth.sqlite') });
    const blobs = await openFsBlobStore({ root: join(dir, 'blobs') });
    const app = new Koa();
    app.on('error', (error: unknown) => appErrors.push(error));
    const registry = createRegistry({ metadata, blobs });
    app.use(registry.routes()).use(registry.allowedMethods());
    server = createServer(app.callback());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    appErrors.length = 0;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function push(bytes: Buffer): Promise<string> {
    const digest = sha256(bytes);
    const response = await fetch(`${base}/v2/big/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body: bytes });
    expect(response.status).toBe(201);
    return digest;
  }

  async function download(digest: string, range?: string) {
    const response = await fetch(`${base}/v2/big/app/blobs/${digest}`, range ? { headers: { range } } : {});
    return { response, body: Buffer.from(await response.arrayBuffer()) };
  }

  it('serves a multi-chunk blob byte for byte, whole and by ranges crossing chunk boundaries', async () => {
    const bytes = randomBytes(3 * MiB + 123);
    const digest = await push(bytes);

    const whole = await download(digest);
    expect(whole.response.status).toBe(200);
    expect(whole.response.headers.get('content-length')).toBe(String(bytes.length));
    expect(whole.response.headers.get('docker-content-digest')).toBe(digest);
    expect(Buffer.compare(whole.body, bytes)).toBe(0);

    const start = MiB - 10;
    const end = 2 * MiB + 10;
    const ranged = await download(digest, `bytes=${start}-${end}`);
    expect(ranged.response.status).toBe(206);
    expect(ranged.response.headers.get('content-range')).toBe(`bytes ${start}-${end}/${bytes.length}`);
    expect(Buffer.compare(ranged.body, bytes.subarray(start, end + 1))).toBe(0);
    expect(appErrors).toEqual([]);
  });

  it('serves many clients at once, each its own bytes', async () => {
    const blobs = Array.from({ length: 4 }, (_, i) => randomBytes(MiB + i * 1000));
    const digests = await Promise.all(blobs.map(push));
    const downloads = await Promise.all(Array.from({ length: 24 }, (_, i) => download(digests[i % 4]!)));
    downloads.forEach(({ response, body }, i) => {
      expect(response.status).toBe(200);
      expect(Buffer.compare(body, blobs[i % 4]!)).toBe(0);
    });
  });

  it('serves the empty blob', async () => {
    const digest = await push(Buffer.alloc(0));
    const { response, body } = await download(digest);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe('0');
    expect(body.length).toBe(0);
  });

  it('shrugs off a client that leaves mid-transfer and keeps serving', async () => {
    const bytes = randomBytes(8 * MiB);
    const digest = await push(bytes);
    const request = get(`${base}/v2/big/app/blobs/${digest}`);
    const [response] = (await once(request, 'response')) as [import('node:http').IncomingMessage];
    expect(response.statusCode).toBe(200);
    await once(response, 'data');
    const closed = once(request.socket!, 'close');
    request.destroy();
    await closed;

    const again = await download(digest);
    expect(Buffer.compare(again.body, bytes)).toBe(0);
    // A client going away is not a server fault: nothing beyond the connection reset Koa reports for any response.
    const codes = appErrors.map((error) => (error as { code?: string }).code);
    expect(codes.filter((code) => code !== 'ECONNRESET' && code !== 'EPIPE')).toEqual([]);
  });
});
