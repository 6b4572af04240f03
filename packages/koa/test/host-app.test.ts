import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bodyParser } from '@koa/bodyparser';
import Koa from 'koa';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BlobStore, MetadataStore } from '@berth/core';
import { openFsBlobStore, type FsBlobStore } from '@berth/blobs-fs';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';
import { BODY_ALREADY_READ, createRegistry, type ErrorLog, type Registry } from '../src/index.js';
import { OCI_MANIFEST, expectError, pushImage, sha256 } from './support/content.js';

/**
 * berth inside host apps: what `registry.callback()` does with the errors of its requests, the 405 and
 * 501 answers of `allowedMethods()`, and a body parser (the real @koa/bodyparser) mounted in front of
 * the registry.
 */
describe('in a host app', () => {
  let dir: string;
  let metadata: MetadataStore;
  let fsBlobs: FsBlobStore;
  let registry: Registry;
  /** When set, the blob store's stat fails with it (a fault the registry cannot answer but with a 500). */
  let statFault: Error | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-host-app-'));
    metadata = await openSqliteMetadataStore({ filename: join(dir, 'berth.sqlite') });
    fsBlobs = await openFsBlobStore({ root: join(dir, 'blobs') });
    // The real store; only stat can be made to fail.
    const blobs: BlobStore = {
      stat: (digest) => (statFault ? Promise.reject(statFault) : fsBlobs.stat(digest)),
      open: (digest, range) => fsBlobs.open(digest, range),
      openReader: (digest, range) => fsBlobs.openReader(digest, range),
      delete: (digest) => fsBlobs.delete(digest),
      beginUpload: () => fsBlobs.beginUpload(),
      uploadState: (id) => fsBlobs.uploadState(id),
      appendUpload: (id, body, offset) => fsBlobs.appendUpload(id, body, offset),
      commitUpload: (id, digest) => fsBlobs.commitUpload(id, digest),
      abortUpload: (id) => fsBlobs.abortUpload(id),
    };
    statFault = undefined;
    registry = createRegistry({ metadata, blobs });
  });

  afterEach(async () => {
    await registry.close();
    await fsBlobs.close();
    await metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** An ErrorLog that keeps what it is given. */
  function recordingLog(): ErrorLog & { lines: Array<{ fields: Record<string, unknown>; message: string }> } {
    const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
    return { lines, error: (fields, message) => lines.push({ fields: fields as Record<string, unknown>, message }) };
  }

  describe('errors of callback()', () => {
    it('go to the log the host passes, once per failing request, with the request', async () => {
      const log = recordingLog();
      const http = request(registry.callback({ log }));
      const digest = await pushBlobThrough(http);
      statFault = new Error('disk on fire');

      const response = await http.head(`/v2/team/app/blobs/${digest}`);
      expect(response.status).toBe(500);
      expect(log.lines).toEqual([{ fields: { err: statFault, method: 'HEAD', url: `/v2/team/app/blobs/${digest}` }, message: 'registry request failed' }]);
    });

    it('the client\'s own errors are answered, not logged', async () => {
      const log = recordingLog();
      const http = request(registry.callback({ log }));
      expectError(await http.get(`/v2/team/app/blobs/${sha256('absent')}`), 404, 'BLOB_UNKNOWN');
      expectError(await http.get('/v2/team/app/nothing-here'), 404, 'UNSUPPORTED');
      expectError(await http.post('/v2/team/app/blobs/uploads/?digest=sha256:nothex').send('x'), 400, 'DIGEST_INVALID');
      expect(log.lines).toEqual([]);
    });

    it('go to stderr without a log', async () => {
      const printed: unknown[][] = [];
      const spy = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void printed.push(args));
      try {
        const http = request(registry.callback());
        const digest = await pushBlobThrough(http);
        statFault = new Error('disk on fire');
        expect((await http.get(`/v2/team/app/blobs/${digest}`)).status).toBe(500);
      } finally {
        spy.mockRestore();
      }
      expect(printed).toEqual([['berth: registry request failed', { method: 'GET', url: expect.stringContaining('/blobs/') }, statFault]]);
    });
  });

  describe('allowedMethods()', () => {
    let http: ReturnType<typeof request>;
    beforeEach(() => {
      const app = new Koa();
      app.use(registry.routes()).use(registry.allowedMethods());
      http = request(app.callback());
    });

    it('answers a known path asked with another method 405, with Allow and the JSON error body', async () => {
      const response = await http.put(`/v2/team/app/blobs/${sha256('x')}`).send('x');
      expectError(response, 405, 'UNSUPPORTED');
      expect(response.headers['allow']).toBe('HEAD, GET, DELETE');
      expect(response.body).toEqual({ errors: [{ code: 'UNSUPPORTED', message: 'PUT is not allowed here (allowed: HEAD, GET, DELETE)' }] });

      const tags = await http.delete('/v2/team/app/tags/list');
      expectError(tags, 405, 'UNSUPPORTED');
      expect(tags.headers['allow']).toBe('HEAD, GET');
    });

    it('answers a method the registry does not implement 501, in the same format', async () => {
      const response = await http.propfind(`/v2/team/app/blobs/${sha256('x')}`);
      expectError(response, 501, 'UNSUPPORTED');
      expect(response.body.errors[0].message).toBe('the registry does not implement PROPFIND');
    });

    it('still answers OPTIONS with the methods allowed, and leaves allowed methods alone', async () => {
      const options = await http.options(`/v2/team/app/blobs/${sha256('x')}`).expect(200);
      expect(options.headers['allow']).toBe('HEAD, GET, DELETE');
      expectError(await http.get(`/v2/team/app/blobs/${sha256('x')}`), 404, 'BLOB_UNKNOWN');
    });
  });

  describe('behind a body parser', () => {
    let http: ReturnType<typeof request>;
    const reported: unknown[] = [];
    beforeEach(() => {
      reported.length = 0;
      const app = new Koa();
      app.on('error', (error: unknown) => reported.push(error));
      // The mistake this guards against: the host's JSON parser in front of everything.
      app.use(bodyParser());
      app.use(registry.routes()).use(registry.allowedMethods());
      http = request(app.callback());
    });

    /** The refusal of a request whose body the parser took: a 500 naming the cause, reported to the host. */
    function expectBodyAlreadyRead(response: request.Response): void {
      expectError(response, 500, 'UNKNOWN');
      expect(response.body.errors[0].message).toMatch(/^the request body was read by a body parser \(ctx\.request\.body is set\) before the registry/);
      expect(response.body.errors[0].detail).toEqual({ reason: BODY_ALREADY_READ });
      expect(reported).toHaveLength(1);
      reported.length = 0;
    }

    it('refuses a JSON blob it parsed, naming the body parser, never as a digest mismatch, and stores nothing', async () => {
      // A string: superagent would JSON-encode a Buffer sent as application/json.
      const json = '{"architecture":"amd64","os":"linux"}';
      const digest = sha256(json);
      expectBodyAlreadyRead(await http.post(`/v2/team/app/blobs/uploads/?digest=${digest}`).set('Content-Type', 'application/json').send(json));

      const started = await http.post('/v2/team/app/blobs/uploads/').expect(202);
      const location = started.headers['location'] as string;
      expectBodyAlreadyRead(await http.patch(location).set('Content-Type', 'application/json').send(json));
      expect((await http.get(location).expect(204)).headers['range']).toBe('0-0');
      expectBodyAlreadyRead(await http.put(`${location}?digest=${digest}`).set('Content-Type', 'application/json').send(json));

      expectError(await http.head(`/v2/team/app/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    });

    it('refuses a manifest sent as application/json the same way', async () => {
      const image = await pushImage(http, 'team/app', 'v1');
      expectBodyAlreadyRead(await http.put('/v2/team/app/manifests/v2').set('Content-Type', 'application/json').send(image.body));
      expectError(await http.get('/v2/team/app/manifests/v2'), 404, 'MANIFEST_UNKNOWN');
    });

    it('lets through the bodies it does not parse (it sets ctx.request.body to {} and leaves the stream alone)', async () => {
      // pushImage sends blobs as application/octet-stream and the manifest under its OCI type.
      const image = await pushImage(http, 'team/app', 'v1');
      expect((await http.get('/v2/team/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200)).headers['docker-content-digest']).toBe(image.digest);
      expect(reported).toEqual([]);
    });
  });

  it('mounted before the body parser, the registry gets every body, JSON ones too', async () => {
    const app = new Koa();
    app.use(registry.routes()).use(registry.allowedMethods());
    app.use(bodyParser());
    app.use((ctx) => {
      ctx.body = { echoed: ctx.request.body };
    });
    const http = request(app.callback());
    const json = '{"a":1}';
    await http.post(`/v2/team/app/blobs/uploads/?digest=${sha256(json)}`).set('Content-Type', 'application/json').send(json).expect(201);
    expect((await http.post('/api/echo').send({ a: 1 }).expect(200)).body).toEqual({ echoed: { a: 1 } });
  });
});

/** Pushes a small blob in one request and returns its digest. */
async function pushBlobThrough(http: ReturnType<typeof request>): Promise<string> {
  const bytes = Buffer.from('some layer bytes');
  const digest = sha256(bytes);
  await http.post(`/v2/team/app/blobs/uploads/?digest=${digest}`).set('Content-Type', 'application/octet-stream').send(bytes).expect(201);
  return digest;
}
