import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EVENTS_MEDIA_TYPE, type EventAction, type MetadataStore, type RegistryEvent } from '@berth/core';
import { WebhookReceiver, brief } from '../../../test/support/webhook-receiver.js';
import { pushBlob, pushImage, sha256, OCI_MANIFEST } from './support/content.js';
import { createRegistry } from '../src/index.js';
import { metadataFactories, openRegistry, type RegistryUnderTest } from './support/registry-under-test.js';

/** Every event the registry emits in-process, by arrival. */
function recordEvents(t: RegistryUnderTest, actions: EventAction[] = ['push', 'pull', 'delete', 'mount']): RegistryEvent[] {
  const seen: RegistryEvent[] = [];
  for (const action of actions) t.registry.events.on(action, (event) => void seen.push(event));
  return seen;
}

describe.each(Object.entries(metadataFactories))('events on %s', (_name, factory) => {
  let t: RegistryUnderTest | undefined;
  let receiver: WebhookReceiver | undefined;
  afterEach(async () => {
    await t?.close();
    await receiver?.stop();
    t = undefined;
    receiver = undefined;
  });

  it("tells in-process listeners of every change after it committed, with distribution's fields", async () => {
    t = await openRegistry(factory);
    const seen = recordEvents(t);
    // Typed per action: this listener's events are mounts.
    const mountActions: Array<'mount'> = [];
    t.registry.events.on('mount', (event) => void mountActions.push(event.action));
    const image = await pushImage(t.http, 'team/app', 'v1');
    const layerSize = 64;
    await t.http
      .post(`/v2/team/copy/blobs/uploads/?mount=${image.layers[0]}&from=team/app`)
      .set('User-Agent', 'events-test/1.0')
      .set('X-Test-User', 'alice')
      .expect(201);
    await t.http.delete('/v2/team/app/manifests/v1').set('X-Test-User', 'alice').expect(202);
    await t.http.delete(`/v2/team/app/manifests/${image.digest}`).expect(202);
    // A delete of something unknown changes nothing and tells nobody.
    await t.http.delete('/v2/team/app/manifests/v1').expect(404);

    expect(seen.map(brief)).toEqual([
      `push team/app ${image.config}`,
      `push team/app ${image.layers[0]}`,
      `push team/app v1 ${image.digest}`,
      `mount team/copy ${image.layers[0]}`,
      'delete team/app v1',
      `delete team/app ${image.digest}`,
    ]);
    const [, layer, manifest, mount, tagDelete, manifestDelete] = seen as [RegistryEvent, RegistryEvent, RegistryEvent, RegistryEvent, RegistryEvent, RegistryEvent];
    expect(manifest.target).toEqual({
      mediaType: OCI_MANIFEST,
      digest: image.digest,
      size: Buffer.byteLength(image.body),
      length: Buffer.byteLength(image.body),
      repository: 'team/app',
      url: expect.stringMatching(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/v2/team/app/manifests/${image.digest}$`)),
      tag: 'v1',
    });
    expect(layer.target).toMatchObject({ mediaType: 'application/octet-stream', digest: image.layers[0], size: layerSize, length: layerSize });
    expect(mount.target).toMatchObject({ repository: 'team/copy', fromRepository: 'team/app', digest: image.layers[0], size: layerSize });
    expect(mount.actor).toEqual({ name: 'alice' });
    expect(mount.request).toMatchObject({ method: 'POST', useragent: 'events-test/1.0', addr: expect.stringMatching(/^127\.0\.0\.1:\d+$|^\[::ffff:127\.0\.0\.1\]:\d+$/) });
    expect(mount.request.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(manifest.actor).toEqual({});
    expect(tagDelete.target).toEqual({ repository: 'team/app', tag: 'v1' });
    expect(manifestDelete.target).toEqual({ repository: 'team/app', digest: image.digest });
    expect(mountActions).toEqual(['mount']);
    expect(new Set(seen.map((event) => event.id)).size).toBe(seen.length);
    expect(new Set(seen.map((event) => event.request.id)).size).toBe(seen.length);
    for (const event of seen) {
      expect(new Date(event.timestamp).toISOString()).toBe(event.timestamp);
      expect(event.source.instanceID).toBe(seen[0]!.source.instanceID);
      expect(event.source.addr).toBeTruthy();
    }
  });

  it('tells pull listeners of manifests and whole blobs served by GET, never of HEAD or a range', async () => {
    t = await openRegistry(factory);
    const image = await pushImage(t.http, 'app', 'latest');
    const seen = recordEvents(t, ['pull']);
    await t.http.head('/v2/app/manifests/latest').set('Accept', OCI_MANIFEST).expect(200);
    await t.http.head(`/v2/app/blobs/${image.layers[0]}`).expect(200);
    await t.http.get(`/v2/app/blobs/${image.layers[0]}`).set('Range', 'bytes=0-9').expect(206);
    expect(seen).toEqual([]);
    await t.http.get('/v2/app/manifests/latest').set('Accept', OCI_MANIFEST).expect(200);
    await t.http.get(`/v2/app/manifests/${image.digest}`).set('Accept', OCI_MANIFEST).expect(200);
    await t.http.get(`/v2/app/blobs/${image.layers[0]}`).expect(200);
    expect(seen.map(brief)).toEqual([`pull app latest ${image.digest}`, `pull app ${image.digest}`, `pull app ${image.layers[0]}`]);
    expect(seen[0]!.target.mediaType).toBe(OCI_MANIFEST);
  });

  it('never fails a request because a listener throws or rejects', async () => {
    const errors: unknown[] = [];
    t = await openRegistry(factory, { onEventListenerError: (error) => void errors.push(error) });
    t.registry.events.on('push', () => {
      throw new Error('listener broke');
    });
    t.registry.events.on('push', async () => {
      throw new Error('listener rejected');
    });
    const digest = await pushBlob(t.http, 'app', randomBytes(10));
    await t.http.head(`/v2/app/blobs/${digest}`).expect(200);
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors.map((error) => (error as Error).message).sort()).toEqual(['listener broke', 'listener rejected']);
  });

  it('delivers changes to a webhook in the envelope, with its headers, filtered per endpoint', async () => {
    receiver = await WebhookReceiver.start();
    const filtered = await WebhookReceiver.start();
    t = await openRegistry(factory, {
      webhooks: [
        { url: receiver.url, headers: { Authorization: 'Bearer hook-secret', 'X-Source': 'berth' } },
        { url: filtered.url, ignore: { actions: ['delete'], mediaTypes: ['application/octet-stream'] } },
      ],
    });
    const image = await pushImage(t.http, 'app', 'v1');
    await t.http.delete('/v2/app/manifests/v1').expect(202);
    const events = await receiver.waitFor((accepted) => accepted.length === 4, 'four events');
    expect(events.map(brief)).toEqual([`push app ${image.config}`, `push app ${image.layers[0]}`, `push app v1 ${image.digest}`, 'delete app v1']);
    for (const delivery of receiver.deliveries) {
      expect(delivery.headers['content-type']).toBe(EVENTS_MEDIA_TYPE);
      expect(delivery.headers['authorization']).toBe('Bearer hook-secret');
      expect(delivery.headers['x-source']).toBe('berth');
      expect(Object.keys(JSON.parse(delivery.text) as object)).toEqual(['events']);
    }
    const onlyManifests = await filtered.waitFor((accepted) => accepted.length === 1, 'the manifest push');
    expect(onlyManifests.map(brief)).toEqual([`push app v1 ${image.digest}`]);
    // Delivered means gone from the outbox (just after the receivers answered).
    await expect.poll(() => t!.metadata.outbox!.countPending()).toBe(0);
    expect(await t.registry.events.oldestPendingAge()).toBeUndefined();
    await filtered.stop();
  });

  it('tells nobody of a mount undone because its bytes vanished between its two looks at them', async () => {
    receiver = await WebhookReceiver.start();
    t = await openRegistry(factory);
    const layer = await pushBlob(t.http, 'team/app', randomBytes(40));
    // A collector removes the bytes just after the mount's first look at them.
    let vanish = true;
    const blobs = new Proxy(t.blobs, {
      get(target, property) {
        if (property === 'stat') {
          return async (digest: string) => {
            const stored = await target.stat(digest);
            if (vanish && digest === layer) {
              vanish = false;
              await target.delete(digest);
            }
            return stored;
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const registry = createRegistry({ metadata: t.metadata, blobs, webhooks: [{ url: receiver.url }] });
    try {
      const mounts: RegistryEvent[] = [];
      registry.events.on('mount', (event) => void mounts.push(event));
      const http = request(registry.callback());
      // Not mounted: the client is sent to upload instead.
      await http.post(`/v2/team/copy/blobs/uploads/?mount=${layer}&from=team/app`).expect(202);
      await http.head(`/v2/team/copy/blobs/${layer}`).expect(404);
      // A push after it is delivered alone: the outbox held nothing of the mount.
      const marker = await pushBlob(http, 'team/marker', randomBytes(10));
      const delivered = await receiver.waitFor((events) => events.some((event) => event.target.digest === marker), 'the marker push');
      expect(delivered.map(brief)).toEqual([`push team/marker ${marker}`]);
      expect(mounts).toEqual([]);
      await expect.poll(() => t!.metadata.outbox!.countPending()).toBe(0);
    } finally {
      await registry.close();
    }
  });

  it('keeps retrying an endpoint that fails, and delivers each repository in order once it answers', async () => {
    receiver = await WebhookReceiver.start();
    let failures = 0;
    receiver.answer = () => (failures++ < 3 ? 503 : 200);
    t = await openRegistry(factory, { webhooks: [{ url: receiver.url, backoff: { initial: 20, max: 100 } }] });
    const a = await pushImage(t.http, 'a', 'v1');
    const b = await pushImage(t.http, 'b', 'v1');
    await t.http.delete('/v2/a/manifests/v1').expect(202);
    const events = await receiver.waitFor((accepted) => accepted.length === 7, 'seven events');
    const ofRepository = (name: string) => events.filter((event) => event.target.repository === name).map(brief);
    expect(ofRepository('a')).toEqual([`push a ${a.config}`, `push a ${a.layers[0]}`, `push a v1 ${a.digest}`, 'delete a v1']);
    expect(ofRepository('b')).toEqual([`push b ${b.config}`, `push b ${b.layers[0]}`, `push b v1 ${b.digest}`]);
    expect(receiver.deliveries.filter((delivery) => !delivery.accepted).length).toBe(3);
    // The count moves once the outbox has let go of the entries, just after the receiver answered.
    await expect.poll(() => t!.registry.events.webhookStatus()[0]).toMatchObject({ delivered: 7, failedAttempts: 3 });
  });

  it('sends pull events to webhooks only when asked, and drops them (counted) beyond the bound', async () => {
    receiver = await WebhookReceiver.start();
    t = await openRegistry(factory, { webhooks: [{ url: receiver.url, maxPendingPulls: 2 }], pullEvents: true });
    const image = await pushImage(t.http, 'app', 'v1');
    await receiver.waitFor((accepted) => accepted.length === 3, 'the pushes');
    receiver.answer = () => 503;
    await receiver.stop();
    for (let pull = 0; pull < 5; pull++) await t.http.get('/v2/app/manifests/v1').set('Accept', OCI_MANIFEST).expect(200);
    // At most two wait in memory (one may be in flight); the rest were dropped and counted.
    const status = t.registry.events.webhookStatus()[0]!;
    expect(status.pendingPulls + status.droppedPulls).toBeGreaterThanOrEqual(4);
    expect(status.droppedPulls).toBeGreaterThanOrEqual(2);
    // Pulls are never written: the outbox holds nothing (the pushes were delivered).
    await expect.poll(() => t!.metadata.outbox!.countPending()).toBe(0);
  });

  it('refuses webhooks over a metadata store without an outbox', async () => {
    const withoutOutbox = (store: MetadataStore): MetadataStore =>
      new Proxy(store, { get: (target, key) => (key === 'outbox' ? undefined : Reflect.get(target, key, target)) as unknown });
    await expect(openRegistry(async (dir) => withoutOutbox(await factory(dir)), { webhooks: [{ url: 'http://127.0.0.1:9/hook' }] })).rejects.toThrow(
      /event outbox/,
    );
  });
});

describe('webhook settings', () => {
  let t: RegistryUnderTest | undefined;
  beforeEach(() => {
    t = undefined;
  });
  afterEach(async () => t?.close());

  it('names a bad webhook URL without its query', async () => {
    await expect(openRegistry(metadataFactories['sqlite']!, { webhooks: [{ url: 'ftp://example.com/hook?token=secret' }] })).rejects.toThrow(
      'webhook URL "ftp://example.com/hook" must be http:// or https://',
    );
  });
});
