// The plan's milliseconds as protobuf Durations.
import type { Duration } from '../generated/google/protobuf/Duration';

export function fromMillis(ms: number): Duration {
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms % 1000) * 1_000_000;
  return { ...(seconds ? { seconds } : {}), ...(nanos ? { nanos } : {}) };
}
