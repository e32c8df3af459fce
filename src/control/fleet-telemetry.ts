// Telemetry across a fleet: sidecars send DogStatsD to whichever replica they reach, so each
// replica knows only its share of a canary's traffic. Every second each replica writes its closed
// seconds (telemetry/traffic-window.ts exportSince) to `meshd_telemetry`, and reads the others'
// rows written since it last looked into a FleetTraffic (telemetry/fleet-traffic.ts), whose sums
// the rollouts' analysis reads. Every replica reads, not only the leader, so that a new leader's
// first analysis has the whole window behind it. The leader deletes rows older than 15 minutes.
import type { Pool } from 'pg';
import { FleetTraffic, type TrafficWindows } from '../telemetry';
import type { Logger } from '../util/log';

/** Rows read at most per round; the next round carries on. */
const MAX_ROWS = 50_000;
/** A row is stamped when inserted but seen when committed: read back this far, so none is missed. */
const OVERLAP_MS = 5000;
const WINDOW_SECONDS = 15 * 60;

export class FleetTelemetry {
  readonly reader: FleetTraffic;
  private exportedThrough: number;
  private readSince = new Date(0);
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private rounds = 0;
  /** Records of other replicas refused (malformed, over the limits): counted, and logged once per round. */
  refused = 0;

  constructor(
    private readonly pool: Pool,
    private readonly replicaId: string,
    private readonly windows: TrafficWindows,
    private readonly log: Logger,
    private readonly leading: () => boolean,
  ) {
    this.reader = new FleetTraffic({ local: { replicaId, windows } });
    this.exportedThrough = Math.floor(Date.now() / 1000) - WINDOW_SECONDS;
  }

  start(everyMs = 1000): void {
    this.timer = setInterval(() => void this.round(), everyMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** One export and one import; failures (the store unreachable) are tried again next round. */
  async round(now = Date.now()): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.exportOwn(now);
      await this.importOthers(now);
      if (++this.rounds % 30 === 0 && this.leading()) {
        await this.pool.query('DELETE FROM meshd_telemetry WHERE second < $1', [
          Math.floor(now / 1000) - WINDOW_SECONDS,
        ]);
      }
    } catch {
      // The store's readiness reports an outage; the seconds not exported are sent next round.
    } finally {
      this.busy = false;
    }
  }

  private async exportOwn(now: number): Promise<void> {
    // A few seconds again: exporting a second twice is harmless (it replaces), and covers a failed write.
    const records = this.windows.exportSince(this.exportedThrough - 3, now);
    if (records.length > 0) {
      await this.pool.query(
        `INSERT INTO meshd_telemetry (replica, mesh, node, second, record)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::jsonb[])
         ON CONFLICT (replica, mesh, node, second) DO UPDATE SET record = EXCLUDED.record, updated_at = clock_timestamp()`,
        [
          this.replicaId,
          records.map((r) => r.mesh),
          records.map((r) => r.virtualNode),
          records.map((r) => r.second),
          records.map((r) => JSON.stringify(r)),
        ],
      );
    }
    this.exportedThrough = Math.floor(now / 1000) - 1;
  }

  private async importOthers(now: number): Promise<void> {
    const rows = await this.pool.query<{ replica: string; record: unknown; updated_at: Date }>(
      `SELECT replica, record, updated_at FROM meshd_telemetry
       WHERE updated_at > $1 AND replica <> $2 ORDER BY updated_at LIMIT ${MAX_ROWS}`,
      [this.readSince, this.replicaId],
    );
    const byReplica = new Map<string, unknown[]>();
    for (const r of rows.rows) {
      const records = byReplica.get(r.replica) ?? [];
      records.push(r.record);
      byReplica.set(r.replica, records);
    }
    let refused = 0;
    for (const [replica, records] of byReplica) refused += this.reader.import(replica, records, now).refused.length;
    if (refused > 0) {
      this.refused += refused;
      this.log.warn(`fleet telemetry: ${refused} record(s) from other replicas refused (malformed or over the limits)`);
    }
    const newest = rows.rows[rows.rows.length - 1]?.updated_at;
    if (newest) {
      this.readSince =
        rows.rows.length === MAX_ROWS
          ? newest
          : new Date(Math.max(this.readSince.getTime(), newest.getTime() - OVERLAP_MS));
    }
  }
}
