// A rollout's status as meshd's admin API shows it (GET /v1/rollouts), and waiting for its phase:
// what the rollout e2e tests (HTTP and gRPC canaries) read to see where a rollout is.
import { getOk, waitFor } from './processes';
import type { Sidecar } from './sidecar-harness';

/** The parts of a rollout's status the tests read. */
export interface RolloutStatus {
  phase: string;
  canaryWeight: number;
  failedChecks: number;
  events: { type: string; message: string }[];
  lastCheck?: { ok: boolean; results: { metric: string; value: number | null; ok: boolean; message: string }[] };
}

/** The first (only) rollout meshd reports, or undefined when there is none yet. */
export async function rolloutStatus(s: Sidecar): Promise<RolloutStatus | undefined> {
  const list = JSON.parse(await getOk(s.meshdAdminPort, '/v1/rollouts')) as RolloutStatus[];
  return list[0];
}

/** Waits for the rollout to reach one of `phases`; a timeout says so with meshd's and Envoy's logs. */
export function untilRolloutPhase(s: Sidecar, phases: readonly string[], timeoutMs = 60000): Promise<RolloutStatus> {
  return waitFor(
    `the rollout to reach ${phases.join(' or ')}`,
    async () => {
      const r = await rolloutStatus(s);
      return r && phases.includes(r.phase) ? r : undefined;
    },
    timeoutMs,
    100,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${s.logs()}`);
  });
}
