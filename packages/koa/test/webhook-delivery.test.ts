// The webhook worker on its own, over a real SQLite outbox and a real receiver: what it logs when an
// endpoint stays down (never a header value or the URL's query), the age of the oldest waiting event,
// and delivery once the endpoint is back.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MetadataStore } from '@berth/core';
import { resolveWebhookEndpoint, WebhookDelivery } from '@berth/registry/internal';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';
import { RegistryMetrics } from '../src/observability/registry-metrics.js';
import { WebhookReceiver } from '../../../test/support/webhook-receiver.js';

interface Logged {
  level: 'info' | 'warn' | 'error';
  fields: object;
  message: string;
}

describe('WebhookDelivery', () => {
  let dir: string;
  let store: MetadataStore;
  let receiver: WebhookReceiver;
  const logged: Logged[] = [];
  const log = {
    info: (fields: object, message: string) => void logged.push({ level: 'info', fields, message }),
    warn: (fields: object, message: string) => void logged.push({ level: 'warn', fields, message }),
    error: (fields: object, message: string) => void logged.push({ level: 'error', fields, message }),
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-delivery-'));
    store = await openSqliteMetadataStore({ filename: join(dir, 'berth.sqlite') });
    receiver = await WebhookReceiver.start();
    logged.length = 0;
  });

  afterEach(async () => {
    await receiver.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reports events waiting for an endpoint that is down without its secrets, then delivers them', async () => {
    const url = `${receiver.url}?token=query-secret`;
    await receiver.stop();
    const endpoint = resolveWebhookEndpoint({ url, headers: { Authorization: 'Bearer header-secret' }, backoff: { initial: 10, max: 50 } });
    const payload = JSON.stringify({ id: 'event-1', action: 'push', target: { repository: 'app' } });
    await store.linkBlob('app', `sha256:${'a'.repeat(64)}`, 1, [{ endpoint: url, repository: 'app', eventId: 'event-1', payload }]);

    const delivery = new WebhookDelivery({ outbox: store.outbox!, endpoints: [endpoint], log, pollInterval: 10, warnAfter: 1 });
    delivery.start();
    await expect.poll(() => logged.some((line) => line.message === 'webhook events are waiting to be delivered'), { timeout: 10_000 }).toBe(true);
    const waiting = logged.find((line) => line.message === 'webhook events are waiting to be delivered')!;
    expect(waiting).toMatchObject({ level: 'warn', fields: { endpoint: receiver.url, pending: 1 } });
    const failed = logged.filter((line) => line.message === 'webhook delivery failed; events wait and are retried');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.fields).toMatchObject({ endpoint: receiver.url, error: 'ECONNREFUSED' });
    expect(delivery.status()[0]!.failedAttempts).toBeGreaterThanOrEqual(1);
    const inFiveSeconds = new Date(Date.now() + 5000);
    expect(await delivery.oldestPendingAge(inFiveSeconds)).toBeGreaterThanOrEqual(5000);

    await receiver.start();
    const delivered = await receiver.waitFor((events) => events.length === 1, 'the waiting event');
    expect(delivered[0]!.id).toBe('event-1');
    expect(receiver.deliveries.at(-1)!.headers['authorization']).toBe('Bearer header-secret');
    expect(receiver.deliveries.at(-1)!.path).toBe('/hook?token=query-secret');
    await expect.poll(() => store.outbox!.countPending()).toBe(0);
    expect(await delivery.oldestPendingAge()).toBeUndefined();
    expect(logged.some((line) => line.message === 'webhook endpoint accepts events again')).toBe(true);

    await delivery.close();
    await delivery.close();
    const everything = JSON.stringify(logged);
    expect(everything).not.toContain('header-secret');
    expect(everything).not.toContain('query-secret');
  });

  it('shows in the metrics: failed attempts and the waiting event while down, then the delivery, never the secrets', async () => {
    const url = `${receiver.url}?token=query-secret`;
    await receiver.stop();
    const endpoint = resolveWebhookEndpoint({ url, backoff: { initial: 10, max: 50 } });
    await store.linkBlob('app', `sha256:${'c'.repeat(64)}`, 1, [{ endpoint: url, repository: 'app', eventId: 'event-3', payload: '{"id":"event-3"}' }]);
    const delivery = new WebhookDelivery({ outbox: store.outbox!, endpoints: [endpoint], log, pollInterval: 10 });
    const metrics = new RegistryMetrics({ collectDefault: false });
    metrics.observeWebhooks(delivery);
    const sample = async (name: string) => {
      const text = await metrics.register.metrics();
      expect(text).not.toContain('query-secret');
      const line = text.split('\n').find((candidate) => candidate.startsWith(name));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    };
    const label = `{endpoint="${receiver.url}"}`;
    delivery.start();
    await expect.poll(() => delivery.status()[0]!.failedAttempts, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect(await sample(`berth_webhook_failed_attempts_total${label}`)).toBeGreaterThanOrEqual(1);
    expect(await sample('berth_webhook_oldest_pending_seconds')).toBeGreaterThan(0);
    expect(await sample(`berth_webhook_events_delivered_total${label}`)).toBe(0);

    await receiver.start();
    await receiver.waitFor((events) => events.length === 1, 'the waiting event');
    await expect.poll(() => sample(`berth_webhook_events_delivered_total${label}`)).toBe(1);
    await expect.poll(() => sample('berth_webhook_oldest_pending_seconds')).toBe(0);
    await delivery.close();
  });

  it('counts a request the endpoint never answers as failed after the timeout, and keeps the event', async () => {
    // Accepts connections and never answers.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(silent.address() as { port: number }).port}/hook`;
    try {
      const endpoint = resolveWebhookEndpoint({ url, timeout: 200, backoff: { initial: 10, max: 20 } });
      await store.linkBlob('app', `sha256:${'b'.repeat(64)}`, 1, [{ endpoint: url, repository: 'app', eventId: 'event-2', payload: '{"id":"event-2"}' }]);
      const delivery = new WebhookDelivery({ outbox: store.outbox!, endpoints: [endpoint], log, pollInterval: 10 });
      delivery.start();
      await expect.poll(() => logged.find((line) => line.message === 'webhook delivery failed; events wait and are retried'), { timeout: 10_000 }).toMatchObject({
        fields: { endpoint: url, error: 'timeout' },
      });
      await delivery.close();
      expect(await store.outbox!.countPending(url)).toBe(1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
