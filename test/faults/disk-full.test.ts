// Full disks, for real: small tmpfs mounts the test makes (it needs root; without it the suite is
// skipped and says why). A push that does not fit is answered 507 UNAVAILABLE "the registry's storage
// is full", logged once at error level with a message to alert on, leaves nothing behind, and the same
// push works once there is room. Under the blobs, and under the SQLite file, which must stay intact.
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobFiles,
  completeUpload,
  entries,
  firstError,
  getBlob,
  getManifest,
  imageConfig,
  imageManifest,
  patchChunk,
  pushBlob,
  pushManifest,
  send,
  sha256Digest,
  sqliteIntegrity,
  startUpload,
  uploadOffset,
  type Answer,
} from '../support/faults-registry.js';
import { errorLines, requestLines, startFaultServer, type FaultServer, type LogLine } from '../support/faults-server.js';
import { fillLeaving, freeBytes, mountTmpfs, tmpfsUnavailable, type Tmpfs } from '../support/faults-tmpfs.js';
import { seededRandom } from '../support/random.js';
import { createScratch, type Scratch } from '../support/scratch.js';

const MiB = 1024 * 1024;
const STORAGE_FULL = { code: 'UNAVAILABLE', message: "the registry's storage is full" };
const ALERT_MESSAGE = 'registry storage is full';

const unavailable = await tmpfsUnavailable();
if (unavailable !== undefined) console.warn(`disk-full suite skipped: ${unavailable}`);

function randomBytes(size: number, seed: number): Buffer {
  const next = seededRandom(seed);
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = Math.floor(next() * 256);
  return bytes;
}

function expectStorageFull(answer: Answer): void {
  expect(answer.status, answer.body.toString()).toBe(507);
  expect(firstError(answer)).toEqual(STORAGE_FULL);
}

/**
 * The lines refused requests (507) to one method and URL left in the log: their request lines and the
 * error lines naming them. The request line is written last, when the response has gone out.
 */
async function refusedRequestLines(server: FaultServer, method: string, url: string): Promise<{ request: LogLine[]; errors: LogLine[] }> {
  await server.waitForLine((line) => line['method'] === method && line['url'] === url && line['status'] === 507 && 'ms' in line);
  const all = server.lines().filter((line) => line['method'] === method && line['url'] === url && line['status'] === 507);
  return { request: requestLines(all), errors: errorLines(all) };
}

describe.skipIf(unavailable !== undefined)('the blob filesystem runs full', () => {
  let scratch: Scratch;
  let blobsFs: Tmpfs;
  let server: FaultServer;
  let filler: string;
  let blobRoot: string;

  beforeAll(async () => {
    scratch = await createScratch('berth-faults-blobs-full-');
    const dataDir = scratch.child('data');
    blobRoot = join(dataDir, 'blobs');
    // The blob store's root on 8 MiB of its own; the SQLite file stays on the ordinary disk.
    blobsFs = await mountTmpfs(blobRoot, '8m');
    filler = join(blobRoot, 'filler');
    server = await startFaultServer(dataDir);
  });

  afterAll(async () => {
    await server?.stop();
    await blobsFs?.unmount();
    await scratch?.dispose();
  });

  const earlier = randomBytes(1 * MiB, 11);

  it('a monolithic push that does not fit: 507, logged once, nothing left, and it works once there is room', async () => {
    expect((await pushBlob(server.url, 'full/blobs', earlier)).status).toBe(201);

    await fillLeaving(filler, 3 * MiB);
    const freeBefore = await freeBytes(blobRoot);
    const big = randomBytes(4 * MiB, 12);
    const digest = sha256Digest(big);
    expectStorageFull(await pushBlob(server.url, 'full/blobs', big));

    const url = `/v2/full/blobs/blobs/uploads/?digest=${digest}`;
    const { request, errors } = await refusedRequestLines(server, 'POST', url);
    expect(request).toHaveLength(1);
    expect(request[0]).toMatchObject({ level: 30, status: 507 });
    expect(errors, JSON.stringify(errors)).toHaveLength(1);
    expect(errors[0]).toMatchObject({ level: 50, msg: ALERT_MESSAGE, status: 507, err: { code: 'ENOSPC' } });

    // Nothing partial: no blob, no upload, no staging left, and the space is back.
    expect((await send(`${server.url}/v2/full/blobs/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
    expect((await blobFiles(blobRoot)).map((file) => file.named)).toEqual([sha256Digest(earlier)]);
    expect(await entries(join(blobRoot, 'uploads'))).toEqual([]);
    expect(await entries(join(blobRoot, 'tmp'))).toEqual([]);
    expect(await freeBytes(blobRoot)).toBeGreaterThanOrEqual(freeBefore - 64 * 1024);

    await rm(filler);
    expect((await pushBlob(server.url, 'full/blobs', big)).status).toBe(201);
    expect(sha256Digest((await getBlob(server.url, 'full/blobs', digest)).body)).toBe(digest);
  });

  it('a chunk that does not fit: 507, the upload stays at its last acknowledged offset and resumes once there is room', async () => {
    await fillLeaving(filler, 1 * MiB);
    const first = randomBytes(MiB / 2, 13);
    const second = randomBytes(1 * MiB, 14);
    const location = await startUpload(server.url, 'full/chunks');
    expect((await patchChunk(server.url, location, first, 0)).status).toBe(202);
    expectStorageFull(await patchChunk(server.url, location, second, first.byteLength));

    const { errors } = await refusedRequestLines(server, 'PATCH', location);
    expect(errors, JSON.stringify(errors)).toHaveLength(1);
    expect(errors[0]).toMatchObject({ msg: ALERT_MESSAGE, err: { code: 'ENOSPC' } });
    // What the chunk wrote is gone; status and disk agree on the acknowledged offset.
    expect(await uploadOffset(server.url, location)).toBe(first.byteLength);
    const id = location.split('/').pop()!;
    expect((await stat(join(blobRoot, 'uploads', id, 'data'))).size).toBe(first.byteLength);

    await rm(filler);
    expect((await patchChunk(server.url, location, second, first.byteLength)).status).toBe(202);
    const whole = Buffer.concat([first, second]);
    expect((await completeUpload(server.url, location, sha256Digest(whole))).status).toBe(201);
    expect(sha256Digest((await getBlob(server.url, 'full/chunks', sha256Digest(whole))).body)).toBe(sha256Digest(whole));
  });

  it('kept every blob whole and logged no fault', async () => {
    for (const file of await blobFiles(blobRoot)) expect(file.actual, file.path).toBe(file.named);
    expect(sha256Digest((await getBlob(server.url, 'full/blobs', sha256Digest(earlier))).body)).toBe(sha256Digest(earlier));
    const lines = server.lines();
    // One error line per refused request, all of them the alert, none a 500.
    expect(errorLines(lines).map((line) => line.msg)).toEqual([ALERT_MESSAGE, ALERT_MESSAGE]);
    expect(requestLines(lines).filter((line) => line['status'] === 500)).toEqual([]);
  });
});

describe.skipIf(unavailable !== undefined)('the SQLite file\'s filesystem runs full', () => {
  let scratch: Scratch;
  let dataFs: Tmpfs;
  let blobsFs: Tmpfs;
  let server: FaultServer;
  let dataDir: string;
  let database: string;
  let filler: string;

  const config = imageConfig('sqlite-full');
  const layer = randomBytes(200_000, 21);
  const refs = { config: { digest: sha256Digest(config), size: config.byteLength }, layer: { digest: sha256Digest(layer), size: layer.byteLength } };
  const v1 = imageManifest(refs.config, [refs.layer], { version: '1' });
  // A 512 KiB annotation (stored twice: in the manifest and its annotations), more than the room the filler leaves.
  const big = imageManifest(refs.config, [refs.layer], { version: 'big', padding: 'x'.repeat(MiB / 2) });
  const v2 = imageManifest(refs.config, [refs.layer], { version: '2' });

  beforeAll(async () => {
    scratch = await createScratch('berth-faults-sqlite-full-');
    dataDir = scratch.child('data');
    database = join(dataDir, 'berth.sqlite');
    filler = join(dataDir, 'filler');
    // The standalone keeps the SQLite file in the data directory and the blobs in <data>/blobs: two
    // mounts put the database on 8 MiB of its own and the blobs on a roomy one.
    dataFs = await mountTmpfs(dataDir, '8m');
    blobsFs = await mountTmpfs(join(dataDir, 'blobs'), '64m');
    server = await startFaultServer(dataDir);
  });

  afterAll(async () => {
    await server?.stop();
    await blobsFs?.unmount();
    await dataFs?.unmount();
    await scratch?.dispose();
  });

  it('a manifest the database has no room for: 507, logged once, the database intact and readable', async () => {
    expect((await pushBlob(server.url, 'full/db', config)).status).toBe(201);
    expect((await pushBlob(server.url, 'full/db', layer)).status).toBe(201);
    expect((await pushManifest(server.url, 'full/db', 'v1', v1)).status).toBe(201);

    await fillLeaving(filler, 256 * 1024);
    expectStorageFull(await pushManifest(server.url, 'full/db', 'big', big));
    const { request, errors } = await refusedRequestLines(server, 'PUT', '/v2/full/db/manifests/big');
    expect(request).toHaveLength(1);
    expect(request[0]).toMatchObject({ status: 507 });
    expect(errors, JSON.stringify(errors)).toHaveLength(1);
    expect(errors[0]).toMatchObject({ level: 50, msg: ALERT_MESSAGE, status: 507 });
    expect(String((errors[0]!['err'] as { code?: unknown }).code)).toMatch(/^SQLITE_(FULL|IOERR)/);

    // Still full: what was there reads as before, nothing of the refused push is there, the file is intact.
    const pulled = await getManifest(server.url, 'full/db', 'v1');
    expect(pulled.status).toBe(200);
    expect(pulled.body.equals(v1)).toBe(true);
    expect((await getManifest(server.url, 'full/db', 'big')).status).toBe(404);
    expect((await getManifest(server.url, 'full/db', sha256Digest(big))).status).toBe(404);
    expect(sqliteIntegrity(database)).toBe('ok');
  });

  it('takes the same push once there is room, and the file survives a restart intact', async () => {
    await rm(filler);
    expect((await pushManifest(server.url, 'full/db', 'big', big)).status).toBe(201);
    expect((await getManifest(server.url, 'full/db', 'big')).body.equals(big)).toBe(true);

    expect(await server.stop()).toBe(0);
    expect(sqliteIntegrity(database)).toBe('ok');
    const firstLife = server.lines();
    expect(errorLines(firstLife).map((line) => line.msg)).toEqual([ALERT_MESSAGE]);
    expect(requestLines(firstLife).filter((line) => line['status'] === 500)).toEqual([]);

    server = await startFaultServer(dataDir);
    expect((await getManifest(server.url, 'full/db', 'v1')).body.equals(v1)).toBe(true);
    expect((await getManifest(server.url, 'full/db', 'big')).body.equals(big)).toBe(true);
    expect((await pushManifest(server.url, 'full/db', 'v2', v2)).status).toBe(201);
    expect((await getManifest(server.url, 'full/db', 'v2')).body.equals(v2)).toBe(true);
    const tags = JSON.parse((await send(`${server.url}/v2/full/db/tags/list`)).body.toString()) as { tags: string[] };
    expect(tags.tags.sort()).toEqual(['big', 'v1', 'v2']);
  });
});
