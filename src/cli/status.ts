// `meshd status`: the proxies connected to a running meshd and, per xDS type, whether they
// run the config meshd last sent them (like `istioctl proxy-status`). Reads GET /v1/proxies.
import {
  adminFlag,
  adminGet,
  parseAdminAddress,
  parseJson,
  unexpectedAnswer,
  unreachableMessage,
} from './admin-client';
import { UsageError, type CommandSpec, type ParsedArgs } from './args';

export const statusCommand: CommandSpec = {
  name: 'status',
  summary: 'show the proxies connected to a running meshd and whether each runs its latest config',
  usage: 'meshd status [--admin host:port] [--format text|json]',
  flags: {
    admin: adminFlag,
    format: {
      type: 'string',
      metavar: 'text|json',
      help: 'text: a table; json: the admin API answer as it is',
      default: 'text',
    },
  },
  notes: [
    'Per proxy and type (CDS, EDS, LDS, RDS): SYNCED (the proxy ACKed the latest version sent), STALE (sent, no',
    'ACK yet), NACKED (the proxy rejected it; the reason is printed under the table), NOT_SENT, or - (not subscribed).',
    'A proxy meshd cannot compile a configuration for (a node id the mesh does not define, say) gets a line under the',
    'table saying why, as meshd logs it (configProblem in --format json).',
    'Exit 0 when meshd answered, even if some proxies NACKed; 1 when meshd cannot be reached.',
    'When meshd is not ready (no valid mesh yet, or a mesh path it cannot watch), the first line says why.',
    'A replica of a fleet (serve --store) also lists the replicas: heartbeat, leader, the hash of the mesh each serves',
    'and the proxies on each; a warning comes first when live replicas serve different meshes (their files differ).',
    'With a remote Cloud Map (serve --cloud-map remote), a line says how its polls go and one per failing service says why',
    '(the last good endpoints keep serving); with --format json these lines go to stderr (GET /v1/cloud-map/remote has them).',
  ],
};

interface TypeReport {
  state?: string;
  sentVersion?: string | null;
  ackedVersion?: string | null;
  lastNack?: { version?: string; message?: string; at?: string } | null;
}

interface ProxyReport {
  nodeId?: string;
  cluster?: string;
  stream?: number;
  protocol?: string;
  client?: string;
  peer?: string;
  connectedAt?: string;
  types?: Record<string, TypeReport | undefined>;
  /** Why the proxy gets no configuration, or not the latest (null or absent: nothing is wrong, or an older meshd). */
  configProblem?: string | null;
}

const TABLE_TYPES = ['CDS', 'EDS', 'LDS', 'RDS'] as const;
/** Worst first: a proxy's summary state is the worst state of its types. */
const SEVERITY = ['NACKED', 'STALE', 'NOT_SENT', 'SYNCED'];
const SUMMARY_ORDER = ['SYNCED', 'STALE', 'NACKED', 'NOT_SENT'];

export async function runStatus(args: ParsedArgs): Promise<number> {
  const format = args.flags.format as string;
  if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, got '${format}'`);
  if (args.positionals.length > 0)
    throw new UsageError(
      `takes no arguments, got '${args.positionals[0]}' (a node's config: meshd config-dump <node-id>)`,
    );
  const admin = parseAdminAddress(args.flags.admin as string);

  const res = await adminGet(admin, '/v1/proxies');
  if (!res.ok) {
    process.stderr.write(unreachableMessage('status', admin, res.reason));
    return 1;
  }
  const body = res.status === 200 ? parseJson(res.body) : undefined;
  if (!Array.isArray(body)) {
    process.stderr.write(unexpectedAnswer('status', admin, '/v1/proxies', res.status, res.body));
    return 1;
  }
  // Not ready (no valid mesh, a mesh path not watched): said above the
  // table, or on stderr beside the JSON, which stays /v1/proxies' answer.
  const notReady = await notReadyReason(admin);
  if (notReady !== undefined)
    (format === 'json' ? process.stderr : process.stdout).write(
      `meshd is not ready: ${oneLine(notReady)}\n${format === 'json' ? '' : '\n'}`,
    );
  const remote = formatRemoteCloudMap(await remoteCloudMap(admin));
  if (remote) (format === 'json' ? process.stderr : process.stdout).write(`${remote}${format === 'json' ? '' : '\n'}`);
  process.stdout.write(format === 'json' ? `${JSON.stringify(body, null, 2)}\n` : formatStatus(body as ProxyReport[]));
  // A replica of a fleet (serve --store): the replicas, after the proxies; their disagreement first of all on stderr.
  const fleet = await fleetReport(admin);
  if (fleet) {
    if (format === 'json') {
      if (fleet.warning) process.stderr.write(`warning: ${oneLine(fleet.warning)}\n`);
    } else process.stdout.write(`\n${formatFleet(fleet)}`);
  }
  return 0;
}

/** Why /readyz answers 503, if it does; nothing when meshd is ready or does not say (an older meshd). */
async function notReadyReason(admin: ReturnType<typeof parseAdminAddress>): Promise<string | undefined> {
  const res = await adminGet(admin, '/readyz');
  if (!res.ok || res.status !== 503) return undefined;
  return (
    res.body
      .trim()
      .replace(/^not ready:\s*/, '')
      .slice(0, 2000) || 'no reason given'
  );
}

interface ReplicaReport {
  id?: string;
  xdsAddress?: string;
  adminAddress?: string;
  meshHash?: string;
  proxies?: string[];
  ageMs?: number;
  alive?: boolean;
  leader?: boolean;
  self?: boolean;
}

interface FleetReport {
  store?: string;
  storeReachable?: boolean;
  replicas?: ReplicaReport[];
  warning?: string;
}

/** GET /v1/replicas, when meshd is a replica of a fleet (nothing otherwise, or when the store cannot be read). */
async function fleetReport(admin: ReturnType<typeof parseAdminAddress>): Promise<FleetReport | undefined> {
  const res = await adminGet(admin, '/v1/replicas');
  if (!res.ok) return undefined;
  if (res.status === 503) return { warning: `the fleet's replicas cannot be listed: ${oneLine(res.body)}` };
  if (res.status !== 200) return undefined;
  const body = parseJson(res.body) as FleetReport | undefined;
  return body && typeof body === 'object' && Array.isArray(body.replicas) ? body : undefined;
}

/**
 * The fleet's replicas: one row each (this one marked), the proxies on each, and a warning when their meshes differ.
 */
export function formatFleet(fleet: FleetReport): string {
  const replicas = [...(fleet.replicas ?? [])].sort((a, b) => compare(a.id ?? '', b.id ?? ''));
  const rows = [['REPLICA', 'XDS', 'ADMIN', 'HEARTBEAT', 'LEADER', 'MESH HASH', 'PROXIES']];
  for (const r of replicas) {
    const age = typeof r.ageMs === 'number' ? `${(r.ageMs / 1000).toFixed(1)}s ago` : '-';
    rows.push([
      `${cell(r.id)}${r.self ? ' (this)' : ''}`,
      cell(r.xdsAddress),
      cell(r.adminAddress),
      r.alive === false ? `GONE (${age})` : age,
      r.leader ? 'yes' : '-',
      cell(r.meshHash),
      String(Array.isArray(r.proxies) ? r.proxies.length : 0),
    ]);
  }
  const lines = [
    ...(fleet.warning ? [`warning: ${oneLine(fleet.warning)}`, ''] : []),
    ...(replicas.length > 0 ? table(rows) : []),
  ];
  for (const r of replicas) {
    const proxies = Array.isArray(r.proxies) ? r.proxies.filter((p) => typeof p === 'string') : [];
    if (proxies.length > 0) lines.push(`${cell(r.id)}: ${proxies.map(clean).join(', ')}`);
  }
  const live = replicas.filter((r) => r.alive !== false).length;
  if (replicas.length > 0)
    lines.push(`${replicas.length} ${replicas.length === 1 ? 'replica' : 'replicas'}: ${live} live`);
  return `${lines.join('\n')}\n`;
}

interface RemoteServiceReport {
  namespace?: string;
  service?: string;
  state?: string;
  instances?: number | null;
  lastSuccessAgeSeconds?: number | null;
  lastError?: { reason?: string; message?: string; failingSince?: string; consecutiveFailures?: number } | null;
}

interface RemoteReport {
  mode?: string;
  endpoint?: string;
  services?: RemoteServiceReport[];
}

/** GET /v1/cloud-map/remote, when meshd runs a remote Cloud Map (nothing for local mode or an older meshd). */
async function remoteCloudMap(admin: ReturnType<typeof parseAdminAddress>): Promise<RemoteReport | undefined> {
  const res = await adminGet(admin, '/v1/cloud-map/remote');
  if (!res.ok || res.status !== 200) return undefined;
  const body = parseJson(res.body) as RemoteReport | undefined;
  return body && typeof body === 'object' && body.mode === 'remote' ? body : undefined;
}

/** One line for the remote Cloud Map, and one per service whose polls fail, saying why. */
export function formatRemoteCloudMap(report: RemoteReport | undefined, now = Date.now()): string {
  if (!report) return '';
  const services = Array.isArray(report.services) ? report.services : [];
  const failing = services.filter((s) => s.state === 'failing');
  const counts = new Map<string, number>();
  for (const s of services) counts.set(s.state ?? '?', (counts.get(s.state ?? '?') ?? 0) + 1);
  const summary = [...counts].map(([state, n]) => `${n} ${clean(state)}`).join(', ') || 'no services polled';
  const lines = [`remote Cloud Map ${clean(report.endpoint ?? '')}: ${services.length} service(s): ${summary}`];
  for (const s of failing) {
    const e = s.lastError ?? {};
    const since = e.failingSince ? Math.max(0, Math.round((now - Date.parse(e.failingSince)) / 1000)) : undefined;
    const kept =
      typeof s.instances === 'number'
        ? `its last good ${s.instances} instance(s) keep serving${typeof s.lastSuccessAgeSeconds === 'number' ? ` (last answer ${Math.round(s.lastSuccessAgeSeconds)}s ago)` : ''}`
        : 'it has no instances yet';
    lines.push(
      `  ${clean(`${s.namespace ?? '?'}/${s.service ?? '?'}`)} FAILING${since !== undefined ? ` for ${since}s` : ''} (${e.consecutiveFailures ?? '?'} failed poll(s)): ${clean(e.reason ?? 'error')}: ${oneLine(e.message ?? '(no message)')}; ${kept}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The table, why a proxy gets no configuration and the NACK reasons under it, and a summary line. */
export function formatStatus(proxies: readonly ProxyReport[]): string {
  if (proxies.length === 0) return 'no proxies connected\n';
  const sorted = [...proxies].sort(
    (a, b) => compare(a.nodeId ?? '', b.nodeId ?? '') || (a.stream ?? 0) - (b.stream ?? 0),
  );

  const rows = [['NODE ID', 'PROTOCOL', 'CLIENT', ...TABLE_TYPES]];
  // Once per reason: several streams of one node id share it.
  const problems = new Set<string>();
  const nacks: string[] = [];
  const counts = new Map<string, number>();
  for (const p of sorted) {
    const types = p.types ?? {};
    rows.push([cell(p.nodeId), cell(p.protocol), cell(p.client), ...TABLE_TYPES.map((t) => cell(types[t]?.state))]);
    if (typeof p.configProblem === 'string' && p.configProblem) problems.add(oneLine(p.configProblem));
    for (const [name, t] of orderedTypes(types)) {
      if (t.state !== 'NACKED') continue;
      const version = t.lastNack?.version || t.sentVersion || '-';
      nacks.push(
        `${clean(p.nodeId ?? '-')} ${clean(name)} NACKED version ${clean(version)}: ${oneLine(t.lastNack?.message ?? '(no message)')}`,
      );
    }
    const state = proxyState(Object.values(types).filter((t): t is TypeReport => !!t));
    counts.set(state, (counts.get(state) ?? 0) + 1);
  }

  const states = [...counts.keys()].sort((a, b) => rank(SUMMARY_ORDER, a) - rank(SUMMARY_ORDER, b) || compare(a, b));
  const summary = `${sorted.length} ${sorted.length === 1 ? 'proxy' : 'proxies'}: ${states.map((s) => `${counts.get(s)} ${s}`).join(', ')}`;
  return [...table(rows), '', ...problems, ...nacks, summary].join('\n') + '\n';
}

function proxyState(types: readonly TypeReport[]): string {
  if (types.length === 0) return 'NOT_SENT';
  return types.map((t) => t.state ?? 'NOT_SENT').sort((a, b) => rank(SEVERITY, a) - rank(SEVERITY, b))[0]!;
}

/** CDS, EDS, LDS, RDS first, then any other type the server reports, by name. */
function orderedTypes(types: Record<string, TypeReport | undefined>): [string, TypeReport][] {
  const known: readonly string[] = TABLE_TYPES;
  return Object.entries(types)
    .filter((e): e is [string, TypeReport] => !!e[1])
    .sort(([a], [b]) => rank(known, a) - rank(known, b) || compare(a, b));
}

function rank(order: readonly string[], value: string): number {
  const i = order.indexOf(value);
  return i === -1 ? order.length : i;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function table(rows: string[][]): string[] {
  // A reduce, not Math.max(...): one row per connected proxy, and a spread that long overflows the stack.
  const widths = rows[0]!.map((_, i) => rows.reduce((widest, r) => Math.max(widest, r[i]!.length), 0));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join(''));
}

/** A table cell: '-' when the server did not say (older meshd, type not subscribed). */
function cell(value: string | undefined): string {
  return value ? clean(value) : '-';
}

/** Node ids and messages come from proxies: keep control characters off the terminal. */
function clean(text: string): string {
  return String(text).replace(/[\u0000-\u001f\u007f]/g, '?');
}

function oneLine(text: string): string {
  return clean(
    String(text)
      .trim()
      .replace(/\s*\r?\n\s*/g, ' '),
  );
}
