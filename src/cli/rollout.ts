// `meshd rollout`: start, watch and steer progressive canary rollouts on a running meshd,
// through its admin API (src/rollout/http.ts).
import { formatDuration } from '../util/duration';
import { WEBHOOK_TYPES } from '../model/rollout';
import {
  adminFlag,
  adminTokenFileFlag,
  adminWriteHeaders,
  adminGet,
  adminRequest,
  answeredJson,
  parseAdminAddress,
  parseJson,
  type AdminAddress,
  type GetResult,
} from './admin-client';
import { UsageError, type CommandSpec, type FlagSpec, type ParsedArgs } from './args';

const SUBCOMMANDS = ['status', 'start', 'pause', 'resume', 'abort', 'promote'] as const;

/** The flags only `start` takes, mapped to where they go in the Rollout spec. */
const START_FLAGS: Readonly<Record<string, FlagSpec>> = {
  route: {
    type: 'string',
    metavar: 'router/route',
    help: 'start: the route whose weights shift, as <virtual router>/<route>',
  },
  primary: { type: 'string', metavar: 'node', help: 'start: the virtual node serving now' },
  canary: { type: 'string', metavar: 'node', help: 'start: the virtual node being rolled out' },
  name: { type: 'string', help: "start: the rollout's name (default: the canary's)" },
  'mesh-name': { type: 'string', metavar: 'mesh', help: 'start: the mesh (default: the only one served)' },
  interval: { type: 'string', metavar: 'duration', help: 'start: time between checks and steps (default 1m)' },
  'step-weight': { type: 'int', min: 1, metavar: 'percent', help: 'start: canary weight added per step (default 10)' },
  'max-weight': {
    type: 'int',
    min: 1,
    metavar: 'percent',
    help: 'start: canary weight at which it is promoted (default 50)',
  },
  threshold: { type: 'int', min: 1, metavar: 'n', help: 'start: failed checks before rolling back (default 5)' },
  'min-requests': {
    type: 'int',
    min: 0,
    metavar: 'n',
    help: 'start: requests the canary needs per interval (default 1)',
  },
  'min-success-rate': { type: 'string', metavar: 'percent', help: 'start: lowest success rate, e.g. 99 (default 99)' },
  'max-latency-p99': {
    type: 'int',
    min: 0,
    metavar: 'ms',
    help: 'start: highest p99 latency in milliseconds (default 500)',
  },
  webhook: {
    type: 'list',
    metavar: 'type=url',
    help: `start: a webhook (repeatable); types: ${WEBHOOK_TYPES.join(', ')}`,
  },
};

export const rolloutCommand: CommandSpec = {
  name: 'rollout',
  summary: 'start, watch and steer progressive canary rollouts on a running meshd',
  usage: 'meshd rollout <status|start|pause|resume|abort|promote> [<mesh>/<name> | <name>] [flags]',
  flags: {
    admin: adminFlag,
    'admin-token-file': adminTokenFileFlag,
    format: {
      type: 'string',
      metavar: 'text|json',
      help: 'text: for people; json: the admin API answer as it is',
      default: 'text',
    },
    ...START_FLAGS,
  },
  notes: [
    'status               every rollout (or one): phase, canary weight, failed checks, last check, recent events',
    'start --route r/rt --primary a --canary b [settings]   start a rollout kept by meshd (not in the mesh files)',
    "pause | resume       stop and carry on stepping (resume takes the route's weights as the file has them now)",
    'abort                end it, all traffic back to the primary;  promote: end it, all traffic to the canary',
    'Rollouts declared as `kind: Rollout` in the mesh files are steered the same way. See docs/rollouts.md.',
    'Exit 0 when meshd did it, 1 when it refused (the reason is printed) or cannot be reached, 2 for bad flags.',
  ],
};

export interface RolloutView {
  mesh: string;
  name: string;
  source: string;
  phase: string;
  canaryWeight: number;
  failedChecks: number;
  settings: {
    route: { virtualRouter: string; name: string };
    primary: string;
    canary: string;
    threshold: number;
    maxWeight: number;
    intervalMs: number;
  };
  expected: { primary: number; canary: number };
  lastCheck?: { at: string; ok: boolean; results: { message: string; ok: boolean }[] };
  events: { at: string; type: string; message: string; webhook?: string }[];
  nextStepInMs: number | null;
}

export async function runRollout(args: ParsedArgs): Promise<number> {
  const [sub, target, ...extra] = args.positionals;
  if (!sub) throw new UsageError(`name what to do: meshd rollout <${SUBCOMMANDS.join('|')}>`);
  if (!(SUBCOMMANDS as readonly string[]).includes(sub))
    throw new UsageError(`unknown rollout command '${sub}'; expected one of ${SUBCOMMANDS.join(', ')}`);
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  const format = args.flags.format as string;
  if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, got '${format}'`);
  const given = Object.keys(START_FLAGS).filter(
    (f) => args.flags[f] !== undefined && !(Array.isArray(args.flags[f]) && (args.flags[f] as string[]).length === 0),
  );
  if (sub !== 'start' && given.length > 0) throw new UsageError(`--${given[0]} is for meshd rollout start only`);
  const admin = parseAdminAddress(args.flags.admin as string);
  const command = `rollout ${sub}`;
  // Read before anything is sent, so a bad token file is a usage error, not a half-done command.
  const auth = sub === 'status' ? {} : adminWriteHeaders(args);

  let path: string;
  let res: GetResult;
  if (sub === 'start') {
    if (target !== undefined) throw new UsageError(`start takes no argument (name it with --name), got '${target}'`);
    path = '/v1/rollouts';
    res = await adminRequest(admin, path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify(startRequest(args)),
    });
  } else {
    if (target === undefined && sub !== 'status')
      throw new UsageError(`name the rollout: meshd rollout ${sub} <name> (or <mesh>/<name>)`);
    const found = target === undefined ? { path: '' } : await rolloutPath(admin, target);
    if ('error' in found) {
      process.stderr.write(`meshd ${command}: ${found.error}\n`);
      return 1;
    }
    path = `/v1/rollouts${found.path ? `/${found.path}` : ''}${sub === 'status' ? '' : `/${sub}`}`;
    res =
      sub === 'status'
        ? await adminGet(admin, path)
        : await adminRequest(admin, path, { method: 'POST', headers: { accept: 'application/json', ...auth } });
  }
  const body = answeredJson(command, admin, path, res) as RolloutView | RolloutView[] | undefined;
  if (body === undefined) return 1;
  if (format === 'json') process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  else if (Array.isArray(body))
    process.stdout.write(body.length === 0 ? 'no rollouts\n' : body.map((r) => formatRollout(r, false)).join('\n'));
  else process.stdout.write(formatRollout(body as RolloutView, sub === 'status'));
  return 0;
}

/** `<mesh>/<name>` as is; a bare name is looked up among the rollouts (it must be unique), or why it cannot be. */
async function rolloutPath(admin: AdminAddress, target: string): Promise<{ path: string } | { error: string }> {
  const parts = target.split('/');
  if (parts.length === 2 && parts.every(Boolean)) return { path: parts.map(encodeURIComponent).join('/') };
  if (parts.length !== 1 || !target) throw new UsageError(`name a rollout as <name> or <mesh>/<name>, got '${target}'`);
  const res = await adminGet(admin, '/v1/rollouts');
  const list = res.ok && res.status === 200 ? (parseJson(res.body) as RolloutView[] | undefined) : undefined;
  // Unreachable or odd answers are reported by the request that follows.
  if (!Array.isArray(list)) return { path: `-/${encodeURIComponent(target)}` };
  const matches = list.filter((r) => r.name === target);
  if (matches.length > 1)
    throw new UsageError(
      `several meshes have a rollout '${target}' (${matches.map((r) => r.mesh).join(', ')}); name it as <mesh>/${target}`,
    );
  if (matches.length === 0)
    return {
      error: `no rollout '${target}'${list.length ? ` (there are: ${list.map((r) => `${r.mesh}/${r.name}`).join(', ')})` : ''}`,
    };
  return { path: `${encodeURIComponent(matches[0]!.mesh)}/${encodeURIComponent(target)}` };
}

function startRequest(args: ParsedArgs): unknown {
  const flag = (name: string) => args.flags[name];
  for (const required of ['route', 'primary', 'canary']) {
    if (flag(required) === undefined)
      throw new UsageError(
        `--${required} is required: meshd rollout start --route <router>/<route> --primary <node> --canary <node>`,
      );
  }
  const route = /^([^/]+)\/([^/]+)$/.exec(flag('route') as string);
  if (!route) throw new UsageError(`--route must be <virtual router>/<route>, got '${String(flag('route'))}'`);
  const successRate = flag('min-success-rate') as string | undefined;
  if (successRate !== undefined && !/^[0-9]+(\.[0-9]+)?$/.test(successRate))
    throw new UsageError(`--min-success-rate must be a percentage such as 99 or 99.5, got '${successRate}'`);
  const latency = flag('max-latency-p99') as number | undefined;
  const metrics =
    successRate === undefined && latency === undefined
      ? undefined
      : [
          {
            name: 'request-success-rate',
            thresholdRange: { min: successRate === undefined ? 99 : Number(successRate) },
          },
          { name: 'request-duration', thresholdRange: { max: latency ?? 500 } },
        ];
  const webhooks = (flag('webhook') as string[] | undefined)?.map((text) => {
    const m = /^([a-z-]+)=(.+)$/.exec(text);
    if (!m || !(WEBHOOK_TYPES as readonly string[]).includes(m[1]!))
      throw new UsageError(
        `--webhook must be <type>=<url> with a type among ${WEBHOOK_TYPES.join(', ')}, got '${text}'`,
      );
    return { name: m[1], type: m[1], url: m[2] };
  });
  const analysis = Object.fromEntries(
    Object.entries({
      interval: flag('interval'),
      stepWeight: flag('step-weight'),
      maxWeight: flag('max-weight'),
      threshold: flag('threshold'),
      minRequests: flag('min-requests'),
      metrics,
      webhooks: webhooks?.length ? webhooks : undefined,
    }).filter(([, v]) => v !== undefined),
  );
  return {
    ...(flag('mesh-name') !== undefined ? { mesh: flag('mesh-name') } : {}),
    name: flag('name') ?? flag('canary'),
    spec: {
      route: { virtualRouter: route[1], name: route[2] },
      primary: flag('primary'),
      canary: flag('canary'),
      analysis,
    },
  };
}

export function formatRollout(r: RolloutView, withEvents: boolean): string {
  const s = r.settings;
  const lines = [
    `${r.mesh}/${r.name}  ${r.phase}  ${s.canary} ${r.expected.canary}% / ${s.primary} ${r.expected.primary}%  (Route/${s.route.virtualRouter}/${s.route.name}, ${r.source === 'file' ? 'mesh files' : 'meshd rollout start'})`,
    `  failed checks ${r.failedChecks}/${s.threshold}, promotes after ${s.maxWeight}%, every ${formatDuration(s.intervalMs)}${r.nextStepInMs !== null ? `, next in ${formatDuration(Math.ceil(r.nextStepInMs / 100) * 100)}` : ''}`,
  ];
  if (r.lastCheck)
    lines.push(
      `  last check ${r.lastCheck.ok ? 'passed' : 'failed'}: ${r.lastCheck.results.map((m) => m.message).join('; ')}`,
    );
  // One line: the last event that is not a webhook call's record (a post-rollout hook's yes comes after the end).
  const events = withEvents ? r.events.slice(-10) : r.events.filter((e) => e.webhook === undefined).slice(-1);
  for (const e of events) lines.push(`  ${e.at}  ${e.type === 'Warning' ? 'WARN ' : ''}${e.message}`);
  return `${lines.join('\n')}\n`;
}
