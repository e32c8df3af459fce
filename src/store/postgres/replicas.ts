// The fleet's replicas as the store knows them: each writes a heartbeat row (its id, addresses,
// mesh hash and proxies) every second; `meshd status` and /v1/replicas read them all. A replica
// whose heartbeat is older than a few intervals is shown as gone; rows an hour old are deleted.
import type { Pool } from 'pg';

export interface ReplicaInfo {
  /** Where proxies reach its xDS, and its admin API. */
  readonly xdsAddress: string;
  readonly adminAddress: string;
  /** The content hash of the mesh it serves: replicas that disagree show different hashes. */
  readonly meshHash: string;
  /** The node ids of the proxies connected to it. */
  readonly proxies: readonly string[];
  readonly version: string;
}

export interface ReplicaRow extends ReplicaInfo {
  readonly id: string;
  readonly startedAt: string;
  readonly heartbeatAt: string;
  /** Milliseconds since its last heartbeat, on the database's clock. */
  readonly ageMs: number;
}

/** Hostile or stale rows must not break status: anything not in this shape is shown as unknown. */
function infoOf(value: unknown): ReplicaInfo {
  const v = (value && typeof value === 'object' ? value : {}) as Record<string, unknown>;
  const text = (x: unknown): string => (typeof x === 'string' ? x.slice(0, 300) : '');
  return {
    xdsAddress: text(v.xdsAddress),
    adminAddress: text(v.adminAddress),
    meshHash: text(v.meshHash),
    proxies: Array.isArray(v.proxies)
      ? v.proxies.filter((p): p is string => typeof p === 'string').slice(0, 10_000)
      : [],
    version: text(v.version),
  };
}

export class ReplicaHeartbeat {
  private readonly startedAt = new Date();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly pool: Pool,
    readonly id: string,
    private readonly info: () => ReplicaInfo,
    private readonly everyMs = 1000,
  ) {}

  start(): void {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), this.everyMs);
    this.timer.unref();
  }

  /** Removes this replica's row: a clean stop is not shown as a dead replica. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.pool.query('DELETE FROM meshd_replicas WHERE id = $1', [this.id]).catch(() => undefined);
  }

  async beat(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.pool.query(
        `INSERT INTO meshd_replicas (id, info, started_at, heartbeat_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (id) DO UPDATE SET info = EXCLUDED.info, heartbeat_at = now()`,
        [this.id, JSON.stringify(this.info()), this.startedAt],
      );
      await this.pool.query("DELETE FROM meshd_replicas WHERE heartbeat_at < now() - interval '1 hour'");
    } catch {
      // Not reachable: readiness reports it (change-log.ts); the next beat tries again.
    } finally {
      this.busy = false;
    }
  }
}

export async function listReplicas(pool: Pool): Promise<ReplicaRow[]> {
  const rows = await pool.query<{ id: string; info: unknown; started_at: Date; heartbeat_at: Date; age_ms: number }>(
    `SELECT id, info, started_at, heartbeat_at, (extract(epoch FROM now() - heartbeat_at) * 1000)::float8 AS age_ms
     FROM meshd_replicas ORDER BY id`,
  );
  return rows.rows.map((r) => ({
    id: r.id,
    ...infoOf(r.info),
    startedAt: r.started_at.toISOString(),
    heartbeatAt: r.heartbeat_at.toISOString(),
    ageMs: Math.round(r.age_ms),
  }));
}
