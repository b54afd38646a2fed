/**
 * Facts are gathered lazily and cached for one run: the first module that asks pays, the rest
 * reuse. Each fact group lives in its own file under facts/ and is keyed by name here.
 */
export class Facts {
  private readonly cache = new Map<string, Promise<unknown>>();

  get<T>(key: string, gather: () => Promise<T>): Promise<T> {
    let p = this.cache.get(key) as Promise<T> | undefined;
    if (!p) {
      p = gather();
      this.cache.set(key, p);
    }
    return p;
  }

  /** Forget a fact after apply changed what it describes. */
  invalidate(key: string): void {
    this.cache.delete(key);
  }
}
