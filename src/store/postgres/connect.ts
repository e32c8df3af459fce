// The connections a replica makes to PostgreSQL: one pool for reads and writes, and dedicated
// clients (the change log's LISTEN, the leader lease) made from the same settings. Every
// connection carries timeouts on both sides, so that a silent partition (packets dropped, no
// reset) is noticed in seconds rather than after TCP's own timeouts, and so that a replica cut
// off in the middle of a transaction cannot hold the fleet's write lock: the server aborts a
// transaction that has been idle for `idleTransactionMs`.
import { Client, Pool, type ClientConfig, type PoolConfig } from 'pg';

export interface StoreConnectionOptions {
  /** postgres://user:password@host:port/database?… (libpq's URL form, as `pg` reads it). */
  readonly url: string;
  /** Shown in pg_stat_activity; also how an operator finds one replica's connections. */
  readonly applicationName: string;
  /** A query (client side) that has not answered in this long fails: 5 s by default. */
  readonly queryTimeoutMs?: number;
  /** Connecting that takes longer fails: 3 s by default. */
  readonly connectTimeoutMs?: number;
  /** The server aborts a transaction idle this long (its locks go with it): 5 s by default. */
  readonly idleTransactionMs?: number;
  /** Pool size: 6 by default. */
  readonly maxConnections?: number;
}

export const DEFAULT_QUERY_TIMEOUT_MS = 5000;

/** The settings every connection of a replica shares. */
export function clientConfig(options: StoreConnectionOptions): ClientConfig {
  const queryTimeout = options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const idle = options.idleTransactionMs ?? 5000;
  return {
    connectionString: options.url,
    application_name: options.applicationName.slice(0, 63),
    connectionTimeoutMillis: options.connectTimeoutMs ?? 3000,
    query_timeout: queryTimeout,
    // The server gives up too, so a statement of a client that vanished does not run on.
    statement_timeout: queryTimeout,
    lock_timeout: queryTimeout,
    idle_in_transaction_session_timeout: idle,
    keepAlive: true,
    keepAliveInitialDelayMillis: 1000,
  };
}

export function openPool(options: StoreConnectionOptions): Pool {
  const config: PoolConfig = {
    ...clientConfig(options),
    max: options.maxConnections ?? 6,
    idleTimeoutMillis: 30_000,
  };
  const pool = new Pool(config);
  // An idle client whose connection dies emits 'error' on the pool; unhandled, that would end the process.
  pool.on('error', () => undefined);
  return pool;
}

export function openClient(options: StoreConnectionOptions): Client {
  const client = new Client(clientConfig(options));
  return client;
}

/** The URL without its password, for logs and status. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    // libpq's URLs may carry secrets as parameters too (pg reads them).
    for (const name of [...parsed.searchParams.keys()])
      if (/pass|key/i.test(name)) parsed.searchParams.set(name, '***');
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

/** A short reason for a failed query or connection, for an error message or a log line. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && code.length > 0 ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
