// Crash safety with a real kill -9 of the built standalone server at the moments that matter: mid
// monolithic PUT, between and mid PATCH chunks, under 20 concurrent pushers, and during 150 racing
// manifest PUTs to one tag. Each time the server is restarted on the same data directory, and the
// API and the disk must agree: no partial blob is visible, every acknowledged push pulls completely
// with its digest, a chunked upload resumes from what its status says (exactly the last acknowledged
// offset between chunks), the tag points at a manifest that was pushed whole, and the SQLite file is intact.
import { randomBytes, randomInt } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobFiles,
  completeUpload,
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
} from '../support/faults-registry.js';
import { startFaultServer, type FaultServer } from '../support/faults-server.js';
import { createScratch, type Scratch } from '../support/scratch.js';

const MiB = 1024 * 1024;

let scratch: Scratch;
const servers = new Set<FaultServer>();

beforeAll(async () => {
  scratch = await createScratch('berth-faults-crash-');
});

afterAll(async () => {
  await Promise.all([...servers].map((server) => server.kill9()));
  await scratch?.dispose();
});

async function start(dataDir: string): Promise<FaultServer> {
  const server = await startFaultServer(dataDir);
  servers.add(server);
  return server;
}

/** A body sent a little at a time, so that a kill lands in the middle of it. */
async function* trickle(bytes: Buffer, chunk = 256 * 1024, pauseMs = 2): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < bytes.byteLength; offset += chunk) {
    yield bytes.subarray(offset, offset + chunk);
    await sleep(pauseMs);
  }
}

/** Waits until an upload's data file (the given one, or any but `except`) holds at least `bytes`; returns its id. */
async function uploadReaching(blobRoot: string, bytes: number, which: { id?: string; except?: string }): Promise<string> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const ids = which.id !== undefined ? [which.id] : await readdir(join(blobRoot, 'uploads')).catch(() => [] as string[]);
    for (const id of ids) {
      if (id === which.except) continue;
      const size = await stat(join(blobRoot, 'uploads', id, 'data')).then((info) => info.size, () => 0);
      if (size >= bytes) return id;
    }
    await sleep(2);
  }
  throw new Error(`no upload reached ${bytes} bytes`);
}

async function expectEveryBlobFileWhole(blobRoot: string): Promise<void> {
  for (const file of await blobFiles(blobRoot)) expect(file.actual, `${file.path} holds other bytes than its name says`).toBe(file.named);
}

async function expectPullsWhole(server: FaultServer, repository: string, bytes: Buffer): Promise<void> {
  const digest = sha256Digest(bytes);
  const pulled = await getBlob(server.url, repository, digest);
  expect(pulled.status, `${repository}@${digest}`).toBe(200);
  expect(sha256Digest(pulled.body)).toBe(digest);
  expect(pulled.headers['docker-content-digest']).toBe(digest);
}

describe('kill -9 of the standalone server', () => {
  it('mid monolithic PUT and mid POST ?digest=: nothing visible after the restart, the PUT resumes from its status', async () => {
    const dataDir = scratch.child('monolithic');
    const blobRoot = join(dataDir, 'blobs');
    let server = await start(dataDir);
    const put = randomBytes(16 * MiB);
    const post = randomBytes(16 * MiB);

    const location = await startUpload(server.url, 'crash/put');
    const putId = location.split('/').pop()!;
    const putting = send(`${server.url}${location}?digest=${sha256Digest(put)}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(put.byteLength) },
      body: trickle(put),
    });
    const posting = send(`${server.url}/v2/crash/post/blobs/uploads/?digest=${sha256Digest(post)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(post.byteLength) },
      body: trickle(post),
    });
    putting.catch(() => undefined);
    posting.catch(() => undefined);
    await uploadReaching(blobRoot, 2 * MiB, { id: putId });
    await uploadReaching(blobRoot, 2 * MiB, { except: putId });
    await server.kill9();
    await expect(putting).rejects.toThrow();
    await expect(posting).rejects.toThrow();

    server = await start(dataDir);
    for (const [repository, bytes] of [['crash/put', put], ['crash/post', post]] as const) {
      const head = await send(`${server.url}/v2/${repository}/blobs/${sha256Digest(bytes)}`, { method: 'HEAD' });
      expect(head.status, repository).toBe(404);
    }
    expect(await blobFiles(blobRoot)).toEqual([]);

    // The PUT's upload holds a prefix of what was sent; its status says how much, and the client goes on from there.
    const offset = await uploadOffset(server.url, location);
    expect(offset).toBeGreaterThanOrEqual(2 * MiB);
    expect(offset).toBeLessThan(put.byteLength);
    expect((await readFile(join(blobRoot, 'uploads', putId, 'data'))).equals(put.subarray(0, offset))).toBe(true);
    expect((await patchChunk(server.url, location, put.subarray(offset), offset)).status).toBe(202);
    expect((await completeUpload(server.url, location, sha256Digest(put))).status).toBe(201);
    await expectPullsWhole(server, 'crash/put', put);

    // The POST's client never learned an upload id: it pushes again.
    expect((await pushBlob(server.url, 'crash/post', post)).status).toBe(201);
    await expectPullsWhole(server, 'crash/post', post);
    await expectEveryBlobFileWhole(blobRoot);
    expect(await server.stop()).toBe(0);
    expect(sqliteIntegrity(join(dataDir, 'berth.sqlite'))).toBe('ok');
  });

  it('between PATCH chunks the upload resumes from the last acknowledged offset; mid-chunk, from what its status says', async () => {
    const dataDir = scratch.child('chunked');
    const blobRoot = join(dataDir, 'blobs');
    let server = await start(dataDir);
    const whole = randomBytes(12 * MiB);
    const location = await startUpload(server.url, 'crash/chunks');
    const id = location.split('/').pop()!;

    // Two chunks acknowledged, then the kill, before the client sends the next one.
    expect((await patchChunk(server.url, location, whole.subarray(0, MiB), 0)).status).toBe(202);
    const second = await patchChunk(server.url, location, whole.subarray(MiB, 2 * MiB), MiB);
    expect(second.status).toBe(202);
    expect(second.headers.range).toBe(`0-${2 * MiB - 1}`);
    await server.kill9();

    server = await start(dataDir);
    const status = await send(`${server.url}${location}`);
    expect(status.status).toBe(204);
    expect(status.headers.range).toBe(`0-${2 * MiB - 1}`);
    expect((await stat(join(blobRoot, 'uploads', id, 'data'))).size).toBe(2 * MiB);
    expect((await patchChunk(server.url, location, whole.subarray(2 * MiB, 3 * MiB), 2 * MiB)).status).toBe(202);

    // Now a kill in the middle of a chunk: what arrived of it may stay, as a prefix, and the status says so.
    const cut = send(`${server.url}${location}`, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${3 * MiB}-${whole.byteLength - 1}`, 'Content-Length': String(whole.byteLength - 3 * MiB) },
      body: trickle(whole.subarray(3 * MiB)),
    });
    cut.catch(() => undefined);
    await uploadReaching(blobRoot, 4 * MiB, { id });
    await server.kill9();
    await expect(cut).rejects.toThrow();

    server = await start(dataDir);
    const offset = await uploadOffset(server.url, location);
    expect(offset).toBeGreaterThanOrEqual(3 * MiB);
    expect(offset).toBeLessThan(whole.byteLength);
    expect((await readFile(join(blobRoot, 'uploads', id, 'data'))).equals(whole.subarray(0, offset))).toBe(true);
    expect((await patchChunk(server.url, location, whole.subarray(offset), offset)).status).toBe(202);
    expect((await completeUpload(server.url, location, sha256Digest(whole))).status).toBe(201);
    await expectPullsWhole(server, 'crash/chunks', whole);
    await expectEveryBlobFileWhole(blobRoot);
    expect(await server.stop()).toBe(0);
  });

  it('under 20 concurrent pushers: every acknowledged push pulls whole, nothing else is visible half-made', async () => {
    const dataDir = scratch.child('pushers');
    const blobRoot = join(dataDir, 'blobs');
    let server = await start(dataDir);
    const url = server.url;

    interface Attempt {
      repository: string;
      kind: 'blob' | 'manifest';
      bytes: Buffer;
      digest: string;
      tag?: string;
      acked: boolean;
    }
    const attempts: Attempt[] = [];
    const attempt = (entry: Omit<Attempt, 'acked' | 'digest'>): Attempt => {
      const made = { ...entry, digest: sha256Digest(entry.bytes), acked: false };
      attempts.push(made);
      return made;
    };

    /** A blob in three requests (start, two PATCHes, PUT); true once the PUT is answered 201. */
    const pushChunked = async (repository: string, bytes: Buffer): Promise<boolean> => {
      const location = await startUpload(url, repository);
      const half = Math.floor(bytes.byteLength / 2);
      if ((await patchChunk(url, location, bytes.subarray(0, half), 0)).status !== 202) return false;
      if ((await patchChunk(url, location, bytes.subarray(half), half)).status !== 202) return false;
      return (await completeUpload(url, location, sha256Digest(bytes))).status === 201;
    };

    let pushing = true;
    const pusher = async (p: number): Promise<void> => {
      const repository = `crowd/p${p}`;
      await sleep(randomInt(200)); // not all in step
      for (let i = 0; pushing; i++) {
        try {
          const config = attempt({ repository, kind: 'blob', bytes: imageConfig(`p${p}-${i}`) });
          config.acked = (await pushBlob(url, repository, config.bytes)).status === 201;
          // 64 KiB to 2 MiB, so that the pushers soon drift apart.
          const layer = attempt({ repository, kind: 'blob', bytes: randomBytes(64 * 1024 + randomInt(2 * MiB - 64 * 1024)) });
          layer.acked = (p + i) % 2 === 0 ? await pushChunked(repository, layer.bytes) : (await pushBlob(url, repository, layer.bytes)).status === 201;
          if (!config.acked || !layer.acked) return;
          const manifest = attempt({
            repository,
            kind: 'manifest',
            tag: `t${i}`,
            bytes: imageManifest({ digest: config.digest, size: config.bytes.byteLength }, [{ digest: layer.digest, size: layer.bytes.byteLength }]),
          });
          manifest.acked = (await pushManifest(url, repository, manifest.tag!, manifest.bytes)).status === 201;
        } catch {
          return; // the server is gone
        }
      }
    };
    const running = Array.from({ length: 20 }, (_, p) => pusher(p));
    // Well into the pushing, at a moment of chance: every pusher has a request in flight when the kill comes.
    const killAfter = 20 + randomInt(20);
    while (attempts.filter((entry) => entry.kind === 'manifest' && entry.acked).length < killAfter) await sleep(1);
    await server.kill9();
    pushing = false;
    await Promise.all(running);

    server = await start(dataDir);
    const acked = attempts.filter((entry) => entry.acked);
    const unacked = attempts.filter((entry) => !entry.acked);
    expect(acked.filter((entry) => entry.kind === 'manifest').length).toBeGreaterThanOrEqual(20);
    expect(unacked.length).toBeGreaterThanOrEqual(20);

    for (const entry of acked) {
      if (entry.kind === 'blob') {
        await expectPullsWhole(server, entry.repository, entry.bytes);
      } else {
        for (const reference of [entry.tag!, entry.digest]) {
          const pulled = await getManifest(server.url, entry.repository, reference);
          expect(pulled.status, `${entry.repository}:${reference}`).toBe(200);
          expect(pulled.body.equals(entry.bytes)).toBe(true);
        }
      }
    }
    // What was in flight is either not there at all or there whole (committed just before the kill).
    for (const entry of unacked) {
      if (entry.kind === 'blob') {
        const head = await send(`${server.url}/v2/${entry.repository}/blobs/${entry.digest}`, { method: 'HEAD' });
        expect([200, 404]).toContain(head.status);
        if (head.status === 200) await expectPullsWhole(server, entry.repository, entry.bytes);
      } else {
        const pulled = await getManifest(server.url, entry.repository, entry.tag!);
        expect([200, 404]).toContain(pulled.status);
        if (pulled.status === 200) expect(pulled.body.equals(entry.bytes)).toBe(true);
      }
    }
    await expectEveryBlobFileWhole(blobRoot);

    // And it takes pushes again.
    const config = imageConfig('after');
    expect((await pushBlob(server.url, 'crowd/after', config)).status).toBe(201);
    const manifest = imageManifest({ digest: sha256Digest(config), size: config.byteLength }, []);
    expect((await pushManifest(server.url, 'crowd/after', 'latest', manifest)).status).toBe(201);
    expect(await server.stop()).toBe(0);
    expect(sqliteIntegrity(join(dataDir, 'berth.sqlite'))).toBe('ok');
  });

  it('during 150 racing manifest PUTs to one tag: the tag points at one that was pushed whole, every acknowledged one pulls', async () => {
    const dataDir = scratch.child('race');
    let server = await start(dataDir);
    const repository = 'race/app';
    const config = imageConfig('race');
    const layer = randomBytes(100_000);
    expect((await pushBlob(server.url, repository, config)).status).toBe(201);
    expect((await pushBlob(server.url, repository, layer)).status).toBe(201);
    const refs = { config: { digest: sha256Digest(config), size: config.byteLength }, layer: { digest: sha256Digest(layer), size: layer.byteLength } };
    const manifests = Array.from({ length: 150 }, (_, n) => imageManifest(refs.config, [refs.layer], { n: String(n) }));
    const byDigest = new Map(manifests.map((bytes) => [sha256Digest(bytes), bytes]));

    // Each PUT's outcome: 'acked' (201), 'lost' (no answer: the kill), or the status it was refused with.
    const outcomes = new Map<string, string>();
    const url = server.url;
    const racing = manifests.map(async (bytes) => {
      const digest = sha256Digest(bytes);
      try {
        const answer = await pushManifest(url, repository, 'race', bytes);
        outcomes.set(digest, answer.status === 201 ? 'acked' : `status ${answer.status}`);
      } catch {
        outcomes.set(digest, 'lost');
      }
    });
    while ([...outcomes.values()].filter((outcome) => outcome === 'acked').length < 30) await sleep(0);
    await server.kill9();
    await Promise.all(racing);
    const acked = [...outcomes].filter(([, outcome]) => outcome === 'acked').map(([digest]) => digest);
    expect(acked.length).toBeGreaterThanOrEqual(30);
    expect([...outcomes.values()].filter((outcome) => outcome === 'lost').length, 'some PUTs were in flight at the kill').toBeGreaterThan(0);
    // Shedding load (503, 429) is allowed; any other refusal is not.
    expect([...outcomes.values()].filter((outcome) => !['acked', 'lost', 'status 503', 'status 429'].includes(outcome))).toEqual([]);

    server = await start(dataDir);
    const tagged = await getManifest(server.url, repository, 'race');
    expect(tagged.status).toBe(200);
    const digest = String(tagged.headers['docker-content-digest']);
    expect(sha256Digest(tagged.body)).toBe(digest);
    expect(byDigest.get(digest)?.equals(tagged.body)).toBe(true);
    // An acknowledged one, or one whose 201 the kill swallowed (committed, the answer never out): never a refused one.
    expect(['acked', 'lost']).toContain(outcomes.get(digest));
    for (const ackedDigest of acked) {
      const pulled = await getManifest(server.url, repository, ackedDigest);
      expect(pulled.status).toBe(200);
      expect(pulled.body.equals(byDigest.get(ackedDigest)!)).toBe(true);
    }
    const tags = JSON.parse((await send(`${server.url}/v2/${repository}/tags/list`)).body.toString()) as { tags: string[] };
    expect(tags.tags).toEqual(['race']);
    expect(await server.stop()).toBe(0);
    expect(sqliteIntegrity(join(dataDir, 'berth.sqlite'))).toBe('ok');
  });
});
