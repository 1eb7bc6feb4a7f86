/**
 * Runs tasks one at a time per key (a VM id), in arrival order; different keys run in
 * parallel. The chain for a key is dropped once it is idle, so the map does not grow.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Runs `task` holding every key of `keys`, taken in sorted order so that two holders of overlapping sets cannot wait on each other. */
  runAll<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    const [first, ...rest] = [...new Set(keys)].sort();
    return first === undefined ? task() : this.run(first, () => this.runAll(rest, task));
  }
}
