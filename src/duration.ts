// Durations as people write them on command lines and in meshd's own documents: Go's
// time.ParseDuration spelling (`10s`, `500ms`, `1m30s`), counted in whole milliseconds.
const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration (`10s`, `5000ms`, `1m30s`) in whole milliseconds, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (!new RegExp(`^(${DURATION_PART.source})+$`).test(text)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) ms += Number(amount) * UNIT_MS[unit!]!;
  return Math.round(ms);
}

/** Milliseconds in the shortest Go spelling: 1500 → "1.5s", 60000 → "1m", 250 → "250ms". */
export function formatDuration(ms: number): string {
  if (ms < 1000 || ms % 1000 !== 0) return ms < 1000 ? `${ms}ms` : `${ms / 1000}s`;
  const seconds = ms / 1000;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
