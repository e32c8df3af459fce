// App Mesh durations ({value, unit}) as the plan's milliseconds.
import type { Duration } from '../../model/common';

export function meshMillis(d: Duration): number {
  return d.unit === 's' ? d.value * 1000 : d.value;
}
