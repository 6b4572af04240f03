import type { ClaimedOutboxEntry, EventOutbox, OutboxClaim, OutboxEntry } from '@berth/core';
import type { MemoryDatabase } from './memory-database.js';

/** Appends outbox entries; called within the same synchronous step as the change they describe. */
export function appendOutboxEntries(db: MemoryDatabase, entries: readonly OutboxEntry[] = [], now = Date.now()): void {
  for (const entry of entries) {
    const sequence = db.nextOutboxSequence++;
    db.eventOutbox.set(sequence, { ...entry, sequence, createdAt: now, attempts: 0, nextAttemptAt: now });
  }
}

/**
 * The outbox over a MemoryDatabase. Each method runs without awaiting, so a claim is atomic and two
 * stores on one database never lease the same entry.
 */
export class MemoryEventOutbox implements EventOutbox {
  constructor(private readonly database: () => MemoryDatabase) {}

  async claim(endpoint: string, { owner, leaseMs, limit, now = new Date() }: OutboxClaim): Promise<ClaimedOutboxEntry[]> {
    const at = now.getTime();
    const held = new Set<string>();
    const claimed: ClaimedOutboxEntry[] = [];
    for (const row of this.database().eventOutbox.values()) {
      if (claimed.length >= Math.max(limit, 0)) break;
      if (row.endpoint !== endpoint || held.has(row.repository)) continue;
      const leased = row.leaseExpiresAt !== undefined && row.leaseExpiresAt > at;
      if (leased || row.nextAttemptAt > at) {
        // Later entries of this repository wait for this one.
        held.add(row.repository);
        continue;
      }
      row.leaseOwner = owner;
      row.leaseExpiresAt = at + leaseMs;
      const { leaseOwner: _owner, leaseExpiresAt: _expires, nextAttemptAt: _next, createdAt, ...entry } = row;
      claimed.push({ ...entry, createdAt: new Date(createdAt) });
    }
    return claimed;
  }

  async complete(sequences: readonly number[]): Promise<void> {
    const outbox = this.database().eventOutbox;
    for (const sequence of sequences) outbox.delete(sequence);
  }

  async release(owner: string, sequences: readonly number[], retryAt: Date): Promise<void> {
    const outbox = this.database().eventOutbox;
    for (const sequence of sequences) {
      const row = outbox.get(sequence);
      if (row === undefined || row.leaseOwner !== owner) continue;
      delete row.leaseOwner;
      delete row.leaseExpiresAt;
      row.attempts += 1;
      row.nextAttemptAt = retryAt.getTime();
    }
  }

  async oldestPending(endpoint?: string): Promise<Date | undefined> {
    let oldest: number | undefined;
    for (const row of this.database().eventOutbox.values()) {
      if (endpoint !== undefined && row.endpoint !== endpoint) continue;
      if (oldest === undefined || row.createdAt < oldest) oldest = row.createdAt;
    }
    return oldest === undefined ? undefined : new Date(oldest);
  }

  async countPending(endpoint?: string): Promise<number> {
    return [...this.database().eventOutbox.values()].filter((row) => endpoint === undefined || row.endpoint === endpoint).length;
  }
}
