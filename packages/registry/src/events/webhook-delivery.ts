import { randomUUID } from 'node:crypto';
import { EVENTS_MEDIA_TYPE, type ClaimedOutboxEntry, type EventOutbox, type RegistryEvent } from '@berth/core';
import { isIgnored } from '@berth/core/internal';
import type { EventSink } from './event-recorder.js';
import { redactedUrl, type ResolvedWebhookEndpoint } from './webhook-endpoint.js';

/** The part of a pino logger the worker uses. */
export interface DeliveryLog {
  /** Logs progress, such as an endpoint recovering. */
  info(fields: object, message: string): void;
  /** Logs a failed delivery or entries waiting too long. */
  warn(fields: object, message: string): void;
  /** Logs a failure of the worker itself. */
  error(fields: object, message: string): void;
}

export interface WebhookDeliveryOptions {
  outbox: EventOutbox;
  endpoints: readonly ResolvedWebhookEndpoint[];
  log?: DeliveryLog;
  /** Leases are held under this id (default a random one per worker). */
  owner?: string;
  /** Events per request (default 50). */
  batchSize?: number;
  /** How often an idle endpoint looks for entries another instance wrote (default 1000 ms). */
  pollInterval?: number;
  /** Waiting entries older than this are reported as a warning (default 5 minutes). */
  warnAfter?: number;
  /** How long after a change the worker looks for it, gathering changes made meanwhile (default 25 ms). */
  linger?: number;
}

interface QueuedPull {
  event: RegistryEvent;
  attempts: number;
}

/** Delivery progress of one endpoint, for metrics and tests. */
export interface EndpointStatus {
  /** The endpoint's URL as configured (it may hold credentials: redact it before logging). */
  url: string;
  /** Events delivered (a 2xx answer) since start. */
  delivered: number;
  /** Requests that failed (refused, timed out, not 2xx) since start. */
  failedAttempts: number;
  /** Pull events dropped: the in-memory queue was full, or their retries ran out. */
  droppedPulls: number;
  /** Pull events waiting in memory for this endpoint now. */
  pendingPulls: number;
}

/**
 * Sends webhook events: changes from the durable outbox (claimed under a lease, retried with
 * exponential backoff and jitter until delivered), pull events from a bounded in-memory queue. One
 * loop per endpoint; each request carries up to a batch of events in distribution's envelope.
 */
export class WebhookDelivery implements EventSink {
  readonly owner: string;
  readonly #outbox: EventOutbox;
  readonly #log: DeliveryLog | undefined;
  readonly #batchSize: number;
  readonly #pollInterval: number;
  readonly #warnAfter: number;
  readonly #linger: number;
  #lingering: NodeJS.Timeout | undefined;
  readonly #lanes: Lane[];
  readonly #stopping = new AbortController();
  #running: Array<Promise<void>> = [];

  constructor(options: WebhookDeliveryOptions) {
    this.#outbox = options.outbox;
    this.#log = options.log;
    this.owner = options.owner ?? randomUUID();
    this.#batchSize = options.batchSize ?? 50;
    this.#pollInterval = options.pollInterval ?? 1000;
    this.#warnAfter = options.warnAfter ?? 5 * 60_000;
    this.#linger = options.linger ?? 25;
    this.#lanes = options.endpoints.map((endpoint) => new Lane(endpoint));
  }

  start(): void {
    if (this.#running.length > 0 || this.#stopping.signal.aborted) return;
    this.#running = this.#lanes.map((lane) => this.#run(lane));
  }

  /** Stops the loops; a request in flight is abandoned (its entries stay leased until the lease ends). Idempotent. */
  async close(): Promise<void> {
    this.#stopping.abort();
    clearTimeout(this.#lingering);
    this.#lingering = undefined;
    for (const lane of this.#lanes) lane.wake();
    await Promise.all(this.#running);
  }

  committed(): void {
    // A short wait gathers the events of a busy moment into one claim and one request, instead of one
    // outbox round trip per change competing with the pushes for the database.
    if (this.#lingering !== undefined || this.#stopping.signal.aborted) return;
    this.#lingering = setTimeout(() => {
      this.#lingering = undefined;
      for (const lane of this.#lanes) lane.wake();
    }, this.#linger);
  }

  pulled(event: RegistryEvent): void {
    for (const lane of this.#lanes) {
      if (isIgnored(event, lane.endpoint.ignore)) continue;
      if (lane.pulls.length >= lane.endpoint.maxPendingPulls) {
        lane.status.droppedPulls += 1;
        continue;
      }
      lane.pulls.push({ event, attempts: 0 });
      lane.wake();
    }
  }

  status(): EndpointStatus[] {
    return this.#lanes.map((lane) => ({ ...lane.status, pendingPulls: lane.pulls.length }));
  }

  /** Age in milliseconds of the oldest change event not yet delivered to some endpoint; undefined when none waits. */
  async oldestPendingAge(now = new Date()): Promise<number | undefined> {
    let oldest: Date | undefined;
    for (const lane of this.#lanes) {
      const pending = await this.#outbox.oldestPending(lane.endpoint.url);
      if (pending !== undefined && (oldest === undefined || pending < oldest)) oldest = pending;
    }
    return oldest === undefined ? undefined : Math.max(0, now.getTime() - oldest.getTime());
  }

  async #run(lane: Lane): Promise<void> {
    const { endpoint } = lane;
    let lastAgeCheck = 0;
    let failures = 0;
    while (!this.#stopping.signal.aborted) {
      let worked = false;
      // After a failed request the whole endpoint rests, so a backlog spread over many repositories is not
      // sent batch after batch to an endpoint that is down.
      const resting = lane.restingUntil - Date.now();
      if (resting > 0) {
        await lane.idle(Math.min(resting, this.#pollInterval), this.#stopping.signal);
        continue;
      }
      try {
        worked = (await this.#deliverChanges(lane)) || worked;
        worked = (await this.#deliverPulls(lane)) || worked;
        if (Date.now() - lastAgeCheck >= Math.min(this.#warnAfter, 30_000)) {
          lastAgeCheck = Date.now();
          await this.#reportAge(lane);
        }
        failures = 0;
      } catch (error) {
        // The outbox itself failed (database down): wait, then try again.
        failures += 1;
        this.#log?.error({ endpoint: redactedUrl(endpoint.url), err: error }, 'webhook outbox unavailable');
        await lane.idle(backoff(endpoint, failures), this.#stopping.signal);
        continue;
      }
      if (!worked) await lane.idle(this.#pollInterval, this.#stopping.signal);
    }
  }

  /** One batch from the outbox. True when there was something to send. */
  async #deliverChanges(lane: Lane): Promise<boolean> {
    const { endpoint } = lane;
    const claimed = await this.#outbox.claim(endpoint.url, {
      owner: this.owner,
      // Long enough that a lease never ends while its request may still run.
      leaseMs: endpoint.timeout * 2 + 10_000,
      limit: this.#batchSize,
    });
    if (claimed.length === 0) return false;
    const sequences = claimed.map((entry) => entry.sequence);
    if (await this.#send(lane, claimed.map((entry) => entry.payload))) {
      await this.#outbox.complete(sequences);
      lane.status.delivered += claimed.length;
    } else {
      const attempts = Math.max(...claimed.map((entry: ClaimedOutboxEntry) => entry.attempts)) + 1;
      await this.#outbox.release(this.owner, sequences, new Date(Date.now() + backoff(endpoint, attempts)));
    }
    return true;
  }

  /** One batch of pull events; after `retries` failed attempts an event is dropped. */
  async #deliverPulls(lane: Lane): Promise<boolean> {
    if (lane.pulls.length === 0 || Date.now() < lane.pullsDueAt) return false;
    const batch = lane.pulls.splice(0, this.#batchSize);
    if (await this.#send(lane, batch.map((queued) => JSON.stringify(queued.event)))) {
      lane.status.delivered += batch.length;
      return true;
    }
    const retried = batch.filter((queued) => ++queued.attempts < lane.endpoint.retries);
    lane.status.droppedPulls += batch.length - retried.length;
    lane.pulls.unshift(...retried);
    lane.pullsDueAt = Date.now() + backoff(lane.endpoint, Math.max(0, ...retried.map((queued) => queued.attempts)));
    return true;
  }

  /** POSTs the events in one envelope; true on a 2xx answer. */
  async #send(lane: Lane, payloads: string[]): Promise<boolean> {
    const { endpoint } = lane;
    const body = `{"events":[${payloads.join(',')}]}`;
    // Ends the request at the timeout or when the worker stops, whichever comes first.
    const request = new AbortController();
    const stop = () => request.abort();
    const timer = setTimeout(() => request.abort(new DOMException('webhook request timed out', 'TimeoutError')), endpoint.timeout);
    this.#stopping.signal.addEventListener('abort', stop, { once: true });
    try {
      const response = await fetch(endpoint.url, {
        method: 'POST',
        headers: { ...endpoint.headers, 'Content-Type': EVENTS_MEDIA_TYPE },
        body,
        signal: request.signal,
      });
      // Read the answer to the end so the connection can be reused.
      await response.arrayBuffer().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) {
        if (lane.failing) this.#log?.info({ endpoint: redactedUrl(endpoint.url) }, 'webhook endpoint accepts events again');
        lane.failing = false;
        lane.consecutiveFailures = 0;
        return true;
      }
      this.#failed(lane, { status: response.status });
    } catch (error) {
      if (this.#stopping.signal.aborted) return false;
      this.#failed(lane, { error: describeFailure(error) });
    } finally {
      clearTimeout(timer);
      this.#stopping.signal.removeEventListener('abort', stop);
    }
    return false;
  }

  #failed(lane: Lane, why: object): void {
    lane.status.failedAttempts += 1;
    lane.consecutiveFailures += 1;
    lane.restingUntil = Date.now() + backoff(lane.endpoint, lane.consecutiveFailures);
    // Once per outage, not once per retry.
    if (!lane.failing) this.#log?.warn({ endpoint: redactedUrl(lane.endpoint.url), ...why }, 'webhook delivery failed; events wait and are retried');
    lane.failing = true;
  }

  async #reportAge(lane: Lane): Promise<void> {
    const oldest = await this.#outbox.oldestPending(lane.endpoint.url);
    if (oldest === undefined) return;
    const age = Date.now() - oldest.getTime();
    if (age >= this.#warnAfter) {
      const pending = await this.#outbox.countPending(lane.endpoint.url);
      this.#log?.warn({ endpoint: redactedUrl(lane.endpoint.url), oldestPendingSeconds: Math.round(age / 1000), pending }, 'webhook events are waiting to be delivered');
    }
  }
}

/** One endpoint's loop state. */
class Lane {
  readonly pulls: QueuedPull[] = [];
  pullsDueAt = 0;
  failing = false;
  consecutiveFailures = 0;
  /** No request to the endpoint before this time (after a failure). */
  restingUntil = 0;
  readonly status: Omit<EndpointStatus, 'pendingPulls'>;
  #wake: (() => void) | undefined;
  #woken = false;

  constructor(readonly endpoint: ResolvedWebhookEndpoint) {
    this.status = { url: endpoint.url, delivered: 0, failedAttempts: 0, droppedPulls: 0 };
  }

  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** Waits `ms`, or less when woken or stopped; leaves no timer or listener behind. */
  async idle(ms: number, stopping: AbortSignal): Promise<void> {
    if (this.#woken || stopping.aborted) {
      this.#woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stopping.removeEventListener('abort', done);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      stopping.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
    this.#woken = false;
  }
}

/** Exponential backoff with jitter: between half and all of initial * 2^(attempt-1), capped. */
function backoff(endpoint: ResolvedWebhookEndpoint, attempt: number): number {
  const ceiling = Math.min(endpoint.backoff.max, endpoint.backoff.initial * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function describeFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (error instanceof Error && error.name === 'TimeoutError') return 'timeout';
  return error instanceof Error ? error.message : String(error);
}
