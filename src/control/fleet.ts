// A replica's part in a fleet (`meshd serve --store postgres://…`): the link to PostgreSQL, and
// what the fleet's operators see of it: readiness (not ready while the store cannot be reached;
// proxies keep being served the last good snapshot meanwhile), the replicas and their mesh
// hashes for `meshd status` and /v1/replicas, and the store's metrics.
import type { MetricsRegistry } from '../admin/metrics';
import type { Logger } from '../util/log';
import { listReplicas, openPostgresStore, type PostgresStore, type ReplicaInfo } from '../store/postgres';

export interface FleetOptions {
  /** postgres://… */
  readonly url: string;
  readonly replicaId?: string;
  readonly leaseTtlMs?: number;
}

export interface ReplicaReport {
  readonly id: string;
  readonly xdsAddress: string;
  readonly adminAddress: string;
  readonly meshHash: string;
  readonly proxies: readonly string[];
  readonly version: string;
  readonly startedAt: string;
  readonly heartbeatAt: string;
  /** Milliseconds since its last heartbeat. */
  readonly ageMs: number;
  /** Its heartbeat is recent (within three intervals). */
  readonly alive: boolean;
  readonly leader: boolean;
  /** This replica (the one answering). */
  readonly self: boolean;
}

export interface FleetReport {
  readonly replicaId: string;
  readonly store: string;
  readonly storeReachable: boolean;
  readonly leader: { readonly id: string | null; readonly term: number } | null;
  readonly replicas: readonly ReplicaReport[];
  /** Set when live replicas serve meshes with different hashes: their files differ. */
  readonly warning?: string;
}

const ALIVE_MS = 3000;

export class Fleet {
  private leadershipChanges = 0;
  private notifications = 0;
  private storeDown: { since: number; reason: string } | undefined;
  private commitSeconds: ((seconds: number, committed: boolean) => void) | undefined;
  private readonly leadingListeners: (() => void)[] = [];
  private lastReport: { at: number; report: Promise<FleetReport> } | undefined;
  private readonly leadershipListeners: ((leading: boolean, reason: string) => void)[] = [];

  private constructor(
    readonly store: PostgresStore,
    private readonly log: Logger,
  ) {}

  /** Connects and migrates; throws an Error with a sentence for the user when it cannot. */
  static async open(options: FleetOptions, log: Logger, info: () => ReplicaInfo): Promise<Fleet> {
    let fleet: Fleet | undefined;
    const store = await openPostgresStore({
      url: options.url,
      ...(options.replicaId !== undefined ? { replicaId: options.replicaId } : {}),
      ...(options.leaseTtlMs !== undefined ? { leaseTtlMs: options.leaseTtlMs } : {}),
      replicaInfo: info,
      changeLog: {
        onHealth: (healthy, reason) => fleet?.health(healthy, reason),
        onNotification: () => fleet && fleet.notifications++,
        onFollowerError: (message) => log.error(message),
        onCommit: (seconds, _writes, committed) => fleet?.commitSeconds?.(seconds, committed),
      },
      onLeadership: (leading, term, reason) => {
        if (!fleet) return;
        fleet.leadershipChanges++;
        if (leading) for (const listener of fleet.leadingListeners) listener();
        fleet.log.info(
          leading
            ? `this replica now leads the fleet (term ${term})`
            : `this replica no longer leads (term ${term}): ${reason}`,
        );
        for (const listener of fleet.leadershipListeners) listener(leading, reason);
      },
    });
    fleet = new Fleet(store, log);
    return fleet;
  }

  /** Called each time this replica takes the lead. */
  onLeading(listener: () => void): void {
    this.leadingListeners.push(listener);
  }

  /** `listener` hears of each change of this replica's leadership (the rollouts act only while it leads). */
  onLeadership(listener: (leading: boolean, reason: string) => void): void {
    this.leadershipListeners.push(listener);
  }

  get replicaId(): string {
    return this.store.replicaId;
  }

  /** Why this replica is not ready, as far as the store goes; undefined when it is. */
  notReady(): string | undefined {
    if (!this.storeDown) return undefined;
    return `the store (PostgreSQL) cannot be reached since ${new Date(this.storeDown.since).toISOString()}: ${this.storeDown.reason}; the last good configuration keeps being served and writes are refused`;
  }

  /** At most one read of the store a second, however many callers (an unauthenticated GET must not load the store). */
  async report(): Promise<FleetReport> {
    const now = Date.now();
    if (this.lastReport && now - this.lastReport.at < 1000) return this.lastReport.report;
    const report = this.readReport();
    this.lastReport = { at: now, report };
    report.catch(() => {
      if (this.lastReport?.report === report) this.lastReport = undefined;
    });
    return report;
  }

  private async readReport(): Promise<FleetReport> {
    const [rows, leader] = await Promise.all([listReplicas(this.store.pool), this.store.lease.current()]);
    const replicas = rows.map((r) => ({
      ...r,
      alive: r.ageMs <= ALIVE_MS,
      leader: leader.live && leader.holder === r.id,
      self: r.id === this.replicaId,
    }));
    const hashes = new Set(replicas.filter((r) => r.alive && r.meshHash !== '').map((r) => r.meshHash));
    return {
      replicaId: this.replicaId,
      store: this.store.url,
      storeReachable: this.storeDown === undefined,
      leader: leader.live ? { id: leader.holder, term: leader.term } : null,
      replicas,
      ...(hashes.size > 1
        ? {
            warning: `replicas serve ${hashes.size} different meshes (hashes ${[...hashes].join(', ')}): their mesh files differ; sync them (e.g. the same Git commit on every replica)`,
          }
        : {}),
    };
  }

  /** The store's metrics on /metrics. */
  registerMetrics(registry: MetricsRegistry): void {
    registry.gauge('meshd_store_up', '1 while this replica reaches the store (PostgreSQL), else 0', [], () => [
      { labels: {}, value: this.storeDown ? 0 : 1 },
    ]);
    registry.gauge('meshd_store_sequence', 'The last change of the store this replica has applied', [], () => [
      { labels: {}, value: this.store.log.sequence },
    ]);
    registry.counter('meshd_store_notifications_total', 'Change notifications (LISTEN/NOTIFY) heard', [], () => [
      { labels: {}, value: this.notifications },
    ]);
    registry.gauge('meshd_leader', '1 while this replica leads the fleet (rollout steps, webhooks, seeds)', [], () => [
      { labels: {}, value: this.store.lease.leading ? 1 : 0 },
    ]);
    registry.counter('meshd_leadership_changes_total', 'Times this replica took or lost the lead', [], () => [
      { labels: {}, value: this.leadershipChanges },
    ]);
    const commits = registry.histogram(
      'meshd_store_write_seconds',
      'Store write transactions, from taking a connection to COMMIT (one transaction can carry several writes)',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      ['result'],
    );
    this.commitSeconds = (seconds, committed) =>
      commits.observe({ result: committed ? 'committed' : 'failed' }, seconds);
  }

  async start(): Promise<void> {
    await this.store.start();
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  private health(healthy: boolean, reason: string): void {
    if (healthy) {
      if (this.storeDown) this.log.info('the store (PostgreSQL) is reachable again');
      this.storeDown = undefined;
    } else if (!this.storeDown) {
      this.storeDown = { since: Date.now(), reason };
      this.log.error(`the store (PostgreSQL) cannot be reached: ${reason}; serving the last good configuration`);
    }
  }
}
