// meshd's tables in PostgreSQL, as versioned migrations. Each replica applies the missing ones at
// start, one transaction each, under an advisory lock, so replicas that start together do not
// race: the second waits for the first and then finds nothing to do. A database whose schema is
// newer than this meshd knows is refused (an older replica must not write to it).
//
// State that replicas share is kept as keyed rows: one table per kind of record, its key a
// string and its row the record as JSON. Every change to those tables is also appended to
// `meshd_changes` under one increasing sequence number (change-log.ts), which is how replicas
// follow each other.
import type { PoolClient } from 'pg';

/** The keyed tables, by the name the code uses (table `meshd_<name>` in the database). */
export const KEYED_TABLES = [
  // Cloud Map: the registry's tables (src/discovery/cloud-map/tables.ts), one row per record.
  'cloud_map_namespaces',
  'cloud_map_services',
  'cloud_map_instances',
  'cloud_map_operations',
  'cloud_map_applied_seeds',
  // App Mesh API resources (src/store/types.ts StoredResource), and the uid/version of the files' resources.
  'resources',
  'file_resource_metadata',
  // Rollouts: their records (src/rollout/records.ts) and the route weights they set.
  'rollouts',
  'route_weights',
] as const;
export type KeyedTable = (typeof KEYED_TABLES)[number];

export function isKeyedTable(name: string): name is KeyedTable {
  return (KEYED_TABLES as readonly string[]).includes(name);
}

interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

const keyedTable = (name: string): string =>
  `CREATE TABLE meshd_${name} (key text PRIMARY KEY, row jsonb NOT NULL, seq bigint NOT NULL);`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'change log, keyed tables, leader lease, replicas, telemetry',
    sql: [
      'CREATE TABLE meshd_sequence (id int PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL);',
      'INSERT INTO meshd_sequence VALUES (1, 0);',
      `CREATE TABLE meshd_changes (
         seq bigint PRIMARY KEY,
         at timestamptz NOT NULL DEFAULT now(),
         replica text NOT NULL,
         change jsonb NOT NULL);`,
      ...KEYED_TABLES.map(keyedTable),
      `CREATE TABLE meshd_leader (
         id int PRIMARY KEY CHECK (id = 1),
         holder text,
         term bigint NOT NULL,
         expires_at timestamptz NOT NULL);`,
      "INSERT INTO meshd_leader VALUES (1, NULL, 0, '-infinity');",
      `CREATE TABLE meshd_replicas (
         id text PRIMARY KEY,
         info jsonb NOT NULL,
         started_at timestamptz NOT NULL,
         heartbeat_at timestamptz NOT NULL);`,
      `CREATE TABLE meshd_telemetry (
         replica text NOT NULL,
         mesh text NOT NULL,
         node text NOT NULL,
         second bigint NOT NULL,
         record jsonb NOT NULL,
         updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
         PRIMARY KEY (replica, mesh, node, second));`,
      'CREATE INDEX meshd_telemetry_updated ON meshd_telemetry (updated_at);',
    ].join('\n'),
  },
  {
    version: 2,
    name: 'certificate authority state',
    // One row every replica shares (src/ca/ca-state.ts): the first replica to start inserts its CA,
    // the others read it back; updates are compare-and-set on seq.
    sql: 'CREATE TABLE meshd_ca (id int PRIMARY KEY CHECK (id = 1), state jsonb NOT NULL, seq bigint NOT NULL);',
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** The advisory lock migrations run under: 'meshd' in ASCII, a constant no other tool is likely to take. */
const MIGRATION_LOCK = 0x6d65736864;

export class SchemaError extends Error {}

/**
 * Brings the database's schema to SCHEMA_VERSION and answers the versions applied now. Throws
 * SchemaError when the database is newer than this meshd.
 */
export async function migrate(client: PoolClient): Promise<number[]> {
  // A replica waits for another's migration however long it takes, and a long migration is not cut off.
  await client.query('SET statement_timeout = 0');
  await client.query('SET lock_timeout = 0');
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS meshd_schema_migrations (
      version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = await client.query<{ version: number }>('SELECT version FROM meshd_schema_migrations');
    const applied = new Set(done.rows.map((r) => r.version));
    const newest = Math.max(0, ...applied);
    if (newest > SCHEMA_VERSION) {
      throw new SchemaError(
        `the database's meshd schema is version ${newest}, newer than this meshd's ${SCHEMA_VERSION}: upgrade this replica`,
      );
    }
    const ran: number[] = [];
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO meshd_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      ran.push(m.version);
    }
    return ran;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await client.query('RESET statement_timeout; RESET lock_timeout').catch(() => undefined);
  }
}
