// Look-up keys as the same string objects each time: a compile's reads are compared with the
// last compile's by identity rather than by content, and a string's hash is computed once.

/** Past this many, the keys are forgotten (node ids come from the network: the names are not bounded). */
const MAX_INTERNED = 100_000;

/** make(scope, outer, inner)'s string, one per (scope, outer, inner); make must be pure. */
export class KeyInterner<S> {
  private keys = new Map<S, Map<string, Map<string, string>>>();
  private count = 0;

  constructor(private readonly make: (scope: S, outer: string, inner: string) => string) {}

  key(scope: S, outer: string, inner: string): string {
    if (this.count >= MAX_INTERNED) {
      this.keys = new Map();
      this.count = 0;
    }
    let byOuter = this.keys.get(scope);
    if (!byOuter) this.keys.set(scope, (byOuter = new Map()));
    let byInner = byOuter.get(outer);
    if (!byInner) byOuter.set(outer, (byInner = new Map()));
    let key = byInner.get(inner);
    if (key === undefined) {
      byInner.set(inner, (key = this.make(scope, outer, inner)));
      this.count++;
    }
    return key;
  }

  /** How many keys it holds. */
  get size(): number {
    return this.count;
  }
}
