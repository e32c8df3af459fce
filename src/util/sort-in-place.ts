// Array.prototype.sort allocates a work area on every call. The short lists sorted on every
// proxy compile (its backends, route tables, a type's resources) are sorted here in place
// instead, with the same result (both sorts are stable).

const SHORT = 16;

/** Sorts `list` in place (stable) and returns it, as list.sort(compare) does. */
export function sortInPlace<T>(list: T[], compare: (a: T, b: T) => number): T[] {
  if (list.length > SHORT) return list.sort(compare);
  for (let i = 1; i < list.length; i++) {
    const item = list[i]!;
    let j = i - 1;
    for (; j >= 0 && compare(list[j]!, item) > 0; j--) list[j + 1] = list[j]!;
    list[j + 1] = item;
  }
  return list;
}
