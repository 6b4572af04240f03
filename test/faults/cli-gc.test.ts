// `berth gc` and `serve --gc-interval` through the real binaries, next to a running server on the same
// SQLite file: what a deleted tag left behind leaves the blob store, what a tag still reaches pulls
// completely, a dry run removes nothing; on PostgreSQL the same; a collection another process holds the
// lease for is refused with exit 1.
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase, type ScratchDatabase } from '../../packages/storage-postgres/src/testing.js';
import { openSqliteMetadataStore } from '../../packages/storage-sqlite/src/index.js';
import { blobFile, exists, imageBlobs } from '../support/blob-files.js';
import { readOciLayout } from '../support/image-readback.js';
import { writeImageLayout, type ImageLayout } from '../support/oci-image.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { BERTH_CLI, startBerth, type RunningBerth } from '../support/servers.js';
import { createSkopeo, dockerRef, type Skopeo } from '../support/skopeo.js';

const run = promisify(execFile);

interface GcSummaryJson {
  dryRun: boolean;
  manifestsDeleted: number;
  linksDeleted: number;
  blobsDeleted: number;
  bytesFreed: number;
  durationMs: number;
}

let scratch: Scratch;
let skopeo: Skopeo;
const servers: RunningBerth[] = [];
const databases: ScratchDatabase[] = [];
beforeAll(async () => {
  scratch = await createScratch('berth-gc-');
  skopeo = await createSkopeo();
});
afterAll(async () => {
  for (const server of servers.splice(0)) await server.stop();
  for (const database of databases.splice(0)) await database.drop();
  await skopeo?.dispose();
  await scratch?.dispose();
});

async function push(server: RunningBerth, repository: string, seed: number): Promise<ImageLayout> {
  const layout = await writeImageLayout({ dir: scratch.child(`image-${seed}`), layers: 2, seed, tag: 'v1' });
  await skopeo.copy(layout.ref, dockerRef(server.host, repository, 'v1'), { format: 'oci' });
  return layout;
}

async function deleteTag(server: RunningBerth, repository: string, tag: string): Promise<void> {
  const response = await fetch(`${server.url}/v2/${repository}/manifests/${tag}`, { method: 'DELETE' });
  expect(response.status).toBe(202);
}

/** Pulls the tag back with skopeo and checks every blob came back with the bytes that were pushed. */
async function expectPullsCompletely(server: RunningBerth, repository: string, layout: ImageLayout): Promise<void> {
  const back = scratch.child('back');
  await skopeo.copy(dockerRef(server.host, repository, 'v1'), `oci:${back}:v1`);
  const pulled = await readOciLayout(back, 'v1');
  expect(pulled.manifest.equals(layout.root.bytes)).toBe(true);
  for (const digest of imageBlobs(layout)) expect(pulled.blobs.get(digest)?.equals(layout.blobs.get(digest)!), digest).toBe(true);
}

async function gc(dataDir: string, args: readonly string[]): Promise<GcSummaryJson> {
  const { stdout } = await run(process.execPath, [BERTH_CLI, 'gc', '--data', dataDir, '--json', ...args], { cwd: scratch.path });
  return JSON.parse(stdout) as GcSummaryJson;
}

describe('berth gc', () => {
  it.each(['sqlite', 'postgres'] as const)('collects what a deleted tag left, beside a running server on the same %s store; a dry run removes nothing', async (backend) => {
    const dataDir = scratch.child('data');
    // Both the server and berth gc get the same store: the SQLite file in the data directory, or the database.
    let storeArgs: string[] = [];
    if (backend === 'postgres') {
      const database = await createScratchDatabase();
      databases.push(database);
      storeArgs = ['--database', database.url];
    }
    const server = await startBerth({ dataDir, args: storeArgs });
    servers.push(server);
    const kept = await push(server, 'gc/kept', 101);
    const dropped = await push(server, 'gc/dropped', 202);
    await deleteTag(server, 'gc/dropped', 'v1');
    for (const digest of imageBlobs(dropped)) expect(await exists(blobFile(dataDir, digest)), digest).toBe(true);

    const dry = await gc(dataDir, ['--dry-run', '--delete-untagged', '--grace', '0', ...storeArgs]);
    expect(dry.dryRun).toBe(true);
    expect(dry.manifestsDeleted).toBe(1);
    // A dry run removes no manifest, so the blobs only that manifest names are still named: not counted.
    for (const digest of imageBlobs(dropped)) expect(await exists(blobFile(dataDir, digest)), digest).toBe(true);

    const summary = await gc(dataDir, ['--delete-untagged', '--grace', '0', ...storeArgs]);
    expect(summary).toMatchObject({ dryRun: false, manifestsDeleted: 1 });
    expect(summary.blobsDeleted).toBeGreaterThanOrEqual(imageBlobs(dropped).length);
    const droppedBytes = imageBlobs(dropped).reduce((total, digest) => total + dropped.blobs.get(digest)!.length, 0);
    expect(summary.bytesFreed).toBeGreaterThanOrEqual(droppedBytes);
    for (const digest of imageBlobs(dropped)) expect(await exists(blobFile(dataDir, digest)), digest).toBe(false);
    for (const digest of imageBlobs(kept)) expect(await exists(blobFile(dataDir, digest)), digest).toBe(true);
    await expectPullsCompletely(server, 'gc/kept', kept);

    // Nothing is left to collect; the default grace (1h) would have kept everything anyway.
    expect(await gc(dataDir, ['--delete-untagged', '--grace', '0', ...storeArgs])).toMatchObject({ manifestsDeleted: 0, blobsDeleted: 0 });
  });

  it('refuses with exit 1 and one line while another process holds the collector lease', async () => {
    const dataDir = scratch.child('data');
    // The other collector: this process, through the real SQLite store on the same file.
    const other = await openSqliteMetadataStore({ filename: join(dataDir, 'berth.sqlite') });
    try {
      expect(await other.claimCollectorLease('another-instance', new Date(Date.now() + 600_000))).toBe(true);
      const refused = await run(process.execPath, [BERTH_CLI, 'gc', '--data', dataDir, '--grace', '0'], { cwd: scratch.path }).catch(
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      expect(refused).toMatchObject({ code: 1, stdout: '', stderr: 'berth: another garbage collection is running; try again when it has finished\n' });
      await other.releaseCollectorLease('another-instance');
      expect(await gc(dataDir, ['--grace', '0'])).toMatchObject({ dryRun: false, blobsDeleted: 0 });
    } finally {
      await other.close();
    }
  });

  it('keeps an untagged manifest and its blobs without --delete-untagged, and everything young within the default grace', async () => {
    const dataDir = scratch.child('data');
    const server = await startBerth({ dataDir });
    servers.push(server);
    const untagged = await push(server, 'gc/untagged', 303);
    await deleteTag(server, 'gc/untagged', 'v1');
    expect(await gc(dataDir, ['--grace', '0'])).toMatchObject({ manifestsDeleted: 0, blobsDeleted: 0 });
    expect(await gc(dataDir, ['--delete-untagged'])).toMatchObject({ manifestsDeleted: 0, blobsDeleted: 0 });
    for (const digest of imageBlobs(untagged)) expect(await exists(blobFile(dataDir, digest)), digest).toBe(true);
  });

  it('prints a readable summary without --json, names a bad flag as typed, refuses a data directory without a registry', async () => {
    const dataDir = scratch.child('data');
    const missing = await run(process.execPath, [BERTH_CLI, 'gc', '--data', dataDir], { cwd: scratch.path }).catch((error: { code: number; stderr: string }) => error);
    expect(missing).toMatchObject({ code: 2, stderr: `berth: ${dataDir} holds no registry (no berth.sqlite): give the data directory the server uses (--data), or its --database\n` });
    await expect(stat(dataDir)).rejects.toMatchObject({ code: 'ENOENT' });
    await (await openSqliteMetadataStore({ filename: join(dataDir, 'berth.sqlite') })).close();
    const { stdout } = await run(process.execPath, [BERTH_CLI, 'gc', '--data', dataDir, '--grace', '0'], { cwd: scratch.path });
    expect(stdout).toMatch(/^garbage collection done in \d+\.\d s\n/);
    expect(stdout).toMatch(/blobs removed: +0 \(0 B\)/);
    const bad = await run(process.execPath, [BERTH_CLI, 'gc', '--data', dataDir, '--grace', 'soon'], { cwd: scratch.path }).catch((error: { code: number; stderr: string }) => error);
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toMatch(/^berth: invalid --grace "soon"/);
  });
});

describe('serve --gc-interval', () => {
  it('collects on its own while it serves', async () => {
    const dataDir = scratch.child('data');
    const server = await startBerth({ dataDir, args: ['--gc-interval', '1s', '--gc-grace', '0', '--gc-delete-untagged'] });
    servers.push(server);
    const kept = await push(server, 'gc/interval-kept', 404);
    const dropped = await push(server, 'gc/interval-dropped', 505);
    await deleteTag(server, 'gc/interval-dropped', 'v1');
    // Polled until the schedule's next run has removed them (the test's timeout bounds the wait).
    const layer = blobFile(dataDir, dropped.images[0]!.layers[0]!.digest);
    while (await exists(layer)) await new Promise((resolve) => setTimeout(resolve, 200));
    for (const digest of imageBlobs(dropped)) expect(await exists(blobFile(dataDir, digest)), digest).toBe(false);
    expect(server.logs()).toMatch(/garbage collection: [1-9]\d* blobs/);
    await expectPullsCompletely(server, 'gc/interval-kept', kept);
    // SIGTERM stops the schedule before the stores close: a clean exit.
    servers.splice(servers.indexOf(server), 1);
    await server.stop();
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  it('meets a collection another process runs with an info line, not an error, and keeps serving', async () => {
    const dataDir = scratch.child('data');
    const other = await openSqliteMetadataStore({ filename: join(dataDir, 'berth.sqlite') });
    try {
      expect(await other.claimCollectorLease('another-instance', new Date(Date.now() + 600_000))).toBe(true);
      const server = await startBerth({ dataDir, args: ['--gc-interval', '200ms', '--gc-grace', '0', '--log-format', 'json'] });
      servers.push(server);
      while (!server.logs().includes('garbage collection skipped')) await new Promise((resolve) => setTimeout(resolve, 100));
      const skipped = server
        .logs()
        .split('\n')
        .filter((line) => line.includes('garbage collection skipped'))
        .map((line) => JSON.parse(line) as { level: number; msg: string });
      expect(skipped[0]).toMatchObject({ level: 30, msg: 'garbage collection skipped: another collection is running' });
      expect(server.logs()).not.toContain('garbage collection failed');
      const pushed = await push(server, 'gc/while-leased', 606);
      await expectPullsCompletely(server, 'gc/while-leased', pushed);
    } finally {
      await other.close();
    }
  });
});
