// berth as a pull-through cache, seen by real clients. One upstream (distribution 2.8 with token auth,
// tokens issued by a second berth), one berth mirroring it three times (`*` for what a Docker engine
// asks, `tok/` as a named prefix, and `cut/` through a proxy that can drop the upstream mid-blob), one
// Docker engine whose `registry-mirrors` is a fixed front address (a TCP proxy to berth, so berth can
// restart on another port, or another berth take its place), one containerd with hosts.toml mirrors.
// The tests run in order: pulls while the upstream is up, 20 concurrent pulls of an uncached image,
// interrupted pulls, berth with sign-in as an engine's mirror, then the upstream stops and everything
// pulled before must still pull completely, also after berth restarts.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostPlatform, runEveryStep } from '../support/client-image.js';
import { startContainerd, type Containerd } from '../support/containerd.js';
import { proxyTarget, startCuttingProxy, type CuttingProxy } from '../support/cutting-proxy.js';
import { startDockerEngine, type DockerEngine } from '../support/docker-engine.js';
import { fetchBlob, pullOverHttp } from '../support/http-pull.js';
import { sha256Digest, writeImageLayout, writeMultiArchLayout, type GeneratedImage } from '../support/oci-image.js';
import { readDirImage } from '../support/image-readback.js';
import { ACCEPT_ALL_MANIFESTS } from '../support/registry-http.js';
import { writeHtpasswd } from '../support/reference-auth.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { startBerth, type RunningBerth } from '../support/servers.js';
import { createSkopeo, dockerRef, type Skopeo } from '../support/skopeo.js';
import { startUpstreamRegistry, writeBigImageLayout, type BigImageLayout, type UpstreamRegistry } from '../support/upstream-registry.js';

const MiB = 1024 * 1024;
const CONCURRENT_PULLS = 20;

let scratch: Scratch;
let upstream: UpstreamRegistry;
let proxy: CuttingProxy;
/** The Docker engine's mirror address: forwards to `berth` (or to another berth for a test). */
let front: CuttingProxy;
let berth: RunningBerth;
let berthData: string;
let berthConfig: string;
let engine: DockerEngine;
let containerd: Containerd;
let skopeo: Skopeo;
/** containerd's hosts dir: `docker.io/hosts.toml` sends docker.io pulls to berth. */
let hostsDir: string;

/** What the upstream holds, by what each client pulls. */
const images = {} as {
  /** `library/multi:1`, an OCI index (amd64, arm64): docker. */
  multi: { digest: string; hostImage: GeneratedImage };
  /** `library/schema2:1`, a Docker schema2 manifest: docker and ctr. */
  schema2: { digest: string; image: GeneratedImage };
  /** `library/oci:1`, an OCI manifest: ctr. */
  oci: { digest: string; image: GeneratedImage };
  /** `team/app:1` and `team/app:2`, OCI manifests: skopeo through `tok/`, by tag and by digest. */
  app1: { digest: string; image: GeneratedImage };
  app2: { digest: string; image: GeneratedImage };
};

beforeAll(async () => {
  scratch = await createScratch('berth-mirror-clients-');
  upstream = await startUpstreamRegistry({ auth: 'token' });
  proxy = await startCuttingProxy(proxyTarget(upstream.host));
  const credentials = upstream.credentials!;
  const userInfo = `${encodeURIComponent(credentials.username)}:${encodeURIComponent(credentials.password)}@`;
  berthData = scratch.child('berth-data');
  // tagTtl 0: every pull by tag asks the upstream, so once it is down, tags are served stale (not fresh from cache).
  berthConfig = scratch.child('berth.json');
  await writeFile(
    berthConfig,
    JSON.stringify({
      mirrors: [
        { prefix: '*', url: upstream.urlWithCredentials, tagTtl: 0 },
        { prefix: 'tok', url: upstream.urlWithCredentials, tagTtl: 0 },
        `cut=http://${userInfo}${proxy.host}`,
      ],
    }),
  );
  berth = await startBerth({ dataDir: berthData, args: ['--config', berthConfig] });

  front = await startCuttingProxy(proxyTarget(berth.host));
  hostsDir = scratch.child('containerd-hosts');
  await writeHostsFiles();

  const push = async (layout: { ref: string }, repository: string, options: { format?: 'v2s2'; all?: boolean } = {}) =>
    upstream.push(layout.ref, repository, '1', options);
  const platform = hostPlatform();
  const [engineStarted, containerdStarted, skopeoMade] = await Promise.all([
    // The engine asks the mirror for docker.io images; 127.0.0.0/8 is an insecure registry (plain HTTP).
    startDockerEngine({ extraArgs: ['--registry-mirror', `http://${front.host}`] }),
    startContainerd(),
    createSkopeo(),
    (async () => {
      const multi = await writeMultiArchLayout({ dir: scratch.child('multi'), seed: 161 });
      images.multi = {
        digest: await push(multi, 'library/multi', { all: true }),
        hostImage: multi.images.find((image) => image.platform.architecture === platform.architecture)!,
      };
      const schema2 = await writeImageLayout({ dir: scratch.child('schema2'), seed: 162, platform });
      images.schema2 = { digest: await push(schema2, 'library/schema2', { format: 'v2s2' }), image: schema2.images[0]! };
      const oci = await writeImageLayout({ dir: scratch.child('oci'), seed: 163, platform });
      images.oci = { digest: await push(oci, 'library/oci'), image: oci.images[0]! };
      const app1 = await writeImageLayout({ dir: scratch.child('app1'), seed: 164, layers: 3, platform });
      images.app1 = { digest: await upstream.push(app1.ref, 'team/app', '1'), image: app1.images[0]! };
      const app2 = await writeImageLayout({ dir: scratch.child('app2'), seed: 165, platform });
      images.app2 = { digest: await upstream.push(app2.ref, 'team/app', '2'), image: app2.images[0]! };
    })(),
  ]);
  engine = engineStarted;
  containerd = containerdStarted;
  skopeo = skopeoMade;
});

afterAll(async () => {
  await runEveryStep([
    () => engine?.stop(),
    () => containerd?.stop(),
    () => skopeo?.dispose(),
    () => front?.stop(),
    () => berth?.stop(),
    () => proxy?.stop(),
    () => upstream?.stop(),
    () => scratch?.dispose(),
  ]);
});

/** containerd's hosts dir: docker.io to berth's `*` mirror, ghcr.io/team/app to berth's tok/team/app (a named prefix). */
async function writeHostsFiles(): Promise<void> {
  await mkdir(join(hostsDir, 'docker.io'), { recursive: true });
  await writeFile(join(hostsDir, 'docker.io', 'hosts.toml'), hostsToml('https://registry-1.docker.io', berth.url));
  await mkdir(join(hostsDir, 'ghcr.io'), { recursive: true });
  await writeFile(join(hostsDir, 'ghcr.io', 'hosts.toml'), hostsToml('https://ghcr.io', `${berth.url}/v2/tok`, true));
}

/**
 * containerd's hosts.toml: pulls go to berth (plain HTTP) first, the registry itself stays the fallback.
 * With `overridePath`, the mirror URL is the full API path (`…/v2/PREFIX`), for a named prefix.
 */
function hostsToml(server: string, mirrorUrl: string, overridePath = false): string {
  const override = overridePath ? '  override_path = true\n' : '';
  return `server = "${server}"\n\n[host."${mirrorUrl}"]\n  capabilities = ["pull", "resolve"]\n${override}`;
}

async function dockerImageId(ref: string): Promise<string> {
  return (await engine.dockerOk(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
}

/** Docker engine: pull by short name (docker.io/library/NAME, which the engine asks the mirror for). */
async function dockerPulls(name: string, configDigest: string): Promise<void> {
  const pulled = await engine.docker(['pull', name]);
  expect(pulled.code, `${pulled.stderr}\n--- berth:\n${berth.logs()}`).toBe(0);
  expect(await dockerImageId(name)).toBe(configDigest);
}

/** ctr through hosts.toml; the image's target digest must be the upstream's. */
async function ctrPulls(ref: string, digest: string): Promise<void> {
  const pulled = await containerd.ctr(['images', 'pull', '--hosts-dir', hostsDir, ref]);
  expect(pulled.code, `${pulled.stderr}\n--- berth:\n${berth.logs()}`).toBe(0);
  const listed = await containerd.ctrOk(['images', 'list', '--quiet']);
  expect(listed.stdout.split('\n')).toContain(ref);
  const check = await containerd.ctrOk(['images', 'check']);
  const line = check.stdout.split('\n').find((row) => row.startsWith(`${ref} `));
  expect(line, check.stdout).toMatch(/complete \(\d+\/\d+\)/);
  expect(line).toContain(digest);
}

/** skopeo copy to a dir:, checks manifest digest and every blob's bytes. */
async function skopeoPulls(reference: string, digest: string, image: GeneratedImage): Promise<void> {
  const dir = scratch.child('skopeo-pull');
  const copied = await skopeo.copy(dockerRef(berth.host, 'tok/team/app', reference), `dir:${dir}`);
  expect(copied.digest).toBe(digest);
  const read = await readDirImage(dir);
  expect(sha256Digest(read.manifest)).toBe(digest);
  // Every blob arrived with the bytes the upstream was given.
  for (const blob of [image.config, ...image.layers]) expect(read.blobs.get(blob.digest)?.equals(blob.bytes), blob.digest).toBe(true);
}

/** Where berth's filesystem blob store keeps a committed blob. */
function storedBlobPath(digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(berthData, 'blobs', 'blobs', 'sha256', hex.slice(0, 2), hex);
}

/**
 * What a cut pull may leave behind, watched until berth's store settles (no upload in progress, for at
 * most 20 s): the blob is absent or complete at its final path at every look (berth may finish the
 * fetch for the cache after the client left, or drop it), and a HEAD never announces another size.
 */
async function expectNothingPartial(repository: string, blob: { digest: string; size: number }): Promise<void> {
  const path = storedBlobPath(blob.digest);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const stored = await stat(path).catch(() => undefined);
    if (stored !== undefined) expect(stored.size, 'a blob at its final path in the store').toBe(blob.size);
    const head = await fetch(`${berth.url}/v2/${repository}/blobs/${blob.digest}`, { method: 'HEAD' });
    if (head.status === 200) expect(Number(head.headers.get('content-length'))).toBe(blob.size);
    else expect(head.status).toBe(404);
    if ((await uploadsInProgress()).length === 0) break;
    if (Date.now() > deadline) throw new Error(`berth still has uploads in progress: ${(await uploadsInProgress()).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if (await stat(path).catch(() => undefined)) {
    expect(`sha256:${createHash('sha256').update(await readFile(path)).digest('hex')}`).toBe(blob.digest);
  }
}

/** The upload sessions berth's filesystem store holds (a mirror fetch in flight is one). */
async function uploadsInProgress(): Promise<string[]> {
  return readdir(join(berthData, 'blobs', 'uploads')).catch(() => []);
}

/**
 * GETs a blob through berth with node:http, reads a bit more than half of its body, then destroys
 * the socket (a client killed mid-pull). Resolves with the number of body bytes read.
 */
function readHalfAndHangUp(repository: string, size: number, digest: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${berth.url}/v2/${repository}/blobs/${digest}`, (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`GET blob: HTTP ${response.statusCode}`));
        response.resume();
        return;
      }
      let read = 0;
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > size / 2) {
          req.destroy();
          resolve(read);
        }
      });
      response.on('end', () => reject(new Error('the whole blob arrived before the client hung up')));
    });
    req.on('error', (error) => {
      if (!req.destroyed) reject(error);
    });
    req.end();
  });
}

describe('while the upstream is up', () => {
  it('a Docker engine with registry-mirrors pulls library images only the upstream holds', async () => {
    await dockerPulls('multi:1', images.multi.hostImage.config.digest);
    await dockerPulls('schema2:1', images.schema2.image.config.digest);
    // By digest, through the mirror as well (an engine sends digests to its mirror too).
    await dockerPulls(`oci@${images.oci.digest}`, images.oci.image.config.digest);
    // The engine never talks to the upstream: berth fetched (with the upstream's tokens) what it served.
    const log = await upstream.accessLog();
    expect(log.some((entry) => entry.userAgent.startsWith('docker/'))).toBe(false);
    expect(await upstream.blobGets(images.multi.hostImage.config.digest)).toBe(1);
  });

  it('ctr with a hosts.toml mirror pulls through berth', async () => {
    await ctrPulls('docker.io/library/oci:1', images.oci.digest);
    await ctrPulls('docker.io/library/schema2:1', images.schema2.digest);
    await ctrPulls('ghcr.io/team/app:1', images.app1.digest);
    // An index: containerd takes this platform's image from it.
    await ctrPulls('docker.io/library/multi:1', images.multi.digest);
    const log = await upstream.accessLog();
    expect(log.some((entry) => entry.userAgent.startsWith('containerd/'))).toBe(false);
    // What the engine pulled before came from berth's cache: the upstream served those blobs once.
    for (const blob of [images.schema2.image.config, ...images.schema2.image.layers]) expect(await upstream.blobGets(blob.digest)).toBe(1);
  });

  it('skopeo pulls by tag and by digest through a named prefix, with the upstream asking for tokens', async () => {
    await skopeoPulls('1', images.app1.digest, images.app1.image);
    // By digest, never pulled by tag before.
    await skopeoPulls(images.app2.digest, images.app2.digest, images.app2.image);
    // Tag listing or a wrong prefix aside, the upstream saw berth's requests signed with tokens from the issuer.
    expect(await upstream.blobGets(images.app2.image.layers[0]!.digest)).toBe(1);
  });
});

describe('an uncached 64 MiB image', () => {
  let big: BigImageLayout;

  beforeAll(async () => {
    big = await writeBigImageLayout(scratch.child('big'), 64 * MiB);
    expect(await upstream.push(big.ref, 'big/concurrent', '1')).toBe(big.manifest.digest);
  });

  it(`pulled ${CONCURRENT_PULLS} times at once, is fetched from the upstream once per blob`, async () => {
    const pulls = await Promise.all(Array.from({ length: CONCURRENT_PULLS }, () => pullOverHttp(berth.url, 'big/concurrent', '1')));
    for (const pulled of pulls) expect(pulled.digest).toBe(big.manifest.digest);
    expect(await upstream.blobGets(big.layer.digest)).toBe(1);
    expect(await upstream.blobGets(big.config.digest)).toBe(1);
  });
});

describe('a pull interrupted halfway', () => {
  let clientCut: BigImageLayout;
  let upstreamCut: BigImageLayout;

  beforeAll(async () => {
    [clientCut, upstreamCut] = await Promise.all([
      writeBigImageLayout(scratch.child('client-cut'), 32 * MiB),
      writeBigImageLayout(scratch.child('upstream-cut'), 32 * MiB),
    ]);
    await upstream.push(clientCut.ref, 'big/client-cut', '1');
    await upstream.push(upstreamCut.ref, 'big/upstream-cut', '1');
  });

  it('by the client leaves nothing partial visible, and the next pull completes', async () => {
    const read = await readHalfAndHangUp('big/client-cut', clientCut.layer.size, clientCut.layer.digest);
    expect(read).toBeLessThan(clientCut.layer.size);
    await expectNothingPartial('big/client-cut', clientCut.layer);
    const pulled = await pullOverHttp(berth.url, 'big/client-cut', '1');
    expect(pulled.digest).toBe(clientCut.manifest.digest);
    await expectNothingPartial('big/client-cut', clientCut.layer);
  });

  it('by the upstream leaves nothing partial visible, and the next pull completes', async () => {
    proxy.cutAfterBytes = 8 * MiB;
    try {
      const cut = await fetchBlob(berth.url, 'cut/big/upstream-cut', upstreamCut.layer).then(
        () => 'complete',
        (error: Error) => error.message,
      );
      // The client must see the failure: a complete, verified blob cannot come out of a cut upstream.
      expect(cut).not.toBe('complete');
      // Failed for the cut, not for something before it (the message and berth's log say which).
      expect(proxy.cuts(), `the pull failed with: ${cut}\n--- berth:\n${berth.logs().slice(-4000)}`).toBeGreaterThan(0);
      await expectNothingPartial('cut/big/upstream-cut', upstreamCut.layer);
      // Half a blob is all berth ever received: its store has no such blob.
      expect(await stat(storedBlobPath(upstreamCut.layer.digest)).catch(() => undefined)).toBeUndefined();
    } finally {
      proxy.cutAfterBytes = undefined;
    }
    const pulled = await pullOverHttp(berth.url, 'cut/big/upstream-cut', '1');
    expect(pulled.digest).toBe(upstreamCut.manifest.digest);
    await expectNothingPartial('cut/big/upstream-cut', upstreamCut.layer);
  });
});

describe('berth with sign-in as a Docker engine mirror (the engine sends no credentials)', () => {
  const signedIn: Partial<Record<'token' | 'basic', RunningBerth>> = {};
  let authed: { digest: string; image: GeneratedImage };

  beforeAll(async () => {
    const htpasswd = scratch.child('htpasswd');
    await writeHtpasswd(htpasswd, [{ username: 'admin', password: 'admin-pw' }]);
    // What the README asks for: mirrored names pullable anonymously.
    const access = scratch.child('access.yml');
    await writeFile(access, '- repositories: ["library/**"]\n  users: [anonymous]\n  actions: [pull]\n');
    const mirror = ['--mirror', `*=${upstream.urlWithCredentials}`, '--htpasswd', htpasswd, '--access', access];
    [signedIn.token, signedIn.basic] = await Promise.all([
      startBerth({ args: ['--auth', 'token', ...mirror] }),
      startBerth({ args: ['--auth', 'basic', ...mirror] }),
    ]);
    const layout = await writeImageLayout({ dir: scratch.child('authed'), seed: 166, platform: hostPlatform() });
    authed = { digest: await upstream.push(layout.ref, 'library/berth-mirror-authed', '1'), image: layout.images[0]! };
  });

  afterAll(async () => {
    front.target = proxyTarget(berth.host);
    await runEveryStep([() => signedIn.token?.stop(), () => signedIn.basic?.stop()]);
  });

  it('with token auth and an anonymous pull rule, the engine pulls through berth (anonymous tokens)', async () => {
    front.target = proxyTarget(signedIn.token!.host);
    const pulled = await engine.docker(['pull', 'berth-mirror-authed:1']);
    expect(pulled.code, `${pulled.stderr}\n--- berth:\n${signedIn.token!.logs()}`).toBe(0);
    expect(await dockerImageId('berth-mirror-authed:1')).toBe(authed.image.config.digest);
    await engine.dockerOk(['rmi', 'berth-mirror-authed:1']);
  });

  it('with basic auth, the engine gives up on the mirror at its 401 to GET /v2/ and goes to Docker Hub', async () => {
    front.target = proxyTarget(signedIn.basic!.host);
    const pulled = await engine.docker(['pull', 'berth-mirror-authed:1']);
    // Without network Docker Hub does not answer; with it, it has no such image.
    expect(pulled.code).not.toBe(0);
    expect(signedIn.basic!.logs()).toMatch(/"url":"\/v2\/","status":401/);
    expect(signedIn.basic!.logs()).not.toContain('/manifests/');
  });
});

describe('once the upstream is down', () => {
  beforeAll(async () => {
    await proxy.stop();
    await upstream.stop();
    // Nothing answers at the upstream's address any more.
    await expect(fetch(`${upstream.url}/v2/`)).rejects.toThrow();
  });

  it('berth answers a pull by tag from its cache, marked stale', staleTagAnswer);

  it('the Docker engine pulls again everything it pulled before', dockerPullsAgain);

  it('ctr pulls again everything it pulled before', ctrPullsAgain);
  it('skopeo pulls again by tag and by digest', skopeoPullsAgain);
  it('the big images pull completely', bigImagesPullAgain);
});

describe('once berth restarts on the same data, the upstream still down', () => {
  beforeAll(async () => {
    await berth.stop();
    berth = await startBerth({ dataDir: berthData, args: ['--config', berthConfig] });
    // A new port: the engine's front address and containerd's hosts.toml follow.
    front.target = proxyTarget(berth.host);
    await writeHostsFiles();
  });

  it('the Docker engine pulls again everything it pulled before', dockerPullsAgain);
  it('berth still answers a pull by tag from its cache, marked stale', staleTagAnswer);
  it('ctr pulls again everything it pulled before', ctrPullsAgain);
  it('skopeo pulls again by tag and by digest', skopeoPullsAgain);
  it('the big images pull completely', bigImagesPullAgain);
});

async function dockerPullsAgain(): Promise<void> {
  await engine.dockerOk(['rmi', 'multi:1', 'schema2:1', `oci@${images.oci.digest}`]);
  await dockerPulls('multi:1', images.multi.hostImage.config.digest);
  await dockerPulls('schema2:1', images.schema2.image.config.digest);
  await dockerPulls(`oci@${images.oci.digest}`, images.oci.image.config.digest);
}

async function ctrPullsAgain(): Promise<void> {
  const pulled: Array<[string, string]> = [
    ['docker.io/library/oci:1', images.oci.digest],
    ['docker.io/library/schema2:1', images.schema2.digest],
    ['ghcr.io/team/app:1', images.app1.digest],
    ['docker.io/library/multi:1', images.multi.digest],
  ];
  // --sync: containerd's garbage collection drops the content before the command returns.
  await containerd.ctrOk(['images', 'rm', '--sync', ...pulled.map(([ref]) => ref)]);
  const content = await containerd.ctrOk(['content', 'ls', '--quiet']);
  for (const [, digest] of pulled) expect(content.stdout).not.toContain(digest);
  for (const [ref, digest] of pulled) await ctrPulls(ref, digest);
}

async function skopeoPullsAgain(): Promise<void> {
  await skopeoPulls('1', images.app1.digest, images.app1.image);
  await skopeoPulls(images.app2.digest, images.app2.digest, images.app2.image);
}

async function bigImagesPullAgain(): Promise<void> {
  await pullOverHttp(berth.url, 'big/concurrent', '1');
  await pullOverHttp(berth.url, 'big/client-cut', '1');
  await pullOverHttp(berth.url, 'cut/big/upstream-cut', '1');
}

async function staleTagAnswer(): Promise<void> {
  const response = await fetch(`${berth.url}/v2/library/multi/manifests/1`, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
  expect(response.status, await response.clone().text()).toBe(200);
  expect(response.headers.get('docker-content-digest')).toBe(images.multi.digest);
  expect(response.headers.get('warning')).toMatch(/^110 /);
  await response.arrayBuffer();
}
