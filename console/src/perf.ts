// Performance measures the console leaves for the browser's tools and the tests (docs/console.md): each ends at a
// mark of its own, which is then cleared, and at most MAX_MEASURES of one name are kept, since the browser keeps
// every measure and a tab may stay open for days.

const MAX_MEASURES = 600;
const counts = new Map<string, number>();

/** Measures `name` from the mark `start` to now, clears the mark, and keeps the last measures of that name. */
export function measureSince(name: string, start: string): void {
  performance.measure(name, start);
  performance.clearMarks(start);
  const n = (counts.get(name) ?? 0) + 1;
  counts.set(name, n);
  if (n % MAX_MEASURES !== 0) return;
  const kept = performance.getEntriesByName(name, 'measure').slice(-MAX_MEASURES / 2);
  performance.clearMeasures(name);
  for (const m of kept) performance.measure(m.name, { start: m.startTime, duration: m.duration });
}
