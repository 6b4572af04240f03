/**
 * One event waiting for one webhook endpoint. The store keeps it as given; `payload` is the event's
 * JSON, opaque to the store. Written with the change it describes, in the same transaction.
 */
export interface OutboxEntry {
  /** Which endpoint it is for (its URL): each endpoint has its own copy and its own progress. */
  endpoint: string;
  /** Events of one repository are handed out in the order they were written. */
  repository: string;
  /** The event's id, kept for logs and de-duplication downstream. */
  eventId: string;
  /** One event (a RegistryEvent) as JSON text; delivery joins the entries of a batch into one webhook body. */
  payload: string;
}

/** An entry a worker holds a lease on. `sequence` orders entries and names the entry to complete or release. */
export interface ClaimedOutboxEntry extends OutboxEntry {
  /** Position in write order, unique in the outbox. */
  sequence: number;
  /** Failed deliveries so far. */
  attempts: number;
  /** When the entry was written. */
  createdAt: Date;
}

/** A lease on outbox entries for one worker. */
export interface OutboxClaim {
  /** Who holds the lease (one id per worker, for example per process). */
  owner: string;
  /** How long the lease lasts; after that, another worker may take the entries (at-least-once). */
  leaseMs: number;
  /** At most this many entries. */
  limit: number;
  /** The clock the lease and retry times compare against (default now). */
  now?: Date;
}

/**
 * The durable outbox of events for webhooks, in the metadata store. Entries of one endpoint and one
 * repository are claimed in write order, and never while an earlier one of them is leased or waiting
 * for a retry, so a receiver sees each repository's events in order. Entries are never dropped: an
 * entry stays until it is completed.
 */
export interface EventOutbox {
  /** Leases up to `limit` entries of the endpoint that are due, oldest first, honouring repository order. */
  claim(endpoint: string, claim: OutboxClaim): Promise<ClaimedOutboxEntry[]>;
  /** Removes delivered entries. */
  complete(sequences: readonly number[]): Promise<void>;
  /** Gives entries back after a failed delivery: counted as one more attempt, due again at `retryAt`. */
  release(owner: string, sequences: readonly number[], retryAt: Date): Promise<void>;
  /** When the oldest entry still waiting (for this endpoint, or any) was written; undefined when none waits. */
  oldestPending(endpoint?: string): Promise<Date | undefined>;
  /** How many entries wait (for this endpoint, or in all). */
  countPending(endpoint?: string): Promise<number>;
}
