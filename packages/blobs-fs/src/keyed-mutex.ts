/**
 * Runs tasks one at a time per key, in call order. Used so that concurrent appends (and a commit
 * or abort) on one upload never interleave their writes within this process.
 */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      // Forget the key once nothing is queued behind this task, so the map does not grow forever.
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
