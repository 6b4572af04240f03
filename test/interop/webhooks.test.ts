// Webhooks end to end: the built standalone server with `--webhook` against a real HTTP receiver.
// Real clients push (skopeo, a Docker engine), HTTP deletes and mounts; the receiver goes down and
// comes back; the server is killed with kill -9 right after pushes that got 201; two instances share
// one PostgreSQL database; and distribution 2.8, configured with the same kind of endpoint, shows
// which fields a receiver written for it expects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratchDatabase } from '../../packages/storage-postgres/src/testing.js';
import { runCommand, runEveryStep, systemPath, writeClientImage } from '../support/client-image.js';
import { startDockerEngine, type DockerEngine } from '../support/docker-engine.js';
import { startFaultServer, type FaultServer } from '../support/faults-server.js';
import { generateImage, MediaType, writeImageLayout, type GeneratedImage } from '../support/oci-image.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { BERTH_MAIN, startReferenceRegistry } from '../support/servers.js';
import { createSkopeo, dockerRef, type Skopeo } from '../support/skopeo.js';
import { brief, WebhookReceiver, type RegistryEvent } from '../support/webhook-receiver.js';

const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';

let scratch: Scratch;
let skopeo: Skopeo;
let engine: DockerEngine;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  scratch = await createScratch('berth-webhooks-');
  [skopeo, engine] = await Promise.all([createSkopeo(), startDockerEngine()]);
});

afterAll(async () => {
  await runEveryStep([...cleanups.reverse(), () => skopeo?.dispose(), () => engine?.stop(), () => scratch?.dispose()]);
});

async function receiver(): Promise<WebhookReceiver> {
  const started = await WebhookReceiver.start();
  cleanups.push(() => started.stop());
  return started;
}

async function berth(args: string[], dataDir = scratch.child('data')): Promise<FaultServer> {
  const server = await startFaultServer(dataDir, args);
  cleanups.push(() => server.stop());
  return server;
}

async function send(url: string, init: RequestInit & { expect: number }): Promise<void> {
  const response = await fetch(url, init);
  await response.arrayBuffer();
  if (response.status !== init.expect) throw new Error(`${init.method ?? 'GET'} ${url}: expected ${init.expect}, got ${response.status}`);
}

/** Config, layers, then the manifest by tag, one request each (monolithic blob pushes), in that order. */
async function pushOverHttp(base: string, repository: string, tag: string, image: GeneratedImage): Promise<void> {
  for (const blob of [image.config, ...image.layers]) {
    await send(`${base}/v2/${repository}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.bytes, expect: 201 });
  }
  await send(`${base}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': image.manifest.mediaType },
    body: image.manifest.bytes,
    expect: 201,
  });
}

/** The events pushOverHttp causes, as brief() writes them. */
function pushedEvents(repository: string, tag: string, image: GeneratedImage): string[] {
  return [...[image.config, ...image.layers].map((blob) => `push ${repository} ${blob.digest}`), `push ${repository} ${tag} ${image.manifest.digest}`];
}

const ofRepository = (events: RegistryEvent[], repository: string) => events.filter((event) => event.target.repository === repository).map(brief);

/** Every field a receiver written for distribution reads, with its type. */
function expectDistributionFields(event: RegistryEvent): void {
  expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
  expect(new Date(event.timestamp).getTime()).not.toBeNaN();
  expect(['push', 'pull', 'delete', 'mount']).toContain(event.action);
  expect(typeof event.target.repository).toBe('string');
  expect(typeof event.request.id).toBe('string');
  expect(event.request.id).not.toBe('');
  expect(event.request.addr).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(event.request.host).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(typeof event.request.method).toBe('string');
  expect(typeof event.request.useragent).toBe('string');
  expect(typeof event.actor).toBe('object');
  expect(event.source.addr).toMatch(/:\d+$/);
  expect(event.source.instanceID).toMatch(/^[0-9a-f-]{36}$/);
  if (event.action !== 'delete') {
    expect(event.target.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(event.target.size).toBeGreaterThan(0);
    expect(event.target.length).toBe(event.target.size);
    expect(event.target.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/v2/${event.target.repository}/(manifests|blobs)/${event.target.digest}$`));
  }
}

describe('webhooks from the standalone server', () => {
  it('refuses a webhook URL that is not http(s) in one line, leaving out its query', async () => {
    const args = [BERTH_MAIN, '--port', '0', '--data', scratch.child('refused'), '--webhook', 'ftp://hooks.example/x?token=query-secret'];
    const result = await runCommand(process.execPath, args, { env: { PATH: systemPath() } });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual(['berth: invalid --webhook "ftp://hooks.example/x": expected an absolute http:// or https:// URL']);
  });

  it("delivers skopeo's and docker's pushes, deletes and a mount, with distribution's fields, in order per repository", async () => {
    const hook = await receiver();
    const server = await berth(['--webhook', hook.url]);
    const host = new URL(server.url).host;

    const layout = await writeImageLayout({ dir: scratch.child('layout'), layers: 2, seed: 1001, tag: 'v1' });
    await skopeo.copy(layout.ref, dockerRef(host, 'hooks/skopeo', 'v1'));
    const image = layout.images[0]!;

    const clientImage = await writeClientImage({ path: scratch.child('docker.tar'), seed: 1002, repoTag: `${host}/hooks/docker:latest` });
    await engine.load(clientImage.path);
    await engine.dockerOk(['push', clientImage.repoTag]);

    // A cross-repository mount, then a tag delete and a manifest delete.
    const layer = image.layers[0]!;
    await send(`${server.url}/v2/hooks/mounted/blobs/uploads/?mount=${layer.digest}&from=hooks/skopeo`, { method: 'POST', expect: 201 });
    await send(`${server.url}/v2/hooks/skopeo/manifests/v1`, { method: 'DELETE', expect: 202 });
    await send(`${server.url}/v2/hooks/skopeo/manifests/${image.manifest.digest}`, { method: 'DELETE', expect: 202 });

    const events = await hook.waitFor(
      (accepted) => accepted.some((event) => event.action === 'delete' && event.target.digest === image.manifest.digest) && accepted.some((event) => event.target.repository === 'hooks/docker' && event.target.tag === 'latest'),
      'every event',
    );
    for (const delivery of hook.deliveries) expect(delivery.headers['content-type']).toBe(EVENTS_MEDIA_TYPE);
    for (const event of events) expectDistributionFields(event);
    for (const event of events) expect(event.source.addr).toMatch(new RegExp(`:${server.port}$`));
    expect(new Set(events.map((event) => event.id)).size).toBe(events.length);

    // skopeo: the blobs (in any order), then the manifest by tag, then the two deletes.
    const skopeoEvents = ofRepository(events, 'hooks/skopeo');
    expect(skopeoEvents.slice(0, 3).sort()).toEqual([image.config, ...image.layers].map((blob) => `push hooks/skopeo ${blob.digest}`).sort());
    expect(skopeoEvents.slice(3)).toEqual([`push hooks/skopeo v1 ${image.manifest.digest}`, 'delete hooks/skopeo v1', `delete hooks/skopeo ${image.manifest.digest}`]);
    const manifestPush = events.find((event) => event.target.tag === 'v1')!;
    expect(manifestPush.target).toMatchObject({ mediaType: MediaType.ociManifest, size: image.manifest.size, repository: 'hooks/skopeo' });
    expect(manifestPush.request).toMatchObject({ method: 'PUT' });
    expect(manifestPush.request.useragent).toMatch(/containers|skopeo/i);
    expect(manifestPush.actor).toEqual({});
    const blobPush = events.find((event) => event.action === 'push' && event.target.digest === layer.digest)!;
    expect(blobPush.target).toMatchObject({ mediaType: 'application/octet-stream', size: layer.size, length: layer.size });

    // docker: its manifest (schema2) by tag comes after its blobs.
    const dockerEvents = events.filter((event) => event.target.repository === 'hooks/docker');
    const dockerManifest = dockerEvents.at(-1)!;
    expect(dockerManifest.target).toMatchObject({ mediaType: MediaType.dockerManifest, tag: 'latest' });
    expect(dockerManifest.action).toBe('push');
    expect(dockerManifest.request.useragent).toMatch(/^docker\//);
    expect(dockerEvents.filter((event) => event.target.mediaType === 'application/octet-stream').length).toBeGreaterThanOrEqual(2);

    expect(ofRepository(events, 'hooks/mounted')).toEqual([`mount hooks/mounted ${layer.digest}`]);
    expect(events.find((event) => event.action === 'mount')!.target).toMatchObject({ fromRepository: 'hooks/skopeo', size: layer.size });
  });

  it('keeps events while the receiver refuses connections, then delivers all of them in order per repository', async () => {
    const hook = await receiver();
    await hook.stop();
    const server = await berth(['--webhook', hook.url]);
    const first = generateImage({ seed: 2001 });
    const second = generateImage({ seed: 2002 });
    await pushOverHttp(server.url, 'down/a', 'v1', first);
    await pushOverHttp(server.url, 'down/b', 'v1', second);
    await send(`${server.url}/v2/down/a/manifests/v1`, { method: 'DELETE', expect: 202 });
    await pushOverHttp(server.url, 'down/a', 'v2', second);
    // The worker has tried and failed (refused), and says so once.
    await server.waitForLine((line) => line.msg === 'webhook delivery failed; events wait and are retried' && line['error'] === 'ECONNREFUSED', 30_000);
    expect(server.output()).not.toContain('"level":50');

    await hook.start();
    const expectedA = [...pushedEvents('down/a', 'v1', first), 'delete down/a v1', ...pushedEvents('down/a', 'v2', second)];
    const expectedB = pushedEvents('down/b', 'v1', second);
    const events = await hook.waitFor((accepted) => accepted.length >= expectedA.length + expectedB.length, 'the waiting events');
    expect(ofRepository(events, 'down/a')).toEqual(expectedA);
    expect(ofRepository(events, 'down/b')).toEqual(expectedB);
    await server.waitForLine((line) => line.msg === 'webhook endpoint accepts events again');
  });

  it('delivers after a restart every event of pushes that got 201 before kill -9', async () => {
    const hook = await receiver();
    // Down: nothing can be delivered before the kill, so every event must come from the outbox.
    await hook.stop();
    const dataDir = scratch.child('killed');
    const server = await startFaultServer(dataDir, ['--webhook', hook.url]);
    const images = [generateImage({ seed: 3001 }), generateImage({ seed: 3002 }), generateImage({ seed: 3003 })];
    for (const [index, image] of images.entries()) await pushOverHttp(server.url, `crash/r${index % 2}`, `t${index}`, image);
    await server.kill9();

    await hook.start();
    const restarted = await berth(['--webhook', hook.url], dataDir);
    const expected0 = [...pushedEvents('crash/r0', 't0', images[0]!), ...pushedEvents('crash/r0', 't2', images[2]!)];
    const expected1 = pushedEvents('crash/r1', 't1', images[1]!);
    const events = await hook.waitFor((accepted) => accepted.length >= expected0.length + expected1.length, 'the events written before the kill');
    expect(ofRepository(events, 'crash/r0')).toEqual(expected0);
    expect(ofRepository(events, 'crash/r1')).toEqual(expected1);
    expect(restarted.output()).toContain('listening on');
  });

  it('two instances on one PostgreSQL database deliver each event exactly once', async () => {
    const database = await createScratchDatabase();
    cleanups.push(() => database.drop());
    const hook = await receiver();
    const dataDir = scratch.child('shared');
    const args = ['--webhook', hook.url, '--database', database.url];
    const [a, b] = [await berth(args, dataDir), await berth(args, dataDir)];
    const images = Array.from({ length: 6 }, (_, index) => generateImage({ seed: 4000 + index }));
    await Promise.all(images.map((image, index) => pushOverHttp((index % 2 === 0 ? a : b).url, `shared/r${index % 3}`, `t${index}`, image)));

    const total = images.reduce((count, image) => count + image.layers.length + 2, 0);
    const events = await hook.waitFor((accepted) => accepted.length >= total, `${total} events`);
    // Give a duplicate a chance to show: both instances poll every second.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const ids = hook.accepted.map((event) => event.id);
    expect(ids.length).toBe(total);
    expect(new Set(ids).size).toBe(total);
    expect(new Set(events.map((event) => event.source.instanceID)).size).toBe(2);
    for (let index = 0; index < 3; index++) {
      const repository = `shared/r${index}`;
      const manifests = ofRepository(events, repository).filter((line) => / t\d /.test(line));
      expect(manifests.length).toBe(2);
    }
  });

  it("sends a manifest push with every field distribution 2.8 sends, with the same types", async () => {
    const berthHook = await receiver();
    const referenceHook = await receiver();
    const reference = await startReferenceRegistry({
      notifications: { endpoints: [{ name: 'receiver', url: referenceHook.url, timeout: '5s', threshold: 5, backoff: '1s' }] },
    });
    cleanups.push(() => reference.stop());
    const server = await berth(['--webhook', berthHook.url]);
    const layout = await writeImageLayout({ dir: scratch.child('differential'), layers: 1, seed: 5001, tag: 'v1' });
    await skopeo.copy(layout.ref, dockerRef(reference.host, 'diff/app', 'v1'));
    await skopeo.copy(layout.ref, dockerRef(new URL(server.url).host, 'diff/app', 'v1'));

    const isManifestPush = (event: RegistryEvent) => event.action === 'push' && event.target.tag === 'v1';
    const theirs = (await referenceHook.waitFor((events) => events.some(isManifestPush), "the reference's manifest push")).find(isManifestPush)!;
    const ours = (await berthHook.waitFor((events) => events.some(isManifestPush), "berth's manifest push")).find(isManifestPush)!;
    expect(referenceHook.deliveries[0]!.headers['content-type']).toBe(EVENTS_MEDIA_TYPE);
    expect(berthHook.deliveries[0]!.headers['content-type']).toBe(EVENTS_MEDIA_TYPE);

    const missing: string[] = [];
    const compare = (their: unknown, our: unknown, path: string) => {
      if (our === undefined) {
        missing.push(`${path} (missing)`);
        return;
      }
      if (typeof their !== typeof our || Array.isArray(their) !== Array.isArray(our)) {
        missing.push(`${path} (${typeof their} there, ${typeof our} here)`);
        return;
      }
      if (typeof their === 'object' && their !== null) {
        for (const [key, value] of Object.entries(their)) compare(value, (our as Record<string, unknown>)[key], `${path}.${key}`);
      }
    };
    compare(theirs, ours, 'event');
    expect(missing).toEqual([]);
    // Same meaning where the values can be the same.
    for (const field of ['mediaType', 'digest', 'size', 'length', 'repository', 'tag'] as const) {
      expect(ours.target[field], `target.${field}`).toEqual(theirs.target[field]);
    }
    expect(ours.action).toBe(theirs.action);
    expect(ours.request.method).toBe(theirs.request.method);
    expect(new URL(ours.target.url!).pathname).toBe(new URL(theirs.target.url!).pathname);
    expect(ours.request.useragent).toBe(theirs.request.useragent);
  });
});
