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

/** Milliseconds as Go prints a duration: 1500 → "1.5s", 90000 → "1m30s", 250 → "250ms", 3600000 → "1h". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  return `${hours ? `${hours}h` : ''}${minutes ? `${minutes}m` : ''}${seconds ? `${seconds}s` : ''}`;
}
