// A bounded cache without a sweep: what goes unused for a while is forgotten (memo.ts, control/encode.ts).

/**
 * A map that forgets what goes unused: entries live in a young and an old generation; a hit in
 * the old one moves the entry to the young one, and once the young one has grown past twice the
 * old one (and a floor), it becomes the old one and the previous old one is dropped. So the memo
 * holds about what was recently asked for, not every version of everything since start.
 */
export class Generations<V> {
  private young = new Map<string, V>();
  private old = new Map<string, V>();

  constructor(private readonly floor: number) {}

  get(key: string): V | undefined {
    const young = this.young.get(key);
    if (young !== undefined) return young;
    const old = this.old.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: string, value: V): void {
    this.young.set(key, value);
    if (this.young.size > Math.max(this.floor, 2 * this.old.size)) {
      this.old = this.young;
      this.young = new Map();
    }
  }

  get size(): number {
    return this.young.size + this.old.size;
  }
}
