// The Proxies, Problems and Rollouts views and the details panel.
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, resourcePath, rolloutAction, type Action } from './api';
import type { Problem, ProblemsReport, Proxy, ReplicasReport, ResourceDetails, Rollout } from './types';

const STATE_GLYPH: Record<string, string> = { SYNCED: '✓', STALE: '…', NACKED: '✗', NOT_SENT: '–' };

function replicaOf(replicas: ReplicasReport | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const r of replicas?.replicas ?? []) for (const p of r.proxies ?? []) map.set(p, r.id);
  return map;
}

/** This replica's id: the one /v1/replicas marks `self` (or names as `replicaId`). */
const selfOf = (replicas: ReplicasReport | undefined): string | undefined =>
  replicas?.replicas.find((r) => r.self)?.id ?? replicas?.replicaId;

export function ProxiesView({ proxies, replicas }: { proxies: Proxy[] | undefined; replicas?: ReplicasReport }) {
  const replica = replicaOf(replicas);
  const fleet = replicas !== undefined;
  const self = selfOf(replicas);
  // /v1/proxies lists this replica's streams only; in a fleet, the proxies the other replicas hold are listed by
  // /v1/replicas (node ids only: their sync states are known to those replicas).
  const local = new Set((proxies ?? []).map((p) => p.nodeId));
  const remote: { nodeId: string; replica: string }[] = [];
  for (const r of replicas?.replicas ?? []) {
    if (r.self || r.id === self) continue;
    for (const nodeId of r.proxies ?? []) if (!local.has(nodeId)) remote.push({ nodeId, replica: r.id });
  }
  const total = (proxies?.length ?? 0) + remote.length;
  return (
    <div data-testid="proxies">
      <h2>Proxies</h2>
      {!proxies ? (
        <p>Loading…</p>
      ) : total === 0 ? (
        <p class="empty">No proxy is connected.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption>
              {proxies.length} connected {proxies.length === 1 ? 'stream' : 'streams'}
              {fleet ? ` to this replica${self ? ` (${self})` : ''}, ${remote.length} to other replicas` : ''}; each
              configuration type&apos;s sync state
            </caption>
            <thead>
              <tr>
                <th scope="col">Node id</th>
                {fleet ? <th scope="col">Replica</th> : null}
                <th scope="col">Client</th>
                <th scope="col">Types</th>
                <th scope="col">Last NACK</th>
                <th scope="col">Problem</th>
              </tr>
            </thead>
            <tbody>
              {proxies.map((p) => {
                const types = Object.entries(p.types ?? {});
                const nacks = types.filter(([, t]) => t.lastNack);
                return (
                  <tr key={`${p.nodeId}|${p.stream ?? ''}`} data-node-id={p.nodeId}>
                    <th scope="row" class="mono">
                      {p.nodeId}
                    </th>
                    {fleet ? <td class="replica">{replica.get(p.nodeId) ?? self ?? 'unknown'}</td> : null}
                    <td>
                      {p.client ?? ''}
                      {p.protocol ? ` (${p.protocol})` : ''}
                    </td>
                    <td>
                      <ul class="types">
                        {types.map(([name, t]) => (
                          <li key={name} class={`s-${t.state}`}>
                            {name} <span aria-hidden="true">{STATE_GLYPH[t.state] ?? ''}</span> {t.state}
                          </li>
                        ))}
                      </ul>
                    </td>
                    <td class="nack">
                      {nacks.map(([name, t]) => (
                        <p key={name}>
                          {name} (version {t.lastNack!.version}, {t.lastNack!.at}): {t.lastNack!.message}
                        </p>
                      ))}
                    </td>
                    <td class="problem">{p.configProblem ?? ''}</td>
                  </tr>
                );
              })}
              {remote.map((r) => (
                <tr key={`${r.nodeId}|replica ${r.replica}`} data-node-id={r.nodeId} data-replica={r.replica}>
                  <th scope="row" class="mono">
                    {r.nodeId}
                  </th>
                  <td class="replica">replica {r.replica}</td>
                  <td />
                  <td>connected to replica {r.replica} (its sync states are known there)</td>
                  <td class="nack" />
                  <td class="problem" />
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

export const errorCount = (p: ProblemsReport | undefined): number =>
  p ? p.problems.filter((x) => x.severity === 'error').length : 0;

export function ProblemsView({ problems }: { problems: ProblemsReport | undefined }) {
  return (
    <div data-testid="problems">
      <h2>Problems</h2>
      {!problems ? (
        <p>Loading…</p>
      ) : (
        <>
          <p class={problems.valid ? 'ok' : 'bad'}>
            {problems.valid
              ? '✓ The last load was valid'
              : '✗ The last load was not valid: meshd serves the mesh before it'}
            {problems.checkedAt
              ? ` (load ${problems.generation}, ${new Date(problems.checkedAt).toLocaleString()})`
              : ''}
            .
          </p>
          {problems.problems.length === 0 ? (
            <p class="empty">No problems</p>
          ) : (
            <ul class="problems">
              {problems.problems.map((p: Problem, i) => (
                <li key={i} data-severity={p.severity} class={`sev-${p.severity}`}>
                  {p.text}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </div>
  );
}

// --- Rollouts ---

const FINISHED = new Set(['Succeeded', 'Failed', 'Aborted']);

function applicable(phase: string, action: Action): boolean {
  if (FINISHED.has(phase)) return false;
  if (action === 'pause') return phase !== 'Paused';
  if (action === 'resume') return phase === 'Paused';
  return true;
}

const ACTIONS: { action: Action; text: string }[] = [
  { action: 'pause', text: 'Pause' },
  { action: 'resume', text: 'Resume' },
  { action: 'abort', text: 'Abort' },
  { action: 'promote', text: 'Promote' },
];

const TOKEN_KEY = 'meshd-admin-token';

export function readToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function RolloutsView({ rollouts }: { rollouts: Rollout[] | undefined }) {
  const [token, setToken] = useState(readToken);
  const onToken = (e: Event) => {
    const value = (e.target as HTMLInputElement).value;
    setToken(value);
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // No session storage: the token lasts as long as the page.
    }
  };
  return (
    <div data-testid="rollouts">
      <h2>Rollouts</h2>
      <form class="token" onSubmit={(e) => e.preventDefault()}>
        <label for="admin-token">Admin token</label>{' '}
        <input
          id="admin-token"
          name="admin-token"
          type="password"
          autocomplete="off"
          value={token}
          onInput={onToken}
          aria-describedby="admin-token-help"
        />{' '}
        <span id="admin-token-help" class="help">
          Needed for the buttons when meshd has an admin token; kept for this tab only.
        </span>
      </form>
      {!rollouts ? (
        <p>Loading…</p>
      ) : rollouts.length === 0 ? (
        <p class="empty">No rollouts.</p>
      ) : (
        rollouts.map((r) => <RolloutCard key={`${r.mesh}/${r.name}`} rollout={r} token={token} />)
      )}
    </div>
  );
}

function RolloutCard({ rollout: r, token }: { rollout: Rollout; token: string }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const act = async (action: Action) => {
    setBusy(true);
    setError('');
    const err = await rolloutAction(r.mesh, r.name, action, token);
    setBusy(false);
    setError(err ?? '');
  };
  const id = `rollout-${r.mesh}-${r.name}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const events = [...r.events].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  return (
    <article data-testid="rollout" data-rollout={`${r.mesh}/${r.name}`} data-phase={r.phase} aria-labelledby={id}>
      <h3 id={id}>
        {r.mesh}/{r.name} <span class={`phase p-${r.phase}`}>{r.phase}</span>
      </h3>
      <p>
        Route {r.settings.route.virtualRouter}/{r.settings.route.name}: primary <b>{r.settings.primary}</b>{' '}
        {r.expected.primary}%, canary <b>{r.settings.canary}</b> {r.expected.canary}% (step {r.settings.stepWeight}%, up
        to {r.settings.maxWeight}%; {r.failedChecks} failed {r.failedChecks === 1 ? 'check' : 'checks'}, rollback at{' '}
        {r.settings.threshold}
        {r.nextStepInMs !== null ? `; next step in ${Math.ceil(r.nextStepInMs / 1000)} s` : ''}).
      </p>
      <div class="actions">
        {ACTIONS.map(({ action, text }) => (
          <button
            key={action}
            type="button"
            data-action={action}
            disabled={busy || !applicable(r.phase, action)}
            onClick={() => void act(action)}
          >
            {text}
          </button>
        ))}
      </div>
      <p role="alert" class="alert">
        {error}
      </p>
      <WeightChart rollout={r} />
      <Checks rollout={r} />
      <h4>Events</h4>
      {events.length === 0 ? (
        <p class="empty">No events yet.</p>
      ) : (
        <ol class="events">
          {events.map((e, i) => (
            <li key={i} class={`ev-${e.type}`}>
              <time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time>{' '}
              {e.type === 'Warning' ? <b>Warning: </b> : null}
              {e.message}
              {typeof e.canaryWeight === 'number' ? ` (canary ${e.canaryWeight}%)` : ''}
            </li>
          ))}
        </ol>
      )}
    </article>
  );
}

const CW = 360;
const CH = 140;
const PAD = { l: 40, r: 12, t: 10, b: 24 };

/** The canary's weight over time, as steps: each event's canaryWeight from its time on, and the current one now. */
function WeightChart({ rollout: r }: { rollout: Rollout }) {
  const points = r.events
    .filter((e) => typeof e.canaryWeight === 'number' && !Number.isNaN(Date.parse(e.at)))
    .map((e) => ({ t: Date.parse(e.at), w: e.canaryWeight! }))
    .sort((a, b) => a.t - b.t);
  const now = Date.now();
  // The chart starts at the first event, else at the rollout's start, else now (an unreadable startedAt).
  const started = Date.parse(r.startedAt);
  const t0 = Math.min(points[0]?.t ?? (Number.isNaN(started) ? now : started), now);
  points.push({ t: Math.max(now, points[points.length - 1]?.t ?? now), w: r.canaryWeight });
  const span = Math.max(1, points[points.length - 1]!.t - t0);
  const x = (t: number) => PAD.l + ((t - t0) / span) * (CW - PAD.l - PAD.r);
  const y = (w: number) => PAD.t + (1 - Math.min(100, Math.max(0, w)) / 100) * (CH - PAD.t - PAD.b);
  let d = '';
  points.forEach((p, i) => {
    d += i === 0 ? `M${x(p.t).toFixed(1)} ${y(p.w).toFixed(1)}` : `H${x(p.t).toFixed(1)}V${y(p.w).toFixed(1)}`;
  });
  const first = points[0]!;
  const titleId = `wc-${r.mesh}-${r.name}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const desc =
    `Canary weight of ${r.settings.canary} from ${first.w}% at ${new Date(first.t).toLocaleTimeString()} ` +
    `to ${r.canaryWeight}% now, in ${points.length - 1} step${points.length === 2 ? '' : 's'}; max ${r.settings.maxWeight}%.`;
  return (
    <svg
      class="weight-chart"
      width={CW}
      height={CH}
      viewBox={`0 0 ${CW} ${CH}`}
      role="img"
      aria-labelledby={`${titleId}-t ${titleId}-d`}
    >
      <title id={`${titleId}-t`}>Canary weight over time</title>
      <desc id={`${titleId}-d`}>{desc}</desc>
      {[0, 50, 100].map((w) => (
        <g key={w}>
          <line x1={PAD.l} x2={CW - PAD.r} y1={y(w)} y2={y(w)} class="grid" />
          <text x={PAD.l - 4} y={y(w) + 4} text-anchor="end">
            {w}%
          </text>
        </g>
      ))}
      <line x1={PAD.l} x2={CW - PAD.r} y1={y(r.settings.maxWeight)} y2={y(r.settings.maxWeight)} class="max" />
      <path d={d} class="steps" />
      <text x={PAD.l} y={CH - 6}>
        {new Date(t0).toLocaleTimeString()}
      </text>
      <text x={CW - PAD.r} y={CH - 6} text-anchor="end">
        now
      </text>
    </svg>
  );
}

function threshold(r: Rollout, metric: string): string {
  if (metric === 'request-count') return `≥ ${r.settings.minRequests}`;
  const check = r.settings.metrics.find((m) => m.name === metric);
  if (!check) return '';
  const parts = [];
  if (check.min !== undefined) parts.push(`≥ ${check.min}`);
  if (check.max !== undefined) parts.push(`≤ ${check.max}`);
  return parts.join(' and ');
}

function Checks({ rollout: r }: { rollout: Rollout }) {
  const check = r.lastCheck;
  return (
    <>
      <h4>Last check</h4>
      {!check ? (
        <p class="empty">No check yet.</p>
      ) : (
        <table class="checks">
          <caption>
            {new Date(check.at).toLocaleTimeString()}: {check.ok ? '✓ passed' : '✗ failed'}
          </caption>
          <thead>
            <tr>
              <th scope="col">Metric</th>
              <th scope="col">Value</th>
              <th scope="col">Threshold</th>
              <th scope="col">Result</th>
            </tr>
          </thead>
          <tbody>
            {check.results.map((m, i) => (
              <tr key={i} class={m.ok ? 'ok' : 'bad'}>
                <th scope="row">{m.metric}</th>
                <td>{m.value === null ? 'no traffic' : m.value}</td>
                <td>{threshold(r, m.metric)}</td>
                <td title={m.message}>
                  {m.ok ? '✓ ok' : '✗ failed'}: {m.message}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

// --- Details ---

const K8S_PREFIX = 'k8s:/';

/**
 * Where a resource comes from, in words: `file:line:col` for a file, `API` for one created through the API, and
 * `Kubernetes: virtualnodes/ns/name` for one read from the cluster (meshd loads those as virtual files
 * `k8s:/<plural>/<namespace>/<name>`, whose line and column say nothing).
 */
export function sourceText(d: { source?: string | null; origin?: string }): string {
  if (d.origin === 'api' || !d.source) return 'API';
  if (d.origin === 'kubernetes' || d.source.startsWith(K8S_PREFIX)) {
    const path = d.source.startsWith(K8S_PREFIX) ? d.source.slice(K8S_PREFIX.length) : d.source;
    return `Kubernetes: ${path.replace(/:\d+:\d+$/, '')}`;
  }
  return d.source;
}

export function Details({ id, onClose }: { id: string; onClose: () => void }) {
  const [state, setState] = useState<{ data?: ResourceDetails; error?: string }>({});
  const close = useRef<HTMLButtonElement>(null);
  // Keyboard users land in the details they opened (Close or Escape takes them back to the graph).
  useEffect(() => close.current?.focus({ preventScroll: true }), [id]);
  useEffect(() => {
    let live = true;
    setState({});
    getJson<ResourceDetails>(resourcePath(id)).then(
      (data) => live && setState({ data }),
      (err: unknown) => live && setState({ error: err instanceof Error ? err.message : String(err) }),
    );
    return () => {
      live = false;
    };
  }, [id]);
  const d = state.data;
  return (
    <aside
      data-testid="details"
      class="details"
      aria-labelledby="details-title"
      onKeyDown={(e) => {
        if (e.key === 'Escape') onClose();
      }}
    >
      <div class="details-head">
        <h2 id="details-title">{d ? `${d.kind} ${d.name}` : id}</h2>
        <button type="button" ref={close} onClick={onClose} aria-label="Close the details">
          Close
        </button>
      </div>
      {state.error ? (
        <p role="alert">{state.error}</p>
      ) : !d ? (
        <p>Loading…</p>
      ) : (
        <>
          <dl>
            <dt>Kind</dt>
            <dd class="kind">{d.kind}</dd>
            <dt>Name</dt>
            <dd class="name">{d.name}</dd>
            <dt>Mesh</dt>
            <dd>{d.mesh}</dd>
            <dt>Source</dt>
            <dd class="source">{sourceText(d)}</dd>
          </dl>
          <h3>YAML</h3>
          <pre class="yaml" tabIndex={0}>
            {d.yaml}
          </pre>
          {d.envoy !== null && d.envoy !== undefined ? (
            <details>
              <summary>Envoy configuration</summary>
              <pre class="envoy" tabIndex={0}>
                {JSON.stringify(d.envoy, null, 2)}
              </pre>
            </details>
          ) : null}
          <h3>Proxies serving it</h3>
          {d.proxies.length === 0 ? (
            <p class="empty">None connected.</p>
          ) : (
            <ul class="serving">
              {d.proxies.map((p, i) => (
                <li key={i}>
                  {p.nodeId}:{' '}
                  {Object.entries(p.types ?? {})
                    .map(([n, t]) => `${n} ${t.state}`)
                    .join(', ')}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
    </aside>
  );
}
