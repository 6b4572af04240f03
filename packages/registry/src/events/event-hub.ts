import type { EventAction, RegistryEvent } from '@berth/core';

/** A listener of one action's events: `on('push', (event) => …)` gets events whose `action` is `'push'`. */
export type RegistryEventListener<A extends EventAction = EventAction> = (event: RegistryEvent & { action: A }) => void | Promise<void>;

/** What a listener's failure is reported to; it never reaches the request that caused the event. */
export type ListenerErrorHandler = (error: unknown, event: RegistryEvent) => void;

/**
 * In-process listeners of registry events. Changes are emitted after they committed; a listener that
 * throws or rejects is reported to the error handler and never breaks the request.
 */
export class EventHub {
  readonly #listeners = new Map<EventAction, Set<RegistryEventListener>>();

  constructor(private readonly onListenerError: ListenerErrorHandler = () => undefined) {}

  /** Adds a listener of one action's events; returns the hub for chaining. */
  on<A extends EventAction>(action: A, listener: RegistryEventListener<A>): this {
    const listeners = this.#listeners.get(action) ?? new Set();
    listeners.add(listener as RegistryEventListener);
    this.#listeners.set(action, listeners);
    return this;
  }

  /** Removes a listener added with `on`; returns the hub for chaining. */
  off<A extends EventAction>(action: A, listener: RegistryEventListener<A>): this {
    this.#listeners.get(action)?.delete(listener as RegistryEventListener);
    return this;
  }

  /** True when someone listens to `action` (pull events are only built then, or for webhooks). */
  listens(action: EventAction): boolean {
    return (this.#listeners.get(action)?.size ?? 0) > 0;
  }

  /** Calls every listener of the event's action; failures go to the error handler, never to the caller. */
  emit(event: RegistryEvent): void {
    for (const listener of this.#listeners.get(event.action) ?? []) {
      try {
        const result = listener(event);
        if (result instanceof Promise) result.catch((error: unknown) => this.#report(error, event));
      } catch (error) {
        this.#report(error, event);
      }
    }
  }

  #report(error: unknown, event: RegistryEvent): void {
    try {
      this.onListenerError(error, event);
    } catch {
      // A failing error handler must not break the request either.
    }
  }
}
