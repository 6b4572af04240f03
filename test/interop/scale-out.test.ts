// The deployed shape: three stateless berth instances (each its own empty --data dir) on one PostgreSQL
// database and one S3 bucket (a real Swift), behind Debian's nginx doing round robin. Every request of the
// file goes through the balancer, so consecutive requests of one client land on different instances:
// skopeo pushes and pulls every manifest format, 20 skopeo pushes sharing layers race each other, a chunked
// upload hops between instances (the instances' own request logs show it), an instance is killed with
// SIGKILL while it is receiving a layer and skopeo's retry finishes the push through the others. Afterwards
// PostgreSQL and the bucket agree: every blob the database knows is in the bucket with its size, every
// object under blobs/ hashes to its name, and nothing under uploads/ is left that no live session owns.
import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BucketView } from '../../packages/blobs-s3/test/support/bucket.js';
import { sharedSwift, type SwiftS3 } from '../../packages/blobs-s3/test/support/swift.js';
import { adminQuery, createScratchDatabase, type ScratchDatabase } from '../../packages/storage-postgres/src/testing.js';
import { readDirImage, readOciLayout } from '../support/image-readback.js';
import { startNginx, type RunningNginx } from '../support/nginx.js';
import { generateImage, MediaType, REF_NAME_ANNOTATION, sha256Digest, writeImageLayout, writeMultiArchLayout, type Blob } from '../support/oci-image.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { BERTH_MAIN, REPO_ROOT, watch, type ProcessExit } from '../support/servers.js';
import { createSkopeo, dockerRef, type Skopeo } from '../support/skopeo.js';

const run = promisify(execFile);
const MIB = 1024 * 1024;

/** One line of an instance's request log (examples/standalone/src/request-log.ts). */
interface RequestLine {
  method: string;
  url: string;
  status: number;
}

interface Instance {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly pid: number;
  readonly requests: RequestLine[];
  readonly exited: Promise<ProcessExit>;
  stop(): Promise<void>;
}

let database: ScratchDatabase;
let swift: SwiftS3;
let view: BucketView;
let scratch: Scratch;
let skopeo: Skopeo;
let instances: Instance[] = [];
let nginx: RunningNginx;

/** Starts the built CLI with an empty data dir of its own, the shared database and the shared bucket prefix. */
async function startInstance(name: string): Promise<Instance> {
  const dataDir = scratch.child(`data-${name}`);
  const args = [
    ...['--host', '127.0.0.1', '--port', '0', '--data', dataDir, '--log-format', 'json', '--database', database.url],
    ...['--s3-bucket', swift.bucket, '--s3-prefix', view.prefix, '--s3-endpoint', swift.endpoint, '--s3-region', swift.region, '--s3-force-path-style'],
  ];
  const child = spawn(process.execPath, [BERTH_MAIN, ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AWS_ACCESS_KEY_ID: swift.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: swift.credentials.secretAccessKey },
  });
  const requests: RequestLine[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    const entry = JSON.parse(line) as Partial<RequestLine>;
    if (typeof entry.method === 'string' && typeof entry.url === 'string' && typeof entry.status === 'number') {
      requests.push({ method: entry.method, url: entry.url, status: entry.status });
    }
  });
  const exited = new Promise<ProcessExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const watched = watch(child, `berth ${name}`);
  const url = await watched.waitForLine((line) => /listening on (http:\/\/[^\s"']+)/.exec(line)?.[1]);
  const address = new URL(url).host;
  return { name, address, port: Number(new URL(url).port), pid: child.pid!, requests, exited, stop: watched.stop };
}

beforeAll(async () => {
  [database, swift, scratch, skopeo] = await Promise.all([createScratchDatabase(), sharedSwift(), createScratch('berth-scale-out-'), createSkopeo()]);
  view = new BucketView(swift, `scale-out-${randomUUID()}/`);
  // All three at once: their migrations of the empty database take turns.
  instances = await Promise.all(['a', 'b', 'c'].map(startInstance));
  nginx = await startNginx(instances.map((instance) => instance.address));
});

afterAll(async () => {
  if (nginx !== undefined) await nginx.stop();
  for (const instance of instances) await instance.stop();
  await view?.empty();
  view?.close();
  await skopeo?.dispose();
  await database?.drop();
  await scratch?.dispose();
});

const ref = (repository: string, reference?: string) => dockerRef(nginx.host, repository, reference);
const sql = <T>(query: string) => adminQuery<T>(query, [], database.url);

/** Waits for an instance's request line (written once the response is out) matching `match`. */
async function loggedRequests(match: (line: RequestLine) => boolean, atLeast: number): Promise<Array<{ instance: string; line: RequestLine }>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = instances.flatMap((instance) => instance.requests.filter(match).map((line) => ({ instance: instance.name, line })));
    if (found.length >= atLeast || Date.now() > deadline) return found;
    await sleep(50);
  }
}

/** An OCI image layout of one image made of the given layers (which may be shared with other layouts). */
async function writeLayoutOf(dir: string, tag: string, layers: readonly Blob[], label: string): Promise<{ ref: string; manifest: Blob; config: Blob }> {
  const descriptor = (blob: Blob) => ({ mediaType: blob.mediaType, digest: blob.digest, size: blob.size });
  const blobOf = (mediaType: string, bytes: Buffer): Blob => ({ mediaType, digest: sha256Digest(bytes), size: bytes.length, bytes });
  const config = blobOf(
    MediaType.ociConfig,
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { label } }, rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.digest) } })),
  );
  const manifest = blobOf(
    MediaType.ociManifest,
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: descriptor(config), layers: layers.map(descriptor) })),
  );
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const blob of [config, manifest, ...layers]) await writeFile(join(dir, 'blobs', 'sha256', blob.digest.slice('sha256:'.length)), blob.bytes);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...descriptor(manifest), annotations: { [REF_NAME_ANNOTATION]: tag } }] }),
  );
  return { ref: `oci:${dir}:${tag}`, manifest, config };
}

/** The most body bytes an open connection to `port` has received so far (nginx opens one per request). */
async function bytesBeingReceived(port: number): Promise<number> {
  const { stdout } = await run('ss', ['-Htni', 'state', 'established', `( sport = :${port} )`]);
  return Math.max(0, ...[...stdout.matchAll(/bytes_received:(\d+)/g)].map((match) => Number(match[1])));
}

describe('three instances on PostgreSQL and Swift behind nginx', () => {
  it('pushes and pulls every manifest format through the balancer', async () => {
    // OCI image, as is.
    const oci = await writeImageLayout({ dir: scratch.child('oci'), layers: 3, seed: 701, tag: 'v1' });
    expect((await skopeo.copy(oci.ref, ref('scale/oci', 'v1'), { format: 'oci' })).digest).toBe(oci.root.digest);
    const ociBack = scratch.child('oci-back');
    await skopeo.copy(ref('scale/oci', 'v1'), `oci:${ociBack}:v1`);
    const ociPulled = await readOciLayout(ociBack, 'v1');
    expect(ociPulled.manifest.equals(oci.root.bytes)).toBe(true);
    for (const [digest, bytes] of oci.blobs) expect(ociPulled.blobs.get(digest)?.equals(bytes), digest).toBe(true);

    // Docker schema 2 and signed schema 1, converted by skopeo: what comes back is what it pushed.
    for (const format of ['v2s2', 'v2s1'] as const) {
      const layout = await writeImageLayout({ dir: scratch.child(format), layers: 2, seed: format === 'v2s2' ? 702 : 703, tag: 'v1' });
      const pushed = await skopeo.copy(layout.ref, ref(`scale/${format}`, 'v1'), { format });
      const back = scratch.child(`${format}-back`);
      expect((await skopeo.copy(ref(`scale/${format}`, 'v1'), `dir:${back}`)).digest, format).toBe(pushed.digest);
      const pulled = await readDirImage(back);
      for (const layer of layout.images[0]!.layers) expect(pulled.blobs.get(layer.digest)?.equals(layer.bytes), `${format} ${layer.digest}`).toBe(true);
    }

    // A multi-arch OCI index with both images.
    const multi = await writeMultiArchLayout({ dir: scratch.child('multi'), layers: 2, seed: 704, tag: 'multi' });
    expect((await skopeo.copy(multi.ref, ref('scale/multi', 'multi'), { all: true })).digest).toBe(multi.root.digest);
    const multiBack = scratch.child('multi-back');
    await skopeo.copy(ref('scale/multi', 'multi'), `oci:${multiBack}:multi`, { all: true });
    const multiPulled = await readOciLayout(multiBack, 'multi');
    expect(multiPulled.manifest.equals(multi.root.bytes)).toBe(true);
    for (const [digest, bytes] of multi.blobs) expect(multiPulled.blobs.get(digest)?.equals(bytes), digest).toBe(true);

    // The balancer spread the work: every instance took blob uploads and manifest reads.
    for (const instance of instances) {
      expect(instance.requests.some((line) => line.method === 'PUT' && line.url.includes('/blobs/uploads/')), instance.name).toBe(true);
      expect(instance.requests.some((line) => line.method === 'GET' && line.url.includes('/manifests/')), instance.name).toBe(true);
    }
  });

  it('takes 20 concurrent skopeo pushes sharing two layers and loses none', async () => {
    const base = generateImage({ layers: 2, seed: 800 }).layers;
    const builds = await Promise.all(
      Array.from({ length: 20 }, async (_, index) => {
        const tag = `build-${String(index).padStart(2, '0')}`;
        const own = generateImage({ layers: 1, seed: 801 + index }).layers[0]!;
        return { tag, layers: [...base, own], ...(await writeLayoutOf(scratch.child(tag), tag, [...base, own], tag)) };
      }),
    );
    const pushed = await Promise.all(builds.map((build) => skopeo.copy(build.ref, ref('scale/builds', build.tag), { format: 'oci' })));
    expect(pushed.map((result) => result.digest)).toEqual(builds.map((build) => build.manifest.digest));

    const tags = await fetch(`${nginx.url}/v2/scale/builds/tags/list`);
    expect(await tags.json()).toEqual({ name: 'scale/builds', tags: builds.map((build) => build.tag) });
    for (const build of builds) {
      const manifest = await fetch(`${nginx.url}/v2/scale/builds/manifests/${build.tag}`, { headers: { Accept: MediaType.ociManifest } });
      expect(Buffer.from(await manifest.arrayBuffer()).equals(build.manifest.bytes), build.tag).toBe(true);
      for (const blob of [build.config, ...build.layers]) {
        const got = await fetch(`${nginx.url}/v2/scale/builds/blobs/${blob.digest}`);
        expect(sha256Digest(Buffer.from(await got.arrayBuffer())), `${build.tag} ${blob.digest}`).toBe(blob.digest);
      }
    }
  });

  it('finishes a chunked upload whose PATCHes land on different instances', async () => {
    // A part's worth and more, then less than a part: multipart parts and staged objects both hop.
    const chunks = [randomBytes(6 * MIB), randomBytes(3 * MIB), randomBytes(4 * MIB), randomBytes(1000)];
    const content = Buffer.concat(chunks);
    const digest = sha256Digest(content);
    const begun = await fetch(`${nginx.url}/v2/scale/chunked/blobs/uploads/`, { method: 'POST' });
    expect(begun.status).toBe(202);
    let location = new URL(begun.headers.get('location')!, nginx.url);
    const uploadId = location.pathname.split('/').pop()!;
    let offset = 0;
    for (const chunk of chunks) {
      const patched = await fetch(location, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + chunk.length - 1}` },
        body: chunk,
      });
      expect(patched.status, await patched.clone().text()).toBe(202);
      offset += chunk.length;
      expect(patched.headers.get('range')).toBe(`0-${offset - 1}`);
      location = new URL(patched.headers.get('location')!, nginx.url);
      // Nothing of the blob is visible before the end (and this request moves the rotation on by one).
      expect((await fetch(`${nginx.url}/v2/scale/chunked/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
    }
    location.searchParams.set('digest', digest);
    expect((await fetch(location, { method: 'PUT' })).status).toBe(201);
    const blob = await fetch(`${nginx.url}/v2/scale/chunked/blobs/${digest}`);
    expect(sha256Digest(Buffer.from(await blob.arrayBuffer()))).toBe(digest);

    // The instances' own request logs: the PATCHes were answered 202 by more than one of them.
    const patches = await loggedRequests((line) => line.method === 'PATCH' && line.url.includes(uploadId), chunks.length);
    expect(patches.map((patch) => patch.line.status)).toEqual(chunks.map(() => 202));
    expect(new Set(patches.map((patch) => patch.instance)).size).toBeGreaterThan(1);
  });

  it('completes a push through the others when an instance is killed with SIGKILL while it receives a layer', async () => {
    // Stored (level 0) gzip of random bytes: a real gzip layer skopeo keeps as it is, big enough to be caught mid-flight.
    const bigBytes = gzipSync(randomBytes(64 * MIB), { level: 0 });
    const big: Blob = { mediaType: MediaType.ociLayerGzip, digest: sha256Digest(bigBytes), size: bigBytes.length, bytes: bigBytes };
    const small = generateImage({ layers: 1, seed: 900 }).layers[0]!;
    const layout = await writeLayoutOf(scratch.child('killed'), 'v1', [small, big], 'killed');

    let victim: Instance | undefined;
    let pushing = true;
    const watcher = (async () => {
      while (pushing && victim === undefined) {
        for (const instance of instances) {
          if ((await bytesBeingReceived(instance.port)) > 8 * MIB) {
            process.kill(instance.pid, 'SIGKILL');
            victim = instance;
            break;
          }
        }
        await sleep(20);
      }
    })();
    // skopeo retries a request cut with ECONNRESET by itself, but not one cut with EPIPE (its retry list, in
    // containers/common, lacks it): which of the two it sees depends on whether it was writing the body at that
    // instant. Then the client's retry is running the copy again, as CI would; either way it completes.
    const push = () => skopeo.copy(layout.ref, ref('scale/killed', 'v1'), { format: 'oci', retryTimes: 3 });
    const pushed = await push()
      .catch((error: unknown) => {
        if (!/broken pipe|connection reset|EOF/.test(String((error as Error).message))) throw error;
        console.log(`skopeo gave up on a cut connection (${String((error as Error).message).split('msg=')[1]?.slice(0, 120)}); copying again`);
        return push();
      })
      .finally(() => {
        pushing = false;
      });
    await watcher;
    expect(victim, 'no instance was caught receiving the layer').toBeDefined();
    expect(await victim!.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(pushed.digest).toBe(layout.manifest.digest);

    // The client saw the failure (the dead instance's PATCH failed, 502, and nginx closed the client's
    // connection, 444) and started over: more uploads were begun than the image has blobs.
    const access = await nginx.accessLog();
    expect(access.filter((line) => line.startsWith('PATCH /v2/scale/killed/') && line.endsWith(` 444 ${victim!.address} 502`))).toHaveLength(1);
    const begun = access.filter((line) => line.startsWith('POST /v2/scale/killed/blobs/uploads/'));
    expect(begun.length).toBeGreaterThan(2);

    const back = scratch.child('killed-back');
    await skopeo.copy(ref('scale/killed', 'v1'), `oci:${back}:v1`);
    const pulled = await readOciLayout(back, 'v1');
    expect(pulled.manifest.equals(layout.manifest.bytes)).toBe(true);
    expect(sha256Digest(pulled.blobs.get(big.digest)!)).toBe(big.digest);
    instances = instances.filter((instance) => instance !== victim);
  });

  it('leaves PostgreSQL and the bucket consistent with each other', async () => {
    const keys = await view.keys();

    // Every object under blobs/ is a whole, verified blob: its bytes, hashed again, give its name.
    const blobSizes = new Map<string, number>();
    for (const name of keys.filter((entry) => entry.startsWith('blobs/'))) {
      const bytes = (await view.read(name))!;
      expect(`blobs/${sha256Digest(bytes).replace(':', '/')}`).toBe(name);
      blobSizes.set(name.slice('blobs/'.length).replace('/', ':'), bytes.byteLength);
    }

    // Every blob the database knows (linked to a repository or recorded) is in the bucket with its size,
    // and the bucket holds no blob the database does not know.
    const known = await sql<{ digest: string; size: string }>('select digest, size from blob_links union select digest, size from blobs');
    expect(known.length).toBeGreaterThan(40);
    for (const row of known) expect(blobSizes.get(row.digest), row.digest).toBe(Number(row.size));
    expect([...blobSizes.keys()].sort()).toEqual([...new Set(known.map((row) => row.digest))].sort());
    // Every blob a manifest references is linked to its repository.
    expect(
      await sql(
        `select r.repository, r.referenced_digest from manifest_references r left join blob_links l
         on l.repository = r.repository and l.digest = r.referenced_digest where r.kind = 'blob' and l.digest is null`,
      ),
    ).toEqual([]);

    // Under uploads/ and among unfinished multipart uploads, nothing that no live upload session owns: a
    // session row in PostgreSQL and its state in the bucket. (The killed instance's upload is such a session:
    // it goes, parts and all, when the upload sweep expires it.)
    const sessions = new Set((await sql<{ id: string }>('select id from upload_sessions')).map((row) => row.id));
    const owner = (name: string) => name.split('/')[1]!;
    for (const name of keys.filter((entry) => entry.startsWith('uploads/'))) {
      expect(sessions.has(owner(name)), `${name} has no upload session`).toBe(true);
      expect(keys, `${name} has no session state`).toContain(`uploads/${owner(name)}/state.json`);
    }
    for (const upload of await view.multipartUploads()) {
      expect(upload.key.startsWith('uploads/'), upload.key).toBe(true);
      expect(sessions.has(owner(upload.key)), `multipart upload ${upload.key} has no upload session`).toBe(true);
    }
    // And the finished uploads (all but the one cut short) left nothing behind.
    expect(sessions.size).toBeLessThanOrEqual(1);
  });
});
