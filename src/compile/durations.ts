// App Mesh durations ({value, unit}) and millisecond counts as protobuf Durations.
import type { Duration as MeshDuration } from '../model/common';
import type { Duration } from '../generated/google/protobuf/Duration';

export function fromMeshDuration(d: MeshDuration): Duration {
  return d.unit === 's' ? fromMillis(d.value * 1000) : fromMillis(d.value);
}

export function fromMillis(ms: number): Duration {
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms % 1000) * 1_000_000;
  return { ...(seconds ? { seconds } : {}), ...(nanos ? { nanos } : {}) };
}
