import type { ClaimedOutboxEntry, EventOutbox, OutboxClaim, OutboxEntry } from '@berth/core';
import type { Knex } from 'knex';
import type { Dialect } from './dialect.js';
import { TABLES } from './tables.js';

interface OutboxRow {
  sequence: number | string;
  endpoint: string;
  repository: string;
  event_id: string;
  payload: string;
  created_at: number | string;
  attempts: number | string;
}

/** Inserts outbox entries inside the transaction of the change they describe. */
export async function insertOutboxEntries(trx: Knex.Transaction, entries: readonly OutboxEntry[], now = Date.now()): Promise<void> {
  if (entries.length === 0) return;
  await trx(TABLES.eventOutbox).insert(
    entries.map((entry) => ({
      endpoint: entry.endpoint,
      repository: entry.repository,
      event_id: entry.eventId,
      payload: entry.payload,
      created_at: now,
      attempts: 0,
      next_attempt_at: now,
    })),
  );
}

/** The outbox over the `event_outbox` table (SQLite, PostgreSQL). */
export class KnexEventOutbox implements EventOutbox {
  constructor(
    private readonly knex: Knex,
    private readonly dialect: Dialect,
    /** The store's error translation (503 when the database is gone). */
    private readonly guard: <T>(operation: () => Promise<T>) => Promise<T>,
  ) {}

  async claim(endpoint: string, { owner, leaseMs, limit, now = new Date() }: OutboxClaim): Promise<ClaimedOutboxEntry[]> {
    if (limit <= 0) return [];
    const at = now.getTime();
    return this.guard(() =>
      this.knex.transaction(async (trx) => {
        await this.dialect.lockOutboxEndpoint?.(trx, endpoint);
        const rows: OutboxRow[] = await trx(`${TABLES.eventOutbox} as o`)
          .select('o.sequence', 'o.endpoint', 'o.repository', 'o.event_id', 'o.payload', 'o.created_at', 'o.attempts')
          .where('o.endpoint', endpoint)
          .where('o.next_attempt_at', '<=', at)
          .where((due) => due.whereNull('o.lease_expires_at').orWhere('o.lease_expires_at', '<=', at))
          // An earlier entry of the same repository that is leased or waiting holds the later ones back.
          .whereNotExists(
            trx(`${TABLES.eventOutbox} as e`)
              .select(trx.raw('1'))
              .whereRaw('e.endpoint = o.endpoint and e.repository = o.repository and e.sequence < o.sequence')
              .where((held) =>
                held.where('e.next_attempt_at', '>', at).orWhere((leased) => leased.whereNotNull('e.lease_expires_at').where('e.lease_expires_at', '>', at)),
              ),
          )
          .orderBy('o.sequence')
          .limit(limit);
        if (rows.length === 0) return [];
        await trx(TABLES.eventOutbox)
          .whereIn(
            'sequence',
            rows.map((row) => row.sequence),
          )
          .update({ lease_owner: owner, lease_expires_at: at + leaseMs });
        return rows.map(claimedFromRow);
      }),
    );
  }

  async complete(sequences: readonly number[]): Promise<void> {
    if (sequences.length === 0) return;
    await this.guard(() => this.knex(TABLES.eventOutbox).whereIn('sequence', [...sequences]).del());
  }

  async release(owner: string, sequences: readonly number[], retryAt: Date): Promise<void> {
    if (sequences.length === 0) return;
    await this.guard(() =>
      this.knex(TABLES.eventOutbox)
        .whereIn('sequence', [...sequences])
        .where('lease_owner', owner)
        .update({
          lease_owner: null,
          lease_expires_at: null,
          next_attempt_at: retryAt.getTime(),
          attempts: this.knex.raw('attempts + 1'),
        }),
    );
  }

  async oldestPending(endpoint?: string): Promise<Date | undefined> {
    return this.guard(async () => {
      const query = this.knex(TABLES.eventOutbox).min({ oldest: 'created_at' });
      if (endpoint !== undefined) query.where({ endpoint });
      const row = (await query.first()) as { oldest: number | string | null } | undefined;
      return row?.oldest === null || row?.oldest === undefined ? undefined : new Date(Number(row.oldest));
    });
  }

  async countPending(endpoint?: string): Promise<number> {
    return this.guard(async () => {
      const query = this.knex(TABLES.eventOutbox).count({ pending: '*' });
      if (endpoint !== undefined) query.where({ endpoint });
      const row = (await query.first()) as { pending: number | string } | undefined;
      return Number(row?.pending ?? 0);
    });
  }
}

function claimedFromRow(row: OutboxRow): ClaimedOutboxEntry {
  return {
    sequence: Number(row.sequence),
    endpoint: row.endpoint,
    repository: row.repository,
    eventId: row.event_id,
    payload: row.payload,
    createdAt: new Date(Number(row.created_at)),
    attempts: Number(row.attempts),
  };
}
