// The web UI in a real browser (Debian's Chromium driven by playwright-core) against the standalone server with
// htpasswd users: a writer who may delete and a reader who may not, anonymous pulls of public/**. Images are
// pushed with skopeo (a multi-arch index, a schema1 image) and over HTTP (a signature and an SBOM referring to an
// image); then the pages are clicked through as a user would, a copied pull command is run with skopeo, and a
// tag is deleted. Screenshots of every page go to .tmp/ui-screenshots/ (test artifacts); the first-load weight
// is measured from what the browser received.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, sha256Digest, writeImageLayout, writeMultiArchLayout } from '../support/oci-image.js';
import { writeHtpasswd } from '../support/reference-auth.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { REPO_ROOT, startBerth, type RunningBerth } from '../support/servers.js';

const run = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = join(REPO_ROOT, '.tmp', 'ui-screenshots');
const WRITER = { username: 'wanda', password: 'wanda-writes-pw' };
const READER = { username: 'ray', password: 'ray-reads-pw' };
const FIRST_LOAD_BUDGET_BYTES = 100 * 1024;

let scratch: Scratch;
let berth: RunningBerth;
let browser: Browser;
let signedDigest: string;
let multiArchDigest: string;

/** skopeo in a sandbox of the scratch dir: no policy, registries.conf or credentials from the machine. */
async function skopeo(args: string[], cwd = scratch.path): Promise<string> {
  const home = join(scratch.path, 'skopeo-home');
  await mkdir(home, { recursive: true });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, XDG_RUNTIME_DIR: home, XDG_CONFIG_HOME: home, NO_PROXY: '*' };
  const { stdout } = await run('skopeo', ['--insecure-policy', ...args], { cwd, env, timeout: 100_000 });
  return stdout;
}

const writerCreds = `${WRITER.username}:${WRITER.password}`;
const basic = (user: { username: string; password: string }) => `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;

async function pushBlob(repository: string, bytes: Buffer): Promise<string> {
  const digest = sha256Digest(bytes);
  const start = await fetch(`${berth.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: { authorization: basic(WRITER) } });
  expect(start.status).toBe(202);
  const location = new URL(start.headers.get('location')!, berth.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', headers: { authorization: basic(WRITER), 'content-type': 'application/octet-stream' }, body: bytes });
  expect(put.status, await put.text()).toBe(201);
  return digest;
}

/** An OCI artifact manifest referring to `subject` (how cosign, notation and oras attach signatures and SBOMs). */
async function pushReferrer(repository: string, subject: { digest: string; size: number }, artifactType: string, content: Buffer): Promise<string> {
  const emptyConfig = Buffer.from('{}');
  await pushBlob(repository, emptyConfig);
  const layerDigest = await pushBlob(repository, content);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(emptyConfig), size: emptyConfig.length },
      layers: [{ mediaType: artifactType, digest: layerDigest, size: content.length }],
      subject: { mediaType: MediaType.ociManifest, digest: subject.digest, size: subject.size },
      annotations: { 'org.opencontainers.image.created': '2026-01-02T03:04:05Z' },
    }),
  );
  const digest = sha256Digest(manifest);
  const put = await fetch(`${berth.url}/v2/${repository}/manifests/${digest}`, {
    method: 'PUT',
    headers: { authorization: basic(WRITER), 'content-type': MediaType.ociManifest },
    body: manifest,
  });
  expect(put.status, await put.text()).toBe(201);
  return digest;
}

beforeAll(async () => {
  scratch = await createScratch('berth-ui-');
  await mkdir(SCREENSHOTS, { recursive: true });
  const htpasswd = join(scratch.path, 'htpasswd');
  await writeHtpasswd(htpasswd, [WRITER, READER]);
  const access = join(scratch.path, 'access.yml');
  await writeFile(
    access,
    [
      '- repositories: ["public/**"]',
      '  users: ["anonymous"]',
      '  actions: [pull]',
      '- repositories: ["**"]',
      `  users: [${READER.username}]`,
      '  actions: [pull]',
      '- repositories: ["**"]',
      `  users: [${WRITER.username}]`,
      '  actions: [pull, push, delete]',
      '',
    ].join('\n'),
  );
  berth = await startBerth({ args: ['--auth', 'basic', '--htpasswd', htpasswd, '--access', access] });

  const multiArch = await writeMultiArchLayout({ dir: scratch.child('multiarch'), tag: 'latest', seed: 3 });
  multiArchDigest = multiArch.root.digest;
  for (const tag of ['latest', 'stable']) {
    await skopeo(['copy', '--all', '--dest-tls-verify=false', '--dest-creds', writerCreds, multiArch.ref, `docker://${berth.host}/public/multiarch:${tag}`]);
  }
  const legacy = await writeImageLayout({ dir: scratch.child('legacy'), tag: 'v1', seed: 5 });
  await skopeo(['copy', '--format', 'v2s1', '--dest-tls-verify=false', '--dest-creds', writerCreds, legacy.ref, `docker://${berth.host}/public/legacy:v1`]);
  const signed = await writeImageLayout({ dir: scratch.child('signed'), tag: 'v1', seed: 9 });
  await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', writerCreds, signed.ref, `docker://${berth.host}/team/signed:v1`]);
  signedDigest = signed.root.digest;
  const subject = { digest: signed.root.digest, size: signed.root.bytes.length };
  await pushReferrer('team/signed', subject, 'application/vnd.cncf.notary.signature', Buffer.from('a signature envelope'));
  await pushReferrer('team/signed', subject, 'application/spdx+json', Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'signed' })));

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  await berth?.stop();
  await scratch?.dispose();
});

/** A fresh browser profile (its own cookies and clipboard) showing the server's pages. */
async function openContext(): Promise<BrowserContext> {
  const context = await browser.newContext({ baseURL: berth.url, viewport: { width: 1200, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: berth.url });
  return context;
}

async function signIn(page: Page, user: { username: string; password: string }): Promise<void> {
  await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Sign in' }).click();
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await poll(() => page.locator('#account').textContent()).toContain(`Signed in as ${user.username}`);
}

/** A whole page to .tmp/ui-screenshots/ (CI keeps them as artifacts; two of them are the README's, in docs/). */
async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Pages load and re-render while other suites keep the machine busy: wait for them generously. */
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 30_000, interval: 100 });

/** An expression evaluated in the page (a string: this file is type-checked without the DOM library). */
const inPage = <T>(page: Page, expression: string) => page.evaluate(expression) as Promise<T>;

const rowNames = (page: Page, table: string) => page.locator(`table.${table} tbody tr th[scope=row]`).allTextContents();

describe('the web UI in Chromium', () => {
  it('browses repositories -> tags -> manifest -> referrers, each page showing what the API knows', async () => {
    const context = await openContext();
    const page = await context.newPage();
    await page.goto('/');
    await poll(() => rowNames(page, 'repositories')).toEqual(['public/legacy', 'public/multiarch']);
    await screenshot(page, '01-repositories-anonymous');

    await signIn(page, READER);
    await poll(() => rowNames(page, 'repositories')).toEqual(['public/legacy', 'public/multiarch', 'team/signed']);
    // Search as you type: the list narrows without a submit, and the query lands in the URL.
    await page.getByLabel('Search repositories').pressSequentially('multi');
    await poll(() => rowNames(page, 'repositories')).toEqual(['public/multiarch']);
    expect(new URL(page.url()).searchParams.get('q')).toBe('multi');
    const row = page.locator('table.repositories tbody tr').first();
    expect(await row.locator('td').first().textContent()).toBe('2');
    await screenshot(page, '02-repositories-search');

    // Tags: both point at one index, so each names the other; platforms come from the index's children.
    await page.getByRole('link', { name: 'public/multiarch' }).click();
    await poll(() => rowNames(page, 'tags')).toEqual(['latest', 'stable']);
    const latest = page.locator('tr[data-tag="latest"]');
    expect(await latest.getAttribute('data-digest')).toBe(multiArchDigest);
    expect(await page.locator('tr[data-tag="stable"]').getAttribute('data-digest')).toBe(multiArchDigest);
    expect(await latest.locator('.shared').textContent()).toBe('same as stable');
    expect(await latest.locator('ul.platforms li').allTextContents()).toEqual(['linux/amd64', 'linux/arm64/v8']);
    expect(await latest.textContent()).toContain('OCI index');
    // The reader may not delete: no delete buttons at all.
    expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);
    // Sorting by push time is a button in the column header, its state in aria-sort.
    await page.getByRole('button', { name: /^Pushed/ }).click();
    await poll(() => page.locator('th[aria-sort]').textContent()).toContain('Pushed');
    expect(new URL(page.url()).searchParams.get('sort')).toBe('-pushed');
    await page.getByLabel('Filter tags').fill('stab');
    await poll(() => rowNames(page, 'tags')).toEqual(['stable']);
    await page.getByLabel('Filter tags').fill('');
    await poll(() => rowNames(page, 'tags')).toHaveLength(2);
    await screenshot(page, '03-tags');

    // The index: its platforms, pull commands by tag and by digest, the raw JSON.
    await page.getByRole('link', { name: 'latest', exact: true }).click();
    await poll(() => page.locator('h1').textContent()).toBe('public/multiarch:latest');
    const platforms = page.locator('#platforms tbody tr');
    expect(await platforms.locator('th').allTextContents()).toEqual(['linux/amd64', 'linux/arm64/v8']);
    const pullByDigest = await page.locator('[data-tool="docker"][data-by="digest"] code').textContent();
    expect(pullByDigest).toBe(`docker pull ${berth.host}/public/multiarch@${multiArchDigest}`);
    expect(JSON.parse((await page.locator('pre.raw').textContent())!)).toMatchObject({ mediaType: MediaType.ociIndex });
    await page.getByRole('button', { name: 'Copy raw manifest JSON' }).click();
    const raw = await inPage<string>(page, 'navigator.clipboard.readText()');
    expect(sha256Digest(Buffer.from(raw))).toBe(multiArchDigest);
    await screenshot(page, '04-manifest-index');

    // A child: its config summary and layers.
    await platforms.first().getByRole('link').click();
    await poll(() => page.locator('#config').textContent()).toContain('linux/amd64');
    expect(await page.locator('#config').textContent()).toContain('PATH=/usr/local/sbin');
    expect(await page.locator('#layers tbody tr').count()).toBe(2);
    await screenshot(page, '05-manifest-image');

    // The schema1 image: what it is, and the note of what a schema1 client gets.
    await page.goto('/manifest?repository=public/legacy&reference=v1');
    await poll(() => page.locator('h1').textContent()).toBe('public/legacy:v1');
    expect(await page.locator('dl.summary').first().textContent()).toContain('Docker schema1');
    expect(await page.locator('aside.note').textContent()).toMatch(/^Schema 1 clients: .+/);
    await screenshot(page, '06-manifest-schema1');

    // Referrers grouped: one signature, one SBOM; a referrer's page links back to its subject.
    await page.goto('/repository?name=team/signed');
    await page.getByRole('link', { name: 'v1', exact: true }).click();
    await poll(() => page.locator('#referrers').textContent()).toContain('Signatures (1)');
    expect(await page.locator('#referrers').textContent()).toContain('SBOMs (1)');
    await screenshot(page, '07-manifest-referrers');
    await page.screenshot({ path: join(SCREENSHOTS, '07-manifest-top.png') }); // the README's, one screen high
    await page.locator('#referrers section[aria-label="Signatures"] a').click();
    await poll(() => page.locator('dl.summary').first().textContent()).toContain('application/vnd.cncf.notary.signature');
    await page.getByRole('link', { name: signedDigest.slice(0, 19) }).click();
    await poll(() => page.locator('h1').textContent()).toBe(`team/signed@${signedDigest.slice(0, 19)}`);
    await context.close();
  });

  it('copies a pull command that skopeo runs as it is', async () => {
    const context = await openContext();
    const page = await context.newPage();
    await page.goto('/manifest?repository=public/multiarch&reference=latest');
    await page.getByRole('button', { name: 'Copy skopeo command by tag latest' }).click();
    await poll(() => page.getByRole('status').textContent()).toBe('Copied skopeo command by tag latest');
    const command = await inPage<string>(page, 'navigator.clipboard.readText()');
    expect(command).toBe(`skopeo copy --src-tls-verify=false docker://${berth.host}/public/multiarch:latest oci:multiarch-latest`);
    const [tool, ...args] = command.split(' ');
    expect(tool).toBe('skopeo');
    const workDir = scratch.child('pulled');
    await mkdir(workDir);
    await skopeo(args, workDir);
    const index = JSON.parse(await readFile(join(workDir, 'multiarch-latest', 'index.json'), 'utf8')) as { manifests: unknown[] };
    expect(index.manifests).toHaveLength(1);
    await context.close();
  });

  it('refuses a reader’s delete (no button, and the API says DENIED with nothing changed)', async () => {
    const context = await openContext();
    const page = await context.newPage();
    await page.goto('/repository?name=team/signed');
    await signIn(page, READER);
    await poll(() => rowNames(page, 'tags')).toEqual(['v1']);
    expect(await page.getByRole('button', { name: /^Delete/ }).count()).toBe(0);
    // What the page would send if it offered the button: the session's CSRF token and the cookie.
    const answer = await page.evaluate(async () => {
      const session = (await (await fetch('/api/session')).json()) as { csrfToken: string };
      const response = await fetch('/api/tag?repository=team/signed&tag=v1', { method: 'DELETE', headers: { 'X-CSRF-Token': session.csrfToken } });
      return { status: response.status, body: await response.text() };
    });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body)).toMatchObject({ errors: [{ code: 'DENIED' }] });
    await page.reload();
    await poll(() => rowNames(page, 'tags')).toEqual(['v1']);
    await context.close();
  });

  it('deletes a tag as the writer after a confirmation (Cancel keeps it)', async () => {
    const context = await openContext();
    const page = await context.newPage();
    await page.goto('/repository?name=public/multiarch');
    await signIn(page, WRITER);
    await poll(() => rowNames(page, 'tags')).toEqual(['latest', 'stable']);
    await page.getByRole('button', { name: 'Delete tag stable' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete tag stable?' });
    await poll(() => dialog.isVisible()).toBe(true);
    await screenshot(page, '08-delete-confirmation');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await rowNames(page, 'tags')).toEqual(['latest', 'stable']);
    await page.getByRole('button', { name: 'Delete tag stable' }).click();
    await dialog.getByRole('button', { name: 'Delete tag' }).click();
    await poll(() => rowNames(page, 'tags')).toEqual(['latest']);
    await poll(() => page.getByRole('status').textContent()).toBe('Tag stable deleted');
    const tags = JSON.parse(await skopeo(['list-tags', '--tls-verify=false', `docker://${berth.host}/public/multiarch`])) as { Tags: string[] };
    expect(tags.Tags).toEqual(['latest']);
    await context.close();
  });

  it('signs in with a wrong password to an error, and out again', async () => {
    const context = await openContext();
    const page = await context.newPage();
    await page.goto('/');
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.getByLabel('Username').fill(READER.username);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await poll(() => page.locator('#sign-in-error').textContent()).toBe('Wrong username or password.');
    expect(await inPage<string>(page, 'document.activeElement?.id')).toBe('password');
    await screenshot(page, '09-sign-in-error');
    await page.getByLabel('Password').fill(READER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await poll(() => rowNames(page, 'repositories')).toContain('team/signed');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await poll(() => rowNames(page, 'repositories')).toEqual(['public/legacy', 'public/multiarch']);
    await context.close();
  });

  it('works from the keyboard: skip link, search, a link followed with Enter, focus on the new heading', async () => {
    const context = await openContext();
    const page = await context.newPage();
    await page.goto('/');
    await poll(() => rowNames(page, 'repositories')).toHaveLength(2);
    const focused = () => inPage<string>(page, '`${document.activeElement?.tagName} ${document.activeElement?.textContent?.trim() ?? ""}`');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('A Skip to content');
    await page.keyboard.press('Enter');
    await poll(() => inPage<string>(page, 'document.activeElement?.id')).toBe('main');
    await page.keyboard.press('Tab'); // into the page: the search field first
    expect(await inPage<string>(page, 'document.activeElement?.id')).toBe('repository-search');
    await page.keyboard.type('legacy');
    await poll(() => rowNames(page, 'repositories')).toEqual(['public/legacy']);
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('A public/legacy');
    await page.keyboard.press('Enter');
    await poll(() => focused()).toBe('H1 public/legacy');
    await context.close();
  });

  it('keeps the first load under 100 KB of JS and CSS (gzipped), and readable on a phone', async () => {
    const context = await browser.newContext({ baseURL: berth.url, viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const page = await context.newPage();
    const received: { url: string; type: string; bytes: number; encoding: string | undefined }[] = [];
    page.on('requestfinished', async (request) => {
      const type = request.resourceType();
      if (type !== 'script' && type !== 'stylesheet') return;
      const response = await request.response();
      received.push({ url: request.url(), type, bytes: (await request.sizes()).responseBodySize, encoding: (await response?.allHeaders())?.['content-encoding'] });
    });
    await page.goto('/', { waitUntil: 'networkidle' });
    await poll(() => rowNames(page, 'repositories')).toHaveLength(2);
    const total = received.reduce((sum, item) => sum + item.bytes, 0);
    expect(received.some((item) => item.type === 'script')).toBe(true);
    expect(received.some((item) => item.type === 'stylesheet')).toBe(true);
    for (const item of received) expect(['br', 'gzip'], item.url).toContain(item.encoding);
    expect(total).toBeLessThan(FIRST_LOAD_BUDGET_BYTES);
    await writeFile(join(SCREENSHOTS, 'page-weight.json'), `${JSON.stringify({ firstLoadBytes: total, files: received }, null, 2)}\n`);
    console.log(`first load: ${received.length} files, ${total} bytes of JS and CSS as received (compressed)`);
    // Nothing wider than the phone's screen but the tables' own scrolling regions.
    expect(await inPage<number>(page, 'document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await screenshot(page, '10-phone-repositories');
    await page.goto('/manifest?repository=public/multiarch&reference=latest');
    await poll(() => page.locator('h1').textContent()).toBe('public/multiarch:latest');
    expect(await inPage<number>(page, 'document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await screenshot(page, '11-phone-manifest');
    expect(existsSync(join(SCREENSHOTS, '04-manifest-index.png'))).toBe(true);
    await context.close();
  });

  it('is off with --no-ui (or BERTH_UI=false): no pages, no JSON API, the registry as before', async () => {
    for (const options of [{ args: ['--no-ui'] }, { env: { BERTH_UI: 'false' } }]) {
      const plain = await startBerth(options);
      try {
        for (const path of ['/', '/repository?name=public/multiarch', '/api/session']) {
          expect((await fetch(`${plain.url}${path}`)).status, `${JSON.stringify(options)} ${path}`).toBe(404);
        }
        expect((await fetch(`${plain.url}/v2/`)).status).toBe(200);
      } finally {
        await plain.stop();
      }
    }
  });
});
