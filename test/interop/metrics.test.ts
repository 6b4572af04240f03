// The standalone server's /metrics against a real client: skopeo pushes and pulls an image, and the
// counters must move by exactly what was sent and served. The text is read with a strict parser
// (test/support/prometheus-text.ts), linted by Prometheus's own promtool, and scraped by a real
// Prometheus server when --metrics-port puts it on a port of its own.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeImageLayout } from '../support/oci-image.js';
import { parsePrometheusText, sampleSum, type MetricFamily } from '../support/prometheus-text.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { freePort, startBerth, watch, type RunningRegistry, type WatchedProcess } from '../support/servers.js';
import { createSkopeo, dockerRef, type Skopeo } from '../support/skopeo.js';

const SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
const UPLOAD_ROUTES = ['/v2/*name/blobs/uploads', '/v2/*name/blobs/uploads/:uuid'];
const BLOB_ROUTE = '/v2/*name/blobs/:digest';
const MANIFEST_ROUTE = '/v2/*name/manifests/:reference';

let scratch: Scratch;
let skopeo: Skopeo;
const servers: RunningRegistry[] = [];
const processes: WatchedProcess[] = [];

beforeAll(async () => {
  scratch = await createScratch('berth-metrics-');
  skopeo = await createSkopeo();
});

afterEach(async () => {
  for (const process_ of processes.splice(0)) await process_.stop();
  for (const server of servers.splice(0)) await server.stop();
});

afterAll(async () => {
  await skopeo?.dispose();
  await scratch?.dispose();
});

async function scrapeText(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

async function scrape(url: string): Promise<Map<string, MetricFamily>> {
  return parsePrometheusText(await scrapeText(url));
}

/** Sum over several label sets (for example both upload routes). */
function sumOver(families: Map<string, MetricFamily>, name: string, labelSets: Array<Record<string, string>>): number {
  return labelSets.reduce((sum, labels) => sum + sampleSum(families, name, labels), 0);
}

/** How much each named sample moved between two scrapes. */
function delta(before: Map<string, MetricFamily>, after: Map<string, MetricFamily>) {
  return (name: string, labels: Record<string, string> = {}) => sampleSum(after, name, labels) - sampleSum(before, name, labels);
}

describe('metrics of the standalone server', () => {
  it('count a skopeo push and pull by exactly what moved, and a schema1 conversion with its cache', async () => {
    const server = await startBerth();
    servers.push(server);
    const layout = await writeImageLayout({ dir: scratch.child('src'), layers: 3, seed: 21, tag: 'v1' });
    const image = layout.images[0]!;
    const blobs = [image.config, ...image.layers];
    const blobBytes = blobs.reduce((sum, blob) => sum + blob.size, 0);

    const beforePush = await scrape(server.url);
    await skopeo.copy(layout.ref, dockerRef(server.host, 'team/app', 'v1'), { format: 'v2s2' });
    const afterPush = await scrape(server.url);
    const pushed = delta(beforePush, afterPush);
    expect(pushed('berth_blob_uploads_total')).toBe(blobs.length);
    expect(pushed('berth_blob_upload_bytes_total')).toBe(blobBytes);
    expect(sumOver(afterPush, 'berth_http_received_bytes_total', UPLOAD_ROUTES.map((route) => ({ route }))) -
      sumOver(beforePush, 'berth_http_received_bytes_total', UPLOAD_ROUTES.map((route) => ({ route })))).toBe(blobBytes);
    const manifest = await skopeo.inspectRaw(dockerRef(server.host, 'team/app', 'v1'));
    expect(pushed('berth_http_requests_total', { route: MANIFEST_ROUTE, method: 'PUT', status: '201' })).toBe(1);
    expect(pushed('berth_http_received_bytes_total', { route: MANIFEST_ROUTE, method: 'PUT' })).toBe(manifest.length);
    expect(sampleSum(afterPush, 'berth_uploads_in_progress')).toBe(0);
    // Route labels are templates: no repository name or digest ever becomes a series.
    for (const sample of afterPush.get('berth_http_requests_total')!.samples) expect(sample.labels['route']).not.toMatch(/team|sha256/);

    const beforePull = await scrape(server.url);
    await skopeo.copy(dockerRef(server.host, 'team/app', 'v1'), `oci:${scratch.child('back')}:v1`);
    const afterPull = await scrape(server.url);
    const pulled = delta(beforePull, afterPull);
    expect(pulled('berth_http_requests_total', { route: BLOB_ROUTE, method: 'GET', status: '200' })).toBe(blobs.length);
    expect(pulled('berth_http_sent_bytes_total', { route: BLOB_ROUTE, method: 'GET' })).toBe(blobBytes);
    // skopeo accepts every manifest type: what it gets is the stored manifest, once per manifest request.
    const manifestRequests =
      pulled('berth_http_requests_total', { route: MANIFEST_ROUTE, method: 'GET', status: '200' }) +
      pulled('berth_http_requests_total', { route: MANIFEST_ROUTE, method: 'HEAD', status: '200' });
    expect(manifestRequests).toBeGreaterThanOrEqual(1);
    expect(pulled('berth_manifests_served_total', { outcome: 'stored' })).toBe(manifestRequests);
    expect(pulled('berth_manifests_served_total')).toBe(manifestRequests);

    const beforeLegacy = await scrape(server.url);
    for (let pull = 0; pull < 2; pull++) {
      const response = await fetch(`${server.url}/v2/team/app/manifests/v1`, { headers: { Accept: SCHEMA1 } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe(SCHEMA1);
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f]{16}$/);
      await response.arrayBuffer();
    }
    const missing = await fetch(`${server.url}/v2/team/app/manifests/nope`, { headers: { 'X-Request-Id': 'trace-42' } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-request-id')).toBe('trace-42');
    const afterLegacy = await scrape(server.url);
    const legacy = delta(beforeLegacy, afterLegacy);
    expect(legacy('berth_manifests_served_total', { outcome: 'schema1' })).toBe(2);
    expect(legacy('berth_conversion_cache_misses_total', { format: 'schema1' })).toBe(1);
    expect(legacy('berth_conversion_cache_hits_total', { format: 'schema1' })).toBe(1);
    expect(legacy('berth_http_requests_total', { route: MANIFEST_ROUTE, method: 'GET', status: '404' })).toBe(1);

    // Prometheus's own linter finds nothing wrong with berth's metrics (prom-client's process metrics
    // carry names it frowns on, which are not ours to change).
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: await scrapeText(server.url), encoding: 'utf8' });
    expect(lint.error, 'promtool is installed by scripts/ensure-system-deps.sh').toBeUndefined();
    const complaints = `${lint.stdout}${lint.stderr}`.split('\n').filter((line) => line.trim() !== '');
    expect(lint.status === 0 || lint.status === 3, `promtool could not parse the page: ${complaints.join('\n')}`).toBe(true);
    const ownNames = [...afterLegacy.keys()].filter((name) => !/^berth_(process_|nodejs_)/.test(name));
    expect(ownNames.length).toBeGreaterThan(10);
    expect(complaints.filter((line) => ownNames.some((name) => line.startsWith(`${name} `)))).toEqual([]);
  });

  it('--metrics-port serves /metrics on a port of its own (not the main one), which Prometheus scrapes', async () => {
    const metricsPort = await freePort();
    const server = await startBerth({ args: ['--metrics-port', String(metricsPort)] });
    servers.push(server);
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${metricsUrl}/v2/`)).status).toBe(404);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    const layout = await writeImageLayout({ dir: scratch.child('src'), layers: 2, seed: 22, tag: 'v1' });
    await skopeo.copy(layout.ref, dockerRef(server.host, 'app', 'v1'));
    const families = await scrape(metricsUrl);
    expect(sampleSum(families, 'berth_blob_uploads_total')).toBe(3);

    // A real Prometheus server scrapes the port and reads the same counter.
    const prometheusPort = await freePort();
    const dir = scratch.child('prometheus');
    await mkdir(dir);
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s' },
      scrape_configs: [{ job_name: 'berth', static_configs: [{ targets: [`127.0.0.1:${metricsPort}`] }] }],
    };
    await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config));
    const child = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`,
        '--log.level=warn',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const prometheus = watch(child, 'prometheus');
    processes.push(prometheus);
    const query = async (expression: string): Promise<number | undefined> => {
      try {
        const response = await fetch(`http://127.0.0.1:${prometheusPort}/api/v1/query?query=${encodeURIComponent(expression)}`);
        const body = (await response.json()) as { data?: { result?: Array<{ value: [number, string] }> } };
        const value = body.data?.result?.[0]?.value[1];
        return value === undefined ? undefined : Number(value);
      } catch {
        return undefined; // not listening yet
      }
    };
    // Bounded: Prometheus starts, then scrapes once a second.
    let uploads: number | undefined;
    let up: number | undefined;
    for (let attempt = 0; attempt < 300 && (uploads !== 3 || up !== 1); attempt++) {
      await prometheus.race(new Promise((resolve) => setTimeout(resolve, 100)));
      up = await query('up{job="berth"}');
      uploads = await query('berth_blob_uploads_total{job="berth"}');
    }
    expect(up).toBe(1);
    expect(uploads).toBe(3);
    expect(await query('sum(berth_http_requests_total{job="berth",route="/v2/*name/manifests/:reference",method="PUT",status="201"})')).toBe(1);
  });

  it('--no-metrics serves no /metrics and still gives request ids and health', async () => {
    const server = await startBerth({ args: ['--no-metrics'] });
    servers.push(server);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    const version = await fetch(`${server.url}/v2/`);
    expect(version.headers.get('x-request-id')).toMatch(/^[0-9a-f]{16}$/);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });
});
