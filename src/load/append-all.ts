/**
 * Appends every item of `items` to `target`. `target.push(...items)` passes each item as an
 * argument, and a file can make `items` long enough (a 130,000-item flow list, as many
 * documents) to overflow the stack: whatever a file decides the length of goes through here.
 */
export function appendAll<T>(target: T[], items: Iterable<T>): void {
  for (const item of items) target.push(item);
}
