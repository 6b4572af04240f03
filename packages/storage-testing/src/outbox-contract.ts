import assert from 'node:assert/strict';
import type { EventOutbox, MetadataStore, OutboxEntry } from '@berth/core';
import { blobDigest, manifestWrite } from './fixtures.js';
import type { TestApi } from './test-api.js';

/** What the outbox tests need from the metadata contract around them. */
export interface OutboxSubject {
  store(): MetadataStore;
  /** A second store on the same data, or undefined when the 'sharing' group is off. */
  sibling(): Promise<MetadataStore> | undefined;
  /** Closes the store and opens it again, or undefined when the 'persistence' group is off. */
  reopen: (() => Promise<MetadataStore>) | undefined;
}

const HOOK = 'http://receiver.test/hook';
const OTHER_HOOK = 'http://other.test/hook';
const T0 = new Date('2030-01-01T00:00:00Z');
const later = (ms: number) => new Date(T0.getTime() + ms);

let counter = 0;
/** An outbox entry as the registry writes one: the payload is opaque to the store. */
export function outboxEntry(repository: string, label: string, endpoint = HOOK): OutboxEntry {
  const eventId = `event-${label}-${++counter}`;
  return { endpoint, repository, eventId, payload: JSON.stringify({ id: eventId, label }) };
}

function outboxOf(store: MetadataStore): EventOutbox {
  assert.ok(store.outbox, 'the store has an outbox (webhooks need one)');
  return store.outbox;
}

const labels = (entries: Array<{ payload: string }>) => entries.map((entry) => (JSON.parse(entry.payload) as { label: string }).label);

/** The outbox part of the metadata store contract (see EventOutbox). */
export function outboxContract(test: Pick<TestApi, 'describe' | 'it'>, subject: OutboxSubject): void {
  const { describe, it } = test;
  describe('event outbox', () => {
    it('writes the events of each change with it, in order, and hands them out once under a lease', async () => {
      const store = subject.store();
      const outbox = outboxOf(store);
      const write = manifestWrite('app', { tag: 'latest' });
      const pushed = outboxEntry('app', 'manifest');
      await store.linkBlob('app', blobDigest('layer'), 3, [outboxEntry('app', 'blob')]);
      await store.putManifest({ ...write, events: [pushed] });
      assert.equal(await outbox.countPending(), 2);

      const claimed = await outbox.claim(HOOK, { owner: 'a', leaseMs: 60_000, limit: 10, now: later(0) });
      assert.deepEqual(labels(claimed), ['blob', 'manifest']);
      assert.ok(claimed[0]!.sequence < claimed[1]!.sequence, 'sequences grow in write order');
      const manifestEntry = claimed[1]!;
      assert.deepEqual(
        { endpoint: manifestEntry.endpoint, repository: manifestEntry.repository, eventId: manifestEntry.eventId, payload: manifestEntry.payload, attempts: manifestEntry.attempts },
        { ...pushed, attempts: 0 },
      );
      assert.ok(manifestEntry.createdAt instanceof Date && !Number.isNaN(manifestEntry.createdAt.getTime()));

      // Leased: nobody else gets them until the lease ends.
      assert.deepEqual(await outbox.claim(HOOK, { owner: 'b', leaseMs: 60_000, limit: 10, now: later(1000) }), []);
      await outbox.complete(claimed.map((entry) => entry.sequence));
      assert.equal(await outbox.countPending(), 0);
      assert.equal(await outbox.oldestPending(), undefined);
      assert.deepEqual(await outbox.claim(HOOK, { owner: 'b', leaseMs: 60_000, limit: 10, now: later(120_000) }), []);
    });

    it('writes a delete event only when something was deleted', async () => {
      const store = subject.store();
      const outbox = outboxOf(store);
      const write = manifestWrite('app', { tag: 'latest' });
      await store.putManifest(write);
      await store.linkBlob('app', blobDigest('layer'), 3);
      assert.equal(await store.deleteTag('app', 'missing', [outboxEntry('app', 'no tag')]), false);
      const moved = { digest: blobDigest('another manifest'), pushedBefore: later(1000) };
      assert.equal(await store.deleteTag('app', 'latest', [outboxEntry('app', 'tag moved')], moved), false);
      assert.equal(await store.deleteManifest('app', blobDigest('nothing'), [outboxEntry('app', 'no manifest')]), false);
      assert.equal(await store.unlinkBlob('app', blobDigest('nothing'), [outboxEntry('app', 'no link')]), false);
      assert.equal(await outbox.countPending(), 0);

      assert.equal(await store.deleteTag('app', 'latest', [outboxEntry('app', 'tag')]), true);
      assert.equal(await store.deleteManifest('app', write.manifest.digest, [outboxEntry('app', 'manifest')]), true);
      assert.equal(await store.unlinkBlob('app', blobDigest('layer'), [outboxEntry('app', 'link')]), true);
      const claimed = await outbox.claim(HOOK, { owner: 'a', leaseMs: 1000, limit: 10, now: later(0) });
      assert.deepEqual(labels(claimed), ['tag', 'manifest', 'link']);
    });

    it('never hands out a later event of a repository while an earlier one is leased or waiting to be retried', async () => {
      const store = subject.store();
      const outbox = outboxOf(store);
      await store.linkBlob('a', blobDigest('1'), 1, [outboxEntry('a', 'a1')]);
      await store.linkBlob('a', blobDigest('2'), 1, [outboxEntry('a', 'a2')]);
      await store.linkBlob('b', blobDigest('1'), 1, [outboxEntry('b', 'b1')]);

      const first = await outbox.claim(HOOK, { owner: 'one', leaseMs: 10_000, limit: 1, now: later(0) });
      assert.deepEqual(labels(first), ['a1']);
      // a2 waits behind the leased a1; b1 is free.
      const second = await outbox.claim(HOOK, { owner: 'two', leaseMs: 10_000, limit: 10, now: later(0) });
      assert.deepEqual(labels(second), ['b1']);

      // The delivery of a1 failed: it comes back at the retry time, and a2 still waits behind it.
      await outbox.release('one', first.map((entry) => entry.sequence), later(5000));
      assert.deepEqual(await outbox.claim(HOOK, { owner: 'two', leaseMs: 10_000, limit: 10, now: later(1000) }), []);
      const retried = await outbox.claim(HOOK, { owner: 'two', leaseMs: 10_000, limit: 10, now: later(5000) });
      assert.deepEqual(labels(retried), ['a1', 'a2']);
      assert.deepEqual(
        retried.map((entry) => entry.attempts),
        [1, 0],
      );
      // A release by someone who does not hold the lease changes nothing.
      await outbox.release('one', retried.map((entry) => entry.sequence), later(0));
      assert.deepEqual(await outbox.claim(HOOK, { owner: 'three', leaseMs: 10_000, limit: 10, now: later(6000) }), []);
      const oldest = await outbox.oldestPending(HOOK);
      assert.ok(oldest instanceof Date);
      assert.equal(await outbox.countPending(HOOK), 3);
    });

    it('hands entries out again once their lease has expired (at least once after a crash)', async () => {
      const store = subject.store();
      const outbox = outboxOf(store);
      await store.linkBlob('app', blobDigest('1'), 1, [outboxEntry('app', 'x')]);
      const claimed = await outbox.claim(HOOK, { owner: 'crashed', leaseMs: 1000, limit: 10, now: later(0) });
      assert.deepEqual(labels(claimed), ['x']);
      assert.deepEqual(await outbox.claim(HOOK, { owner: 'next', leaseMs: 1000, limit: 10, now: later(999) }), []);
      const again = await outbox.claim(HOOK, { owner: 'next', leaseMs: 1000, limit: 10, now: later(1000) });
      assert.deepEqual(
        again.map((entry) => entry.sequence),
        claimed.map((entry) => entry.sequence),
      );
    });

    it('keeps each endpoint apart', async () => {
      const store = subject.store();
      const outbox = outboxOf(store);
      await store.linkBlob('app', blobDigest('1'), 1, [outboxEntry('app', 'one', HOOK), outboxEntry('app', 'other', OTHER_HOOK)]);
      const forHook = await outbox.claim(HOOK, { owner: 'a', leaseMs: 1000, limit: 10, now: later(0) });
      assert.deepEqual(labels(forHook), ['one']);
      await outbox.complete(forHook.map((entry) => entry.sequence));
      assert.equal(await outbox.countPending(HOOK), 0);
      assert.equal(await outbox.countPending(OTHER_HOOK), 1);
      assert.equal(await outbox.oldestPending(HOOK), undefined);
      assert.ok((await outbox.oldestPending(OTHER_HOOK)) instanceof Date);
      assert.deepEqual(labels(await outbox.claim(OTHER_HOOK, { owner: 'a', leaseMs: 1000, limit: 10, now: later(0) })), ['other']);
    });

    it('keeps waiting entries across a reopen', async () => {
      if (subject.reopen === undefined) return;
      await subject.store().putManifest({ ...manifestWrite('app'), events: [outboxEntry('app', 'kept')] });
      const reopened = await subject.reopen();
      assert.deepEqual(labels(await outboxOf(reopened).claim(HOOK, { owner: 'a', leaseMs: 1000, limit: 10, now: later(0) })), ['kept']);
    });

    it('never leases one entry to two instances claiming at once, and keeps each repository in order', async () => {
      const opened = subject.sibling();
      if (opened === undefined) return;
      const other = await opened;
      const store = subject.store();
      const repositories = ['r1', 'r2', 'r3', 'r4'];
      for (let index = 0; index < 40; index++) {
        const repository = repositories[index % repositories.length]!;
        await store.linkBlob(repository, blobDigest(`${index}`), 1, [outboxEntry(repository, `${repository}-${index}`)]);
      }
      const seen = new Map<number, string>();
      const delivered = new Map<string, number[]>();
      // Instances claim concurrently; each completes what it got, like a worker after a delivery.
      const worker = async (instance: MetadataStore, owner: string) => {
        for (let round = 0; round < 40; round++) {
          const claimed = await outboxOf(instance).claim(HOOK, { owner, leaseMs: 60_000, limit: 3 });
          for (const entry of claimed) {
            assert.equal(seen.get(entry.sequence), undefined, `entry ${entry.sequence} leased twice`);
            seen.set(entry.sequence, owner);
            delivered.set(entry.repository, [...(delivered.get(entry.repository) ?? []), entry.sequence]);
          }
          await outboxOf(instance).complete(claimed.map((entry) => entry.sequence));
          if (claimed.length === 0 && (await outboxOf(instance).countPending(HOOK)) === 0) return;
        }
      };
      await Promise.all([worker(store, 'one'), worker(other, 'two'), worker(store, 'three'), worker(other, 'four')]);
      assert.equal(seen.size, 40);
      for (const [repository, sequences] of delivered) {
        assert.deepEqual(sequences, [...sequences].sort((a, b) => a - b), `${repository} delivered in order`);
      }
    });
  });
}
