// Health endpoints, Prometheus metrics, request ids and negotiation outcomes of @berth/koa, on real
// stores (SQLite and the filesystem) through a real Koa app, read back through /metrics with a strict
// text-format parser.
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Koa from 'koa';
import request from 'supertest';
import { Registry as PromRegistry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MissingBlobError } from '../src/index.js';
import { parsePrometheusText, sampleSum, type MetricFamily } from '../../../test/support/prometheus-text.js';
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_MANIFEST, expectError, pushBlob, pushImage, sha256 } from './support/content.js';
import { metadataFactories, openRegistry, type RegistryUnderTest } from './support/registry-under-test.js';

const SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

/** A schema2 image whose config matches its layer, so it converts to schema1; returns its digest. */
async function pushSchema2(http: ReturnType<typeof request>, repository: string, tag: string): Promise<string> {
  const layer = await pushBlob(http, repository, randomBytes(40));
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [sha256(randomBytes(8))] },
    history: [{ created: '2024-01-02T03:04:05Z', created_by: '/bin/sh -c #(nop) ADD file in /' }],
  });
  const configDigest = await pushBlob(http, repository, Buffer.from(config));
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: layer, size: 40 }],
  });
  await http.put(`/v2/${repository}/manifests/${tag}`).set('Content-Type', DOCKER_MANIFEST).send(body).expect(201);
  return sha256(body);
}

interface Observed {
  t: RegistryUnderTest;
  http: ReturnType<typeof request>;
  app: Koa;
  /** What the app's error listeners heard, with the request they came from. */
  reported: Array<{ error: unknown; url: string | undefined }>;
  metrics(): Promise<Map<string, MetricFamily>>;
}

/** The registry mounted as the README shows: health first, then /metrics, then the registry's routes. */
async function observedRegistry(options: Parameters<typeof openRegistry>[1] = {}): Promise<Observed> {
  const t = await openRegistry(metadataFactories['sqlite']!, options);
  const app = new Koa();
  const reported: Observed['reported'] = [];
  app.on('error', (error: unknown, ctx?: Koa.Context) => reported.push({ error, url: ctx?.url }));
  app.use(t.registry.health());
  if (t.registry.metrics) app.use(t.registry.metricsMiddleware());
  app.use(t.registry.routes()).use(t.registry.allowedMethods());
  const http = request(app.callback());
  return {
    t,
    http,
    app,
    reported,
    async metrics() {
      const response = await http.get('/metrics').expect(200);
      expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      return parsePrometheusText(response.text);
    },
  };
}

describe('request ids', () => {
  let o: Observed;
  beforeEach(async () => {
    o = await observedRegistry();
  });
  afterEach(() => o.t.close());

  it('gives every registry response an X-Request-Id of 16 hex characters, errors included, each its own', async () => {
    const ok = await o.http.get('/v2/').expect(200);
    const unknownManifest = await o.http.get('/v2/app/manifests/nope').expect(404);
    const unknownEndpoint = await o.http.get('/v2/app/nothing-here').expect(404);
    const wrongMethod = await o.http.patch('/v2/app/manifests/latest').expect(405);
    const ids = [ok, unknownManifest, unknownEndpoint, wrongMethod].map((response) => response.headers['x-request-id']);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('keeps an acceptable incoming X-Request-Id and replaces any other', async () => {
    const kept = 'lb-7f3a:2026.12.01_ab-CD';
    expect((await o.http.get('/v2/').set('X-Request-Id', kept)).headers['x-request-id']).toBe(kept);
    const longest = 'a'.repeat(128);
    expect((await o.http.get('/v2/').set('X-Request-Id', longest)).headers['x-request-id']).toBe(longest);
    for (const refused of ['a'.repeat(129), 'has space', 'quote"d', 'new\\nline', '{json}', 'ümlaut']) {
      const id = (await o.http.get('/v2/').set('X-Request-Id', refused)).headers['x-request-id'];
      expect(id, refused).toMatch(/^[0-9a-f]{16}$/);
    }
  });

  it('leaves requests outside /v2 alone', async () => {
    const response = await o.http.get('/elsewhere').expect(404);
    expect(response.headers['x-request-id']).toBeUndefined();
  });

  it('puts the id and the negotiation outcome in ctx.state for the host (its request log)', async () => {
    const seen: Array<{ requestId: unknown; negotiation: unknown }> = [];
    const app = new Koa();
    app.use(async (ctx, next) => {
      await next();
      seen.push({ requestId: ctx.state['requestId'], negotiation: ctx.state['negotiation'] });
    });
    app.use(o.t.registry.routes()).use(o.t.registry.allowedMethods());
    const http = request(app.callback());
    const image = await pushImage(http, 'app', 'latest');
    await pushSchema2(http, 'app', 'v2');
    seen.length = 0;
    const stored = await http.get('/v2/app/manifests/latest').set('Accept', OCI_MANIFEST).expect(200);
    await http.head('/v2/app/manifests/latest').set('Accept', DOCKER_MANIFEST).expect(200);
    await http.get('/v2/app/manifests/v2').set('Accept', SCHEMA1).expect(200);
    await http.get(`/v2/app/manifests/${image.digest}`).expect(200);
    await http.get('/v2/app/manifests/missing').expect(404);
    expect(seen).toEqual([
      { requestId: stored.headers['x-request-id'], negotiation: 'stored' },
      { requestId: expect.stringMatching(/^[0-9a-f]{16}$/), negotiation: 'schema2' },
      { requestId: expect.stringMatching(/^[0-9a-f]{16}$/), negotiation: 'schema1' },
      { requestId: expect.stringMatching(/^[0-9a-f]{16}$/), negotiation: 'stored' },
      // No manifest at all is not a negotiation.
      { requestId: expect.stringMatching(/^[0-9a-f]{16}$/), negotiation: undefined },
    ]);
  });
});

describe('health endpoints', () => {
  let o: Observed;
  beforeEach(async () => {
    o = await observedRegistry({
      // A registry whose sign-in refuses everyone: health is never behind it.
      authorize: (ctx) => ctx.throw(401, 'no'),
    });
  });
  afterEach(() => o.t.close());

  it('answers /healthz and /readyz (GET and HEAD) outside the registry and its sign-in', async () => {
    await o.http.get('/v2/').expect(401);
    const live = await o.http.get('/healthz').expect(200);
    expect(live.body).toEqual({ status: 'ok' });
    expect(live.headers['cache-control']).toBe('no-store');
    const ready = await o.http.get('/readyz').expect(200);
    expect(ready.body).toEqual({ status: 'ready', checks: { metadata: 'ok', blobs: 'ok' } });
    await o.http.head('/readyz').expect(200);
    await o.http.head('/healthz').expect(200);
    // Another method, or another host, is the app's business.
    await o.http.post('/readyz').expect(404);
    expect((await o.http.get('/readyz').set('Host', 'elsewhere.example')).status).toBe(200);
  });

  it('answers 503 naming the blob store when its directory is gone', async () => {
    await rm(join(o.t.dir, 'blobs'), { recursive: true });
    const response = await o.http.get('/readyz').expect(503);
    expect(response.body).toEqual({ status: 'unavailable', checks: { metadata: 'ok', blobs: 'unreachable: ENOENT' } });
    expect(JSON.stringify(response.body)).not.toContain(o.t.dir);
    await o.http.head('/readyz').expect(503);
    await o.http.get('/healthz').expect(200);
  });

  it('answers 503 naming the metadata store once it is closed', async () => {
    await o.t.metadata.close();
    const response = await o.http.get('/readyz').expect(503);
    expect(response.body.status).toBe('unavailable');
    expect(response.body.checks.blobs).toBe('ok');
    expect(response.body.checks.metadata).toMatch(/^unreachable/);
  });

  it('answers 503 draining, without asking the stores, while the host says it drains', async () => {
    let draining = false;
    const http = request(new Koa().use(o.t.registry.health({ draining: () => draining })).callback());
    await http.get('/readyz').expect(200);
    draining = true;
    // A closed store would read as unavailable: draining is said before any store is asked.
    await o.t.metadata.close();
    const response = await http.get('/readyz').expect(503);
    expect(response.body).toEqual({ status: 'draining', checks: { metadata: 'not checked', blobs: 'not checked' } });
    await http.get('/healthz').expect(200);
  });

  it('falls back to a read for stores without ping()', async () => {
    const withoutPing = <T extends object>(store: T): T =>
      new Proxy(store, {
        get: (target, property) => {
          if (property === 'ping') return undefined;
          const value = Reflect.get(target, property, target) as unknown;
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    const metadata = withoutPing(o.t.metadata);
    const blobs = withoutPing(o.t.blobs);
    expect(metadata.ping).toBeUndefined();
    const { createRegistry } = await import('../src/index.js');
    const registry = createRegistry({ metadata, blobs, metrics: false });
    const app = new Koa().use(registry.health());
    const http = request(app.callback());
    await http.get('/readyz').expect(200);
    await rm(join(o.t.dir, 'blobs'), { recursive: true });
    await o.t.metadata.close();
    // stat of a missing blob is no failure, so without ping a removed directory reads as empty: only the database shows.
    const response = await http.get('/readyz').expect(503);
    expect(response.body.checks.metadata).toMatch(/^unreachable/);
  });
});

describe('metrics', () => {
  let o: Observed;
  beforeEach(async () => {
    o = await observedRegistry();
  });
  afterEach(() => o.t.close());

  it('counts requests by route template, method and status, never by raw path, with bytes each way', async () => {
    const blob = randomBytes(3000);
    const digest = await pushBlob(o.http, 'team/app', blob);
    await o.http.get(`/v2/team/app/blobs/${digest}`).expect(200);
    await o.http.get(`/v2/team/app/blobs/${digest}`).expect(200);
    await o.http.head(`/v2/team/app/blobs/${digest}`).expect(200);
    await o.http.get(`/v2/other/blobs/${digest}`).expect(404);
    await o.http.get('/v2/nowhere/at/all').expect(404);

    const families = await o.metrics();
    const blobRoute = '/v2/*name/blobs/:digest';
    expect(sampleSum(families, 'berth_http_requests_total', { route: blobRoute, method: 'GET', status: '200' })).toBe(2);
    expect(sampleSum(families, 'berth_http_requests_total', { route: blobRoute, method: 'HEAD', status: '200' })).toBe(1);
    expect(sampleSum(families, 'berth_http_requests_total', { route: blobRoute, method: 'GET', status: '404' })).toBe(1);
    expect(sampleSum(families, 'berth_http_requests_total', { route: '/v2/*name/blobs/uploads', method: 'POST', status: '201' })).toBe(1);
    expect(sampleSum(families, 'berth_http_requests_total', { route: 'unmatched', status: '404' })).toBe(1);
    const routes = new Set(families.get('berth_http_requests_total')!.samples.map((sample) => sample.labels['route']));
    for (const route of routes) expect(route).not.toMatch(/team|nowhere|sha256/);

    expect(sampleSum(families, 'berth_http_received_bytes_total', { route: '/v2/*name/blobs/uploads', method: 'POST' })).toBe(blob.length);
    // Two whole blobs sent; a HEAD sends none.
    expect(sampleSum(families, 'berth_http_sent_bytes_total', { route: blobRoute, method: 'GET' })).toBeGreaterThanOrEqual(2 * blob.length);
    expect(sampleSum(families, 'berth_http_sent_bytes_total', { route: blobRoute, method: 'HEAD' })).toBe(0);
    expect(sampleSum(families, 'berth_http_request_duration_seconds_count', { route: blobRoute, method: 'GET' })).toBe(3);
    expect(sampleSum(families, 'berth_blob_uploads_total')).toBe(1);
    expect(sampleSum(families, 'berth_blob_upload_bytes_total')).toBe(blob.length);
    // Default process metrics, under the same prefix.
    expect(families.get('berth_process_cpu_seconds_total')?.type).toBe('counter');
    expect(families.get('berth_nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
  });

  it('counts manifests by negotiation outcome, and conversion cache hits and misses', async () => {
    const image = await pushImage(o.http, 'app', 'latest');
    await pushSchema2(o.http, 'app', 'v2');
    await o.http.get('/v2/app/manifests/latest').set('Accept', OCI_MANIFEST).expect(200);
    await o.http.get(`/v2/app/manifests/${image.digest}`).expect(200);
    await o.http.get('/v2/app/manifests/v2').set('Accept', SCHEMA1).expect(200);
    await o.http.get('/v2/app/manifests/v2').set('Accept', SCHEMA1).expect(200);
    await o.http.head('/v2/app/manifests/latest').set('Accept', DOCKER_MANIFEST).expect(200);
    // A list with an amd64 child, and one with only an arm64 child, which no amd64 client can have.
    const list = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [{ mediaType: OCI_MANIFEST, digest: image.digest, size: image.body.length, platform: { os: 'linux', architecture: 'amd64' } }],
    });
    await o.http.put('/v2/app/manifests/multi').set('Content-Type', DOCKER_LIST).send(list).expect(201);
    await o.http.get('/v2/app/manifests/multi').set('Accept', OCI_MANIFEST).expect(200);
    const armOnly = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [{ mediaType: OCI_MANIFEST, digest: image.digest, size: image.body.length, platform: { os: 'linux', architecture: 'arm64' } }],
    });
    await o.http.put('/v2/app/manifests/arm').set('Content-Type', DOCKER_LIST).send(armOnly).expect(201);
    expectError(await o.http.get('/v2/app/manifests/arm').set('Accept', OCI_MANIFEST), 404, 'MANIFEST_UNKNOWN');
    await o.http.get('/v2/app/manifests/unknown').expect(404);

    const families = await o.metrics();
    const served = (outcome: string) => sampleSum(families, 'berth_manifests_served_total', { outcome });
    expect({ stored: served('stored'), child: served('child'), schema1: served('schema1'), schema2: served('schema2'), refused: served('refused') }).toEqual({
      stored: 2,
      child: 1,
      schema1: 2,
      schema2: 1,
      refused: 1,
    });
    expect(sampleSum(families, 'berth_conversion_cache_misses_total', { format: 'schema1' })).toBe(1);
    expect(sampleSum(families, 'berth_conversion_cache_hits_total', { format: 'schema1' })).toBe(1);
    expect(sampleSum(families, 'berth_conversion_cache_misses_total', { format: 'schema2' })).toBe(1);
  });

  it('counts metadata store failures by operation, and not a client error', async () => {
    await o.http.get('/v2/app/manifests/nope').expect(404);
    await o.t.metadata.close();
    expectError(await o.http.get('/v2/app/manifests/latest'), 500, 'UNKNOWN');
    const families = await o.metrics();
    expect(sampleSum(families, 'berth_metadata_store_errors_total', { operation: 'getTaggedManifest' })).toBe(1);
    expect(sampleSum(families, 'berth_metadata_store_errors_total')).toBe(1);
    expect(o.reported).toHaveLength(1);
  });

  it('answers a linked blob missing from the blob store as BLOB_UNKNOWN, and reports it', async () => {
    const digest = await pushBlob(o.http, 'app', Buffer.from('soon gone'));
    const hex = digest.slice('sha256:'.length);
    await rm(join(o.t.dir, 'blobs', 'blobs', 'sha256', hex.slice(0, 2), hex));
    expectError(await o.http.head(`/v2/app/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    expectError(await o.http.get(`/v2/app/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    // A blob the repository never had is no inconsistency.
    expectError(await o.http.get(`/v2/app/blobs/${sha256('never pushed')}`), 404, 'BLOB_UNKNOWN');

    expect(o.reported).toHaveLength(2);
    for (const { error, url } of o.reported) {
      expect(error).toBeInstanceOf(MissingBlobError);
      expect(error).toMatchObject({ repository: 'app', digest, use: 'blob-read' });
      expect(url).toBe(`/v2/app/blobs/${digest}`);
    }
    expect(sampleSum(await o.metrics(), 'berth_blobs_missing_total', { use: 'blob-read' })).toBe(2);
  });

  it('answers a conversion whose config blob is missing from the blob store as MANIFEST_UNKNOWN, and reports it', async () => {
    await pushSchema2(o.http, 'app', 'v2');
    const manifest = JSON.parse((await o.http.get('/v2/app/manifests/v2').set('Accept', DOCKER_MANIFEST).expect(200)).text) as {
      config: { digest: string };
    };
    const hex = manifest.config.digest.slice('sha256:'.length);
    await rm(join(o.t.dir, 'blobs', 'blobs', 'sha256', hex.slice(0, 2), hex));
    const response = await o.http.get('/v2/app/manifests/v2').set('Accept', SCHEMA1);
    expectError(response, 404, 'MANIFEST_UNKNOWN');
    expect(response.body.errors[0].message).toMatch(/cannot be converted: its config blob sha256:[0-9a-f]{64} is missing/);
    expect(o.reported).toHaveLength(1);
    expect(o.reported[0]!.error).toMatchObject({ name: 'MissingBlobError', digest: manifest.config.digest, use: 'conversion' });
    const families = await o.metrics();
    expect(sampleSum(families, 'berth_blobs_missing_total', { use: 'conversion' })).toBe(1);
  });

  it('shows an upload in progress while its body is arriving', { timeout: 30_000 }, async () => {
    const server: Server = createServer(o.app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const started = await o.http.post('/v2/app/blobs/uploads/').expect(202);
      const location = started.headers['location'] as string;
      const gauge = async () => sampleSum(await o.metrics(), 'berth_uploads_in_progress');
      expect(await gauge()).toBe(0);
      const patch = httpRequest({ host: '127.0.0.1', port, method: 'PATCH', path: location, headers: { 'Content-Type': 'application/octet-stream' } });
      const answered = new Promise<number>((resolve, reject) => {
        patch.on('response', (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        patch.on('error', reject);
      });
      patch.write(randomBytes(1000));
      // Wait (bounded) until the server is receiving; the body stays open until then.
      let receiving = 0;
      for (let attempt = 0; attempt < 200 && receiving === 0; attempt++) {
        receiving = await gauge();
        if (receiving === 0) await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(receiving).toBe(1);
      patch.end(randomBytes(1000));
      expect(await answered).toBe(202);
      expect(await gauge()).toBe(0);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('records GC runs reported by a collector', async () => {
    o.t.registry.recordGcRun({ bytesFreed: 1234, blobsDeleted: 3 });
    o.t.registry.recordGcRun({ bytesFreed: 66 });
    const families = await o.metrics();
    expect(sampleSum(families, 'berth_gc_runs_total')).toBe(2);
    expect(sampleSum(families, 'berth_gc_freed_bytes_total')).toBe(1300);
    expect(sampleSum(families, 'berth_gc_deleted_blobs_total')).toBe(3);
  });
});

describe('metrics options', () => {
  const opened: RegistryUnderTest[] = [];
  afterEach(async () => {
    for (const t of opened.splice(0)) await t.close();
  });

  it('adds to a host register under another prefix, without default metrics, for Registry.merge', async () => {
    const host = new PromRegistry();
    const t = await openRegistry(metadataFactories['sqlite']!, { metrics: { register: host, prefix: 'reg_', collectDefault: false } });
    opened.push(t);
    expect(t.registry.metrics).toBe(host);
    await t.http.get('/v2/').expect(200);
    const families = parsePrometheusText(await host.metrics());
    expect(sampleSum(families, 'reg_http_requests_total', { route: '/v2', method: 'GET', status: '200' })).toBe(1);
    expect([...families.keys()].every((name) => name.startsWith('reg_'))).toBe(true);
    expect(families.has('reg_process_cpu_seconds_total')).toBe(false);

    // The usual host pattern: its own metrics and berth's on one page.
    const own = new PromRegistry();
    const merged = PromRegistry.merge([own, t.registry.metrics!]);
    expect(parsePrometheusText(await merged.metrics()).has('reg_http_requests_total')).toBe(true);
  });

  it('metrics: false collects nothing and has no endpoint', async () => {
    const t = await openRegistry(metadataFactories['sqlite']!, { metrics: false });
    opened.push(t);
    expect(t.registry.metrics).toBeUndefined();
    expect(() => t.registry.metricsMiddleware()).toThrow(/metrics: false/);
    const response = await t.http.get('/v2/').expect(200);
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f]{16}$/);
  });

  it('two registries in one process each keep their own counts, sharing the default metrics', async () => {
    const a = await openRegistry(metadataFactories['sqlite']!);
    const b = await openRegistry(metadataFactories['sqlite']!);
    opened.push(a, b);
    await a.http.get('/v2/').expect(200);
    await a.http.get('/v2/').expect(200);
    await b.http.get('/v2/').expect(200);
    const count = async (t: RegistryUnderTest) => sampleSum(parsePrometheusText(await t.registry.metrics!.metrics()), 'berth_http_requests_total');
    expect(await count(a)).toBe(2);
    expect(await count(b)).toBe(1);
    expect(a.registry.metrics!.getSingleMetric('berth_process_cpu_seconds_total')).toBe(
      b.registry.metrics!.getSingleMetric('berth_process_cpu_seconds_total'),
    );
  });
});
