import type { MirrorCacheStore } from '@berth/core';

/** The mirror's records in memory, for a metadata store without `mirrorCache`: lost on restart (tags are then revalidated). */
export class MemoryMirrorCache implements MirrorCacheStore {
  readonly #mirrored = new Set<string>();
  readonly #fetchedAt = new Map<string, Date>();

  async markMirrored(repository: string): Promise<void> {
    this.#mirrored.add(repository);
  }

  async isMirrored(repository: string): Promise<boolean> {
    return this.#mirrored.has(repository);
  }

  async setTagFetchedAt(repository: string, tag: string, at: Date): Promise<void> {
    this.#fetchedAt.set(`${repository}:${tag}`, at);
  }

  async tagFetchedAt(repository: string, tag: string): Promise<Date | undefined> {
    return this.#fetchedAt.get(`${repository}:${tag}`);
  }
}
