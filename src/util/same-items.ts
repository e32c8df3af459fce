// One comparison for lists kept by identity: a memo's answers, a compile's log of look-ups.

/** Whether two lists hold the same items (the same objects or values) in the same order. */
export function sameItems(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
