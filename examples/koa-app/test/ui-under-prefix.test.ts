// The web UI mounted by a host app under a prefix of its choosing, in a real browser (Debian's Chromium through
// playwright-core): the pages, their API calls, links and back/forward all stay under the prefix, and the host's
// own routes stay the host's.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createRegistry, type Registry } from '@berth/koa';
import { openFsBlobStore, type FsBlobStore } from '@berth/blobs-fs';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';

const PREFIX = '/tools/registry';
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 30_000, interval: 100 });

let dir: string;
let metadata: Awaited<ReturnType<typeof openSqliteMetadataStore>>;
let blobs: FsBlobStore;
let registry: Registry;
let server: Server;
let base: string;
let browser: Browser;

async function pushImage(repository: string, tag: string): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', config: { Env: ['A=1'] }, rootfs: { type: 'layers', diff_ids: [] } }));
  const layer = Buffer.from('layer bytes');
  for (const blob of [config, layer]) {
    const put = await fetch(`${base}/v2/${repository}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob });
    expect(put.status).toBe(201);
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
  });
  const put = await fetch(`${base}/v2/${repository}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest });
  expect(put.status).toBe(201);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-ui-prefix-'));
  metadata = await openSqliteMetadataStore({ filename: join(dir, 'berth.sqlite') });
  blobs = await openFsBlobStore({ root: join(dir, 'blobs') });
  registry = createRegistry({ metadata, blobs });
  const app = new Koa();
  app.use(registry.routes()).use(registry.allowedMethods());
  app.use(registry.ui({ prefix: PREFIX }));
  app.use((ctx) => {
    ctx.body = 'the host app';
  });
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await pushImage('team/app', '1.0');
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
  await registry?.close();
  await blobs?.close();
  await metadata?.close();
  await rm(dir, { recursive: true, force: true });
});

it('keeps the pages, their API calls, links and history under the prefix', { timeout: 120_000 }, async () => {
  const page = await browser.newPage();
  const apiCalls: string[] = [];
  page.on('request', (request) => {
    if (request.url().includes('/api/')) apiCalls.push(new URL(request.url()).pathname);
  });
  await page.goto(`${base}${PREFIX}/`);
  await poll(() => page.locator('table.repositories tbody th').allTextContents()).toEqual(['team/app']);
  await page.getByRole('link', { name: 'team/app' }).click();
  await poll(() => page.locator('table.tags tbody th').allTextContents()).toEqual(['1.0']);
  expect(new URL(page.url()).pathname).toBe(`${PREFIX}/repository`);
  await page.getByRole('link', { name: '1.0', exact: true }).click();
  await poll(() => page.locator('h1').textContent()).toBe('team/app:1.0');
  expect(await page.locator('#config').textContent()).toContain('linux/arm64');
  await page.goBack();
  await poll(() => page.locator('h1').textContent()).toBe('team/app');
  await page.getByRole('link', { name: 'berth', exact: true }).click();
  await poll(() => page.locator('h1').textContent()).toBe('Repositories');
  expect(new URL(page.url()).pathname).toBe(`${PREFIX}/`);
  expect(apiCalls.length).toBeGreaterThan(0);
  expect(apiCalls.filter((path) => !path.startsWith(`${PREFIX}/api/`))).toEqual([]);
  // A deep link loads on its own; the host's routes outside the prefix are untouched.
  await page.goto(`${base}${PREFIX}/manifest?repository=team/app&reference=1.0`);
  await poll(() => page.locator('h1').textContent()).toBe('team/app:1.0');
  expect(await (await fetch(`${base}/`)).text()).toBe('the host app');
  await page.close();
});
