// A replica's link to the fleet's PostgreSQL store (`meshd serve --store postgres://…`): the pool,
// the schema brought up to date, the change log every shared table follows, the leader lease and
// the replica's heartbeat. What follows the log (the Cloud Map registry, the API's resources, the
// rollouts) registers with `log.follow` before `start()`.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Pool } from 'pg';
import { ChangeLog, type ChangeLogOptions } from './change-log';
import { describeError, openClient, openPool, redactedUrl, type StoreConnectionOptions } from './connect';
import { LeaderLease } from './leader-lease';
import { ReplicaHeartbeat, type ReplicaInfo } from './replicas';
import { migrate, SchemaError } from './schema';

export { ChangeLog, FencedError, StoreUnavailableError } from './change-log';
export type { Fence, Follower, KeyedRow, TableChange, WriteStep } from './change-log';
export { LeaderLease } from './leader-lease';
export { listReplicas, type ReplicaInfo, type ReplicaRow } from './replicas';
export type { KeyedTable } from './schema';

export interface PostgresStoreOptions {
  readonly url: string;
  /** Unique in the fleet; by default the host name and a random suffix. */
  readonly replicaId?: string;
  readonly leaseTtlMs?: number;
  readonly connection?: Omit<StoreConnectionOptions, 'url' | 'applicationName'>;
  readonly changeLog?: Pick<
    ChangeLogOptions,
    'pollMs' | 'keepChanges' | 'maxBatch' | 'onHealth' | 'onApplied' | 'onCommit' | 'onNotification' | 'onFollowerError'
  >;
  readonly onLeadership?: (leading: boolean, term: number, reason: string) => void;
  /** What the heartbeat reports. */
  readonly replicaInfo: () => ReplicaInfo;
}

export class StoreUrlError extends Error {}

/** Checks a --store value: a postgres:// or postgresql:// URL (its password is never echoed). */
export function checkStoreUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StoreUrlError(
      `--store must be a postgres://user:password@host:port/database URL, got '${redactedUrl(url)}'`,
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new StoreUrlError(`--store must be a postgres:// URL, got the scheme '${parsed.protocol.replace(/:$/, '')}'`);
  }
  if (parsed.hostname === '') throw new StoreUrlError('--store must name the PostgreSQL host');
}

export function defaultReplicaId(): string {
  return `${hostname().slice(0, 40)}-${randomBytes(3).toString('hex')}`;
}

export interface PostgresStore {
  readonly replicaId: string;
  readonly url: string;
  readonly pool: Pool;
  readonly log: ChangeLog;
  readonly lease: LeaderLease;
  readonly heartbeat: ReplicaHeartbeat;
  /** Loads every follower's state and starts following, leading (when elected) and beating. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Connects and migrates; throws StoreUrlError or an Error whose message says what failed (no stack needed). */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  checkStoreUrl(options.url);
  const replicaId = options.replicaId ?? defaultReplicaId();
  const connection: StoreConnectionOptions = {
    ...options.connection,
    url: options.url,
    applicationName: `meshd ${replicaId}`,
  };
  const pool = openPool(connection);
  try {
    const client = await pool.connect();
    try {
      await migrate(client);
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    if (err instanceof SchemaError) throw err;
    throw new Error(`cannot use the store ${redactedUrl(options.url)}: ${describeError(err)}`);
  }
  const log = new ChangeLog(pool, {
    ...options.changeLog,
    replicaId,
    listenClient: () => openClient({ ...connection, applicationName: `meshd ${replicaId} listen` }),
  });
  // The lease has a connection of its own: a burst of writes or status reads must not starve its renewals.
  const leasePool = openPool({ ...connection, applicationName: `meshd ${replicaId} lease`, maxConnections: 1 });
  const lease = new LeaderLease(leasePool, {
    holder: replicaId,
    ...(options.leaseTtlMs !== undefined ? { ttlMs: options.leaseTtlMs } : {}),
    ...(options.onLeadership ? { onChange: options.onLeadership } : {}),
  });
  const heartbeat = new ReplicaHeartbeat(pool, replicaId, options.replicaInfo);
  return {
    replicaId,
    url: redactedUrl(options.url),
    pool,
    log,
    lease,
    heartbeat,
    async start() {
      await log.start();
      lease.start();
      heartbeat.start();
    },
    async close() {
      await lease.close();
      await heartbeat.close();
      await log.close();
      await pool.end().catch(() => undefined);
      await leasePool.end().catch(() => undefined);
    },
  };
}
