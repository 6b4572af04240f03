/**
 * Runs tasks one at a time per key, in call order. The blob stores use it so that concurrent appends
 * (and a commit or abort) on one upload never interleave within this process; across instances each
 * store's own upload state is what guards an upload.
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
