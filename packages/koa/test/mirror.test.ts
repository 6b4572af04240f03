import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import request from 'supertest';
import { openHtpasswd, parseTrustedKeys, resolveTokenSigningKey } from '@berth/auth';
import { openFsBlobStore } from '@berth/blobs-fs';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';
import { createRegistry, tokenAuth, tokenService } from '../src/index.js';
import { TEST_RULES, bcryptLine } from './support/token-service-fixture.js';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { MirrorRule } from '@berth/core';
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_MANIFEST, binary, expectError, pushBlob, pushImage, sha256, type PushedImage } from './support/content.js';
import { metadataFactories, openRegistry, type RegistryUnderTest } from './support/registry-under-test.js';

// Each test runs two registries and a loopback upstream: room for a loaded machine.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

/** Another berth on a loopback port: the upstream the mirror pulls from, counting the requests it answers. */
interface Upstream {
  t: RegistryUnderTest;
  url: string;
  requests: string[];
  stop(): Promise<void>;
}

async function startUpstream(): Promise<Upstream> {
  const t = await openRegistry(metadataFactories.sqlite!);
  const requests: string[] = [];
  const handler = t.registry.callback({ log: { error: () => undefined } });
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let stopped = false;
  return {
    t,
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function mirrorOf(upstream: Upstream, rule: Partial<MirrorRule> = {}): MirrorRule {
  return { prefix: 'hub', url: upstream.url, plainHttp: true, ...rule };
}

function blobBody(t: RegistryUnderTest, repository: string, digest: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    t.http
      .get(`/v2/${repository}/blobs/${digest}`)
      .buffer(true)
      .parse(binary)
      .end((error, response) => (error ? reject(error) : response.status === 200 ? resolve(response.body as Buffer) : reject(new Error(`HTTP ${response.status}: ${response.text}`))));
  });
}

describe('a pull-through mirror of another registry', () => {
  let upstream: Upstream;
  let image: PushedImage;
  let mirror: RegistryUnderTest;
  const warnings: object[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    image = await pushImage(upstream.t.http, 'library/app', 'v1');
    mirror = await openRegistry(metadataFactories.sqlite!, {
      mirrors: [mirrorOf(upstream)],
      mirrorLog: { warn: (fields) => warnings.push(fields) },
    });
  });
  afterAll(async () => {
    await mirror?.close();
    await upstream?.stop();
    await upstream?.t.close();
  });

  it('serves a manifest by tag and by digest, and the blobs, from the upstream with the prefix stripped', async () => {
    const byTag = await mirror.http.get('/v2/hub/library/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
    expect(byTag.text).toBe(image.body);
    expect(byTag.headers['docker-content-digest']).toBe(image.digest);
    const byDigest = await mirror.http.get(`/v2/hub/library/app/manifests/${image.digest}`).set('Accept', OCI_MANIFEST).expect(200);
    expect(byDigest.text).toBe(image.body);
    for (const digest of [image.config, ...image.layers]) {
      const bytes = await blobBody(mirror, 'hub/library/app', digest);
      expect(sha256(bytes)).toBe(digest);
    }
    // Cached as if pushed: the mirror's own stores hold them now.
    expect(await mirror.metadata.resolveTag('hub/library/app', 'v1')).toBe(image.digest);
    for (const digest of [image.config, ...image.layers]) expect(await mirror.metadata.blobLink('hub/library/app', digest)).toBeDefined();
  });

  it('fetches a blob once for concurrent pulls', async () => {
    const bytes = randomBytes(3 * 1024 * 1024);
    const digest = await pushBlob(upstream.t.http, 'library/app', bytes);
    const before = upstream.requests.filter((line) => line === `GET /v2/library/app/blobs/${digest}`).length;
    const bodies = await Promise.all(Array.from({ length: 5 }, () => blobBody(mirror, 'hub/library/app', digest)));
    for (const body of bodies) expect(body.equals(bytes)).toBe(true);
    expect(upstream.requests.filter((line) => line === `GET /v2/library/app/blobs/${digest}`).length - before).toBe(1);
  });

  it('refuses pushes, mounts and deletes in the mirrored prefix with 405 UNSUPPORTED, and takes them elsewhere', async () => {
    expectError(await mirror.http.post('/v2/hub/library/app/blobs/uploads/'), 405, 'UNSUPPORTED');
    const put = await mirror.http.put('/v2/hub/library/app/manifests/v2').set('Content-Type', OCI_MANIFEST).send(image.body);
    expectError(put, 405, 'UNSUPPORTED');
    expectError(await mirror.http.delete(`/v2/hub/library/app/manifests/${image.digest}`), 405, 'UNSUPPORTED');
    await pushImage(mirror.http, 'local/app', 'v1');
  });

  it('answers 404 for what the upstream does not have', async () => {
    expectError(await mirror.http.get('/v2/hub/library/app/manifests/missing').set('Accept', OCI_MANIFEST), 404, 'MANIFEST_UNKNOWN');
    expectError(await mirror.http.get(`/v2/hub/library/app/blobs/${sha256('nothing')}`), 404, 'BLOB_UNKNOWN');
  });

  it('counts hits, misses and the bytes received from the upstream', async () => {
    const text = await mirror.registry.metrics!.metrics();
    expect(text).toMatch(/berth_mirror_reads_total\{kind="manifest",outcome="miss"\} [1-9]/);
    expect(text).toMatch(/berth_mirror_reads_total\{kind="manifest",outcome="hit"\} [1-9]/);
    expect(text).toMatch(/berth_mirror_reads_total\{kind="blob",outcome="miss"\} [1-9]/);
    expect(text).toMatch(new RegExp(`berth_mirror_upstream_bytes_total\\{upstream="${upstream.url}"\\} [1-9]`));
  });

  it('revalidates a tag past its freshness and follows it when the upstream moved it', async () => {
    const fresh = await openRegistry(metadataFactories.sqlite!, { mirrors: [mirrorOf(upstream, { tagTtl: 0 })] });
    try {
      await fresh.http.get('/v2/hub/library/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
      const moved = await pushImage(upstream.t.http, 'library/app', 'v1');
      const after = await fresh.http.get('/v2/hub/library/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
      expect(after.headers['docker-content-digest']).toBe(moved.digest);
      image = moved;
    } finally {
      await fresh.close();
    }
  });
});

describe('a mirror whose upstream is down', () => {
  it('serves what it cached (a stale tag with a Warning) and answers 503 UNAVAILABLE for the rest', async () => {
    const upstream = await startUpstream();
    const mirror = await openRegistry(metadataFactories.sqlite!, { mirrors: [mirrorOf(upstream, { tagTtl: 0 })] });
    try {
      const image = await pushImage(upstream.t.http, 'library/app', 'v1');
      await pushImage(upstream.t.http, 'library/other', 'v1');
      await mirror.http.get('/v2/hub/library/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
      for (const digest of [image.config, ...image.layers]) await blobBody(mirror, 'hub/library/app', digest);
      await upstream.stop();

      const stale = await mirror.http.get('/v2/hub/library/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
      expect(stale.text).toBe(image.body);
      expect(stale.headers['warning']).toBe('110 - "Response is Stale"');
      await mirror.http.get(`/v2/hub/library/app/manifests/${image.digest}`).set('Accept', OCI_MANIFEST).expect(200);
      for (const digest of [image.config, ...image.layers]) expect(sha256(await blobBody(mirror, 'hub/library/app', digest))).toBe(digest);

      expectError(await mirror.http.get('/v2/hub/library/other/manifests/v1').set('Accept', OCI_MANIFEST), 503, 'UNAVAILABLE');
      expectError(await mirror.http.get(`/v2/hub/library/app/blobs/${sha256('uncached')}`), 503, 'UNAVAILABLE');
    } finally {
      await mirror.close();
      await upstream.stop();
      await upstream.t.close();
    }
  });
});

describe('a blob transfer the upstream cuts halfway', () => {
  it('leaves nothing visible, cuts the client short, and the next pull fetches it whole', async () => {
    const upstream = await startUpstream();
    // A proxy in front of the upstream that breaks the first blob transfer off after half its bytes.
    let cutNext = true;
    const proxy = createServer((req, res) => {
      const cut = cutNext && req.method === 'GET' && req.url!.includes('/blobs/');
      if (cut) cutNext = false;
      const forwarded = httpRequest(`${upstream.url}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        if (!cut) return void answer.pipe(res);
        const half = Number(answer.headers['content-length']) / 2;
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          if (sent >= half) return;
          res.write(chunk.subarray(0, half - sent));
          sent += Math.min(chunk.byteLength, half - sent);
          if (sent >= half) {
            answer.destroy();
            res.socket?.destroy();
          }
        });
      });
      req.pipe(forwarded);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const mirror = await openRegistry(metadataFactories.sqlite!, { mirrors: [{ prefix: 'hub', url: proxyUrl, plainHttp: true }] });
    try {
      const bytes = randomBytes(2 * 1024 * 1024);
      const digest = await pushBlob(upstream.t.http, 'library/app', bytes);
      await expect(blobBody(mirror, 'hub/library/app', digest)).rejects.toThrow();
      expect(await mirror.metadata.blobLink('hub/library/app', digest)).toBeUndefined();
      expect(await mirror.blobs.stat(digest)).toBeUndefined();
      expect((await blobBody(mirror, 'hub/library/app', digest)).equals(bytes)).toBe(true);
      expect(await mirror.blobs.stat(digest)).toEqual({ digest, size: bytes.byteLength });
    } finally {
      await mirror.close();
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
      await upstream.stop();
      await upstream.t.close();
    }
  });
});

describe('negotiation of mirrored content', () => {
  it('fetches the platform child a client without list support gets, and the config a schema1 conversion reads', async () => {
    const upstream = await startUpstream();
    const mirror = await openRegistry(metadataFactories.sqlite!, { mirrors: [mirrorOf(upstream)] });
    try {
      const children = [];
      for (const architecture of ['arm64', 'amd64']) {
        const config = JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(randomBytes(8))] }, history: [{ created_by: 'ADD file in /' }] });
        const configDigest = await pushBlob(upstream.t.http, 'library/multi', Buffer.from(config));
        const layer = await pushBlob(upstream.t.http, 'library/multi', randomBytes(40));
        const body = JSON.stringify({
          schemaVersion: 2,
          mediaType: DOCKER_MANIFEST,
          config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: configDigest, size: config.length },
          layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: layer, size: 40 }],
        });
        await upstream.t.http.put(`/v2/library/multi/manifests/${architecture}`).set('Content-Type', DOCKER_MANIFEST).send(body).expect(201);
        children.push({ mediaType: DOCKER_MANIFEST, digest: sha256(body), size: body.length, platform: { architecture, os: 'linux' } });
      }
      const list = JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: children });
      await upstream.t.http.put('/v2/library/multi/manifests/v1').set('Content-Type', DOCKER_LIST).send(list).expect(201);

      const child = await mirror.http.get('/v2/hub/library/multi/manifests/v1').set('Accept', DOCKER_MANIFEST).expect(200);
      expect(child.headers['docker-content-digest']).toBe(children[1]!.digest);
      const legacy = await mirror.http.get('/v2/hub/library/multi/manifests/v1').expect(200);
      expect(legacy.headers['content-type']).toBe('application/vnd.docker.distribution.manifest.v1+prettyjws');
      expect(JSON.parse(legacy.text)).toMatchObject({ architecture: 'amd64', tag: 'v1' });
      // Cached as clients asked for them: the list, the amd64 child, its config; not the arm64 child.
      expect(await mirror.metadata.getManifest('hub/library/multi', children[1]!.digest)).toBeDefined();
      expect(await mirror.metadata.getManifest('hub/library/multi', children[0]!.digest)).toBeUndefined();
      const whole = await mirror.http.get('/v2/hub/library/multi/manifests/v1').set('Accept', `${DOCKER_LIST}, ${DOCKER_MANIFEST}`).expect(200);
      expect(whole.text).toBe(list);
    } finally {
      await mirror.close();
      await upstream.stop();
      await upstream.t.close();
    }
  });
});

describe('retention of mirrored tags', () => {
  it('ages a mirrored tag by its last fetch or revalidation, not by when the upstream pushed it', async () => {
    const upstream = await startUpstream();
    const mirror = await openRegistry(metadataFactories.sqlite!, { mirrors: [mirrorOf(upstream)] });
    try {
      await pushImage(upstream.t.http, 'library/app', 'v1');
      await mirror.http.get('/v2/hub/library/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
      const cache = mirror.metadata.mirrorCache!;
      const retention = [{ repositories: ['hub/**'], olderThan: 1 }];
      await new Promise((resolve) => setTimeout(resolve, 20));
      // Pushed (fetched) over 1 ms ago, but revalidated later than the run's cutoff: kept.
      await cache.setTagFetchedAt('hub/library/app', 'v1', new Date(Date.now() + 3_600_000));
      expect((await mirror.registry.service.gc.run({ grace: 0, retention })).retention?.removals).toEqual([]);
      expect(await mirror.metadata.resolveTag('hub/library/app', 'v1')).toBeDefined();
      // Not revalidated since: removed like any old tag, and pulled again from the upstream on demand.
      await cache.setTagFetchedAt('hub/library/app', 'v1', new Date(Date.now() - 3_600_000));
      expect((await mirror.registry.service.gc.run({ grace: 0, retention })).retention?.removals).toMatchObject([{ repository: 'hub/library/app', tag: 'v1' }]);
      expect(await mirror.metadata.resolveTag('hub/library/app', 'v1')).toBeUndefined();
      await mirror.http.get('/v2/hub/library/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
    } finally {
      await mirror.close();
      await upstream.stop();
      await upstream.t.close();
    }
  });
});

describe('a mirror with *', () => {
  it('mirrors names without local content as they are, and leaves pushed repositories local', async () => {
    const upstream = await startUpstream();
    const mirror = await openRegistry(metadataFactories.sqlite!, { mirrors: [mirrorOf(upstream, { prefix: '*' })] });
    try {
      const image = await pushImage(upstream.t.http, 'library/app', 'v1');
      const pulled = await mirror.http.get('/v2/library/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
      expect(pulled.text).toBe(image.body);
      // Pulled from the upstream: now a mirrored repository, closed to pushes.
      expectError(await mirror.http.post('/v2/library/app/blobs/uploads/'), 405, 'UNSUPPORTED');
      // A name the upstream lacks takes a push (its HEADs of blobs are 404s), and is then served locally.
      await mirror.http.head(`/v2/team/app/blobs/${image.config}`).expect(404);
      const local = await pushImage(mirror.http, 'team/app', 'v1');
      const served = await mirror.http.get('/v2/team/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
      expect(served.text).toBe(local.body);
      const afterPush = upstream.requests.length;
      await mirror.http.get('/v2/team/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
      expect(upstream.requests.length).toBe(afterPush);
      // With the upstream down, pushes to new names still work: a HEAD it cannot answer is a 404, not a 503.
      await upstream.stop();
      await mirror.http.head(`/v2/team/other/blobs/${image.config}`).expect(404);
      await pushImage(mirror.http, 'team/other', 'v1');
    } finally {
      await mirror.close();
      await upstream.stop();
      await upstream.t.close();
    }
  });
});

describe('a mirror of a registry with token auth', () => {
  let dir: string;
  let server: Server;
  let url: string;
  const tokenRequests: string[] = [];
  let push: ReturnType<typeof request>;
  let close: () => Promise<void>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-mirror-token-'));
    const htpasswdFile = join(dir, 'users.htpasswd');
    await writeFile(htpasswdFile, `${bcryptLine('mirror', 'mirror-pw')}\n`);
    const metadata = await openSqliteMetadataStore({ filename: join(dir, 'berth.sqlite') });
    const blobs = await openFsBlobStore({ root: join(dir, 'blobs') });
    const signingKey = await resolveTokenSigningKey(metadata);
    const tokens = tokenService({ htpasswd: await openHtpasswd(htpasswdFile, { recheckIntervalMs: 0 }), access: TEST_RULES, signingKey, service: 'upstream', issuer: 'upstream' });
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const keys = parseTrustedKeys(signingKey.certificatePem, 'token service certificate');
    const registry = createRegistry({ metadata, blobs, authorize: tokenAuth({ issuer: 'upstream', service: 'upstream', keys, realm: `${url}/token` }) });
    const app = new Koa();
    app.use(tokens.routes()).use(registry.routes()).use(registry.allowedMethods());
    const handler = app.callback();
    server.on('request', (req, res) => {
      if (req.url?.startsWith('/token')) tokenRequests.push(req.url);
      handler(req, res);
    });
    // The same stores without auth, to fill the upstream.
    push = request(createRegistry({ metadata, blobs }).callback());
    close = async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await registry.close();
      await blobs.close();
      await metadata.close();
      await rm(dir, { recursive: true, force: true });
    };
  });
  afterAll(async () => close?.());

  it('gets a token with the configured credentials, once per scope, and pulls a repository only a user may read', async () => {
    const image = await pushImage(push, 'team/app', 'v1');
    const mirror = await openRegistry(metadataFactories.sqlite!, {
      mirrors: [{ prefix: 'hub', url: `http://mirror:mirror-pw@${new URL(url).host}`, plainHttp: true }],
    });
    try {
      const pulled = await mirror.http.get('/v2/hub/team/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
      expect(pulled.text).toBe(image.body);
      for (const digest of [image.config, ...image.layers]) expect(sha256(await blobBody(mirror, 'hub/team/app', digest))).toBe(digest);
      expect(tokenRequests.filter((line) => line.includes('team%2Fapp') || line.includes('team/app'))).toHaveLength(1);
    } finally {
      await mirror.close();
    }
  });

  it('pulls anonymously without credentials, and answers 404 where the upstream refuses anonymous pulls', async () => {
    const image = await pushImage(push, 'public/app', 'v1');
    await pushImage(push, 'team/secret', 'v1');
    const mirror = await openRegistry(metadataFactories.sqlite!, { mirrors: [{ prefix: 'hub', url, plainHttp: true }] });
    try {
      const pulled = await mirror.http.get('/v2/hub/public/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
      expect(pulled.text).toBe(image.body);
      expectError(await mirror.http.get('/v2/hub/team/secret/manifests/v1').set('Accept', OCI_MANIFEST), 404, 'NAME_UNKNOWN');
    } finally {
      await mirror.close();
    }
  });
});
