import type { MirrorCacheStore } from '@berth/core';
import type { Knex } from 'knex';
import { TABLES } from './tables.js';

/** The pull-through cache's records over the `mirror_repositories` and `mirror_tags` tables (SQLite, PostgreSQL). */
export class KnexMirrorCache implements MirrorCacheStore {
  constructor(
    private readonly knex: Knex,
    /** The store's error translation (503 when the database is gone). */
    private readonly guard: <T>(operation: () => Promise<T>) => Promise<T>,
  ) {}

  async markMirrored(repository: string): Promise<void> {
    await this.guard(() => this.knex(TABLES.mirrorRepositories).insert({ repository, marked_at: Date.now() }).onConflict('repository').ignore());
  }

  async isMirrored(repository: string): Promise<boolean> {
    return this.guard(async () => (await this.knex(TABLES.mirrorRepositories).first('repository').where({ repository })) !== undefined);
  }

  async setTagFetchedAt(repository: string, tag: string, at: Date): Promise<void> {
    await this.guard(() =>
      this.knex(TABLES.mirrorTags).insert({ repository, tag, fetched_at: at.getTime() }).onConflict(['repository', 'tag']).merge(['fetched_at']),
    );
  }

  async tagFetchedAt(repository: string, tag: string): Promise<Date | undefined> {
    return this.guard(async () => {
      const row: { fetched_at: number | string } | undefined = await this.knex(TABLES.mirrorTags).first('fetched_at').where({ repository, tag });
      return row === undefined ? undefined : new Date(Number(row.fetched_at));
    });
  }
}
