import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RegistryError, type BlobStore, type MetadataStore } from '@berth/core';
import { openFsBlobStore } from '@berth/blobs-fs';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';
import { createRegistry } from '../src/index.js';

/**
 * What reaches the app's 'error' listeners, and what status a request ends with, when a store is full,
 * when a store fails, and when the client goes away mid-request. Over a real listening server: a client
 * that goes away needs a real socket.
 */
describe('error reporting', () => {
  let dir: string;
  let metadata: MetadataStore;
  let server: Server;
  let port: number;
  let failAppend: Error | undefined;
  const appErrors: unknown[] = [];
  const statuses: number[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-koa-errors-'));
    metadata = await openSqliteMetadataStore({ filename: join(dir, 'berth.sqlite') });
    const real = await openFsBlobStore({ root: join(dir, 'blobs') });
    // The real store, but an append can be made to fail the way the test needs.
    const blobs: BlobStore = {
      stat: (digest) => real.stat(digest),
      open: (digest, range) => real.open(digest, range),
      delete: (digest) => real.delete(digest),
      beginUpload: () => real.beginUpload(),
      uploadState: (id) => real.uploadState(id),
      appendUpload: (id, body, offset) => (failAppend ? Promise.reject(failAppend) : real.appendUpload(id, body, offset)),
      commitUpload: (id, digest) => real.commitUpload(id, digest),
      abortUpload: (id) => real.abortUpload(id),
    };
    failAppend = undefined;
    appErrors.length = 0;
    statuses.length = 0;
    const app = new Koa();
    app.on('error', (error: unknown) => appErrors.push(error));
    // Records the status each request ended with, as an access log would.
    app.use(async (ctx, next) => {
      await next();
      statuses.push(ctx.status);
    });
    const registry = createRegistry({ metadata, blobs });
    app.use(registry.routes()).use(registry.allowedMethods());
    server = createServer(app.callback());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  const base = () => `http://127.0.0.1:${port}`;

  async function startUpload(): Promise<string> {
    const response = await fetch(`${base()}/v2/app/blobs/uploads/`, { method: 'POST' });
    expect(response.status).toBe(202);
    return response.headers.get('location')!;
  }

  it('a full storage: 507 with its code and message, reported once to the error listeners', async () => {
    const full = new RegistryError('UNAVAILABLE', "the registry's storage is full", { status: 507, cause: new Error('ENOSPC') });
    failAppend = full;
    const location = await startUpload();
    const response = await fetch(`${base()}${location}`, { method: 'PATCH', body: Buffer.alloc(10) });
    expect(response.status).toBe(507);
    expect(await response.json()).toEqual({ errors: [{ code: 'UNAVAILABLE', message: "the registry's storage is full" }] });
    expect(appErrors).toEqual([full]);
  });

  it('an unavailable database (503) and the client\'s own errors are answered, not reported', async () => {
    failAppend = new RegistryError('UNAVAILABLE', 'the metadata database is unavailable');
    const location = await startUpload();
    expect((await fetch(`${base()}${location}`, { method: 'PATCH', body: Buffer.alloc(10) })).status).toBe(503);
    expect((await fetch(`${base()}/v2/app/blobs/uploads/not-an-upload`)).status).toBe(404);
    expect(appErrors).toEqual([]);
  });

  it('a fault: 500 UNKNOWN without internals, reported once', async () => {
    const fault = new Error('disk on fire');
    failAppend = fault;
    const location = await startUpload();
    const response = await fetch(`${base()}${location}`, { method: 'PATCH', body: Buffer.alloc(10) });
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain('fire');
    expect(appErrors).toEqual([fault]);
  });

  it('a client gone mid-body: nothing reported by the registry, the request ends as 499', async () => {
    const location = await startUpload();
    statuses.length = 0;
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`PATCH ${location} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n`);
    socket.write(Buffer.alloc(5000));
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    const deadline = Date.now() + 5000;
    while (statuses.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));

    expect(statuses).toEqual([499]);
    // Koa itself still reports the socket's own error (the parser's view of the cut); the registry adds nothing.
    const codes = appErrors.map((error) => (error as { code?: unknown }).code);
    expect(codes.filter((code) => code !== 'HPE_INVALID_EOF_STATE')).toEqual([]);
    // The upload is where it was.
    const status = await fetch(`${base()}${location}`);
    expect(status.headers.get('range')).toBe('0-0');
  });
});
