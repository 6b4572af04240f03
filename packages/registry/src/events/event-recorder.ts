import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type EventSource, type OutboxEntry, type RegistryEvent, type RequestContext, type PullChange, type RegistryChange } from '@berth/core';
import { buildEvent, isIgnored } from '@berth/core/internal';
import type { EventHub } from './event-hub.js';
import type { ResolvedWebhookEndpoint } from './webhook-endpoint.js';

/** An event built before its change is written, with the outbox entries that go into the same transaction. */
export interface PreparedEvent {
  /** The event, emitted to listeners once the change committed. */
  event: RegistryEvent;
  /** One entry per webhook endpoint that does not ignore the event, written with the change. */
  outbox: OutboxEntry[];
}

/** Who is told once a change has committed, or a pull happened: the webhook worker. */
export interface EventSink {
  /** New outbox entries are there: deliver soon rather than at the next poll. */
  committed(): void;
  /** A pull event, best-effort: held in memory for the endpoints, never written. */
  pulled(event: RegistryEvent): void;
}

/** Options of the event recorder. */
export interface EventRecorderOptions {
  /** The in-process listeners events are emitted to. */
  hub: EventHub;
  /** Webhook endpoints that get an outbox entry for each event they do not ignore. */
  endpoints: readonly ResolvedWebhookEndpoint[];
  /** Whether pull events go to webhooks (in-process listeners get them whenever they listen). */
  pullEvents: boolean;
  /** How events name this instance; default the host name and a random id per process. */
  source?: EventSource;
}

/**
 * Turns the registry's changes into events: prepared before the write (so the outbox entries join its
 * transaction), published after it committed.
 */
export class EventRecorder {
  /** The in-process listeners events are emitted to. */
  readonly hub: EventHub;
  readonly #source: EventSource | undefined;
  readonly #instanceID = randomUUID();
  readonly #endpoints: readonly ResolvedWebhookEndpoint[];
  readonly #pullEvents: boolean;
  #sink: EventSink | undefined;

  constructor(options: EventRecorderOptions) {
    this.hub = options.hub;
    this.#endpoints = options.endpoints;
    this.#pullEvents = options.pullEvents;
    this.#source = options.source;
  }

  /**
   * How events name this instance. Read at every event, so a host that learns its port only once
   * listening may fill in `addr` on the object it passed.
   */
  get source(): EventSource {
    return { addr: this.#source?.addr ?? hostname(), instanceID: this.#source?.instanceID ?? this.#instanceID };
  }

  /** Sets (or, with undefined, removes) who is told of committed changes and pulls: the webhook worker. */
  attach(sink: EventSink | undefined): void {
    this.#sink = sink;
  }

  /** Builds the event of a change before it is written, with the outbox entries for the endpoints that want it. */
  prepare(change: RegistryChange, context: RequestContext = {}): PreparedEvent {
    const event = buildEvent(change, context, this.source, { id: randomUUID(), timestamp: new Date() });
    const endpoints = this.#endpoints.filter((endpoint) => !isIgnored(event, endpoint.ignore));
    const payload = endpoints.length === 0 ? '' : JSON.stringify(event);
    const outbox = endpoints.map((endpoint) => ({ endpoint: endpoint.url, repository: change.repository, eventId: event.id, payload }));
    return { event, outbox };
  }

  /** The change committed: in-process listeners hear of it, the worker delivers it. */
  published(prepared: PreparedEvent): void {
    this.hub.emit(prepared.event);
    if (prepared.outbox.length > 0) this.#sink?.committed();
  }

  /** A manifest or blob was served. Built only when someone wants pull events; never written anywhere. */
  pulled(change: PullChange, context: RequestContext = {}): void {
    const toWebhooks = this.#pullEvents && this.#sink !== undefined;
    if (!toWebhooks && !this.hub.listens('pull')) return;
    const event = buildEvent(change, context, this.source, { id: randomUUID(), timestamp: new Date() });
    this.hub.emit(event);
    if (toWebhooks) this.#sink?.pulled(event);
  }
}
