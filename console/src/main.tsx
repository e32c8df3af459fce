// meshd's web console (docs/console.md): fetches the admin API's state once, then follows GET /v1/events and
// refetches only what an event names. The app's state lives here and every change renders it synchronously, so
// that an update's performance measure (meshd:update:<event>) ends after the DOM is updated.
import { render } from 'preact';
import { coalesced, getJson, HttpError } from './api';
import { Graph } from './graph';
import { measureSince } from './perf';
import { LiveStore } from './store';
import type { MeshGraph, ProblemsReport, Proxy, ReplicasReport, Rollout, Telemetry } from './types';
import { Details, errorCount, ProblemsView, ProxiesView, RolloutsView } from './views';

type View = 'graph' | 'proxies' | 'rollouts' | 'problems';
const VIEWS: { view: View; text: string }[] = [
  { view: 'graph', text: 'Graph' },
  { view: 'proxies', text: 'Proxies' },
  { view: 'rollouts', text: 'Rollouts' },
  { view: 'problems', text: 'Problems' },
];
type Connection = 'connecting' | 'live' | 'reconnecting';

interface State {
  view: View;
  connection: Connection;
  mesh?: MeshGraph;
  proxies?: Proxy[];
  rollouts?: Rollout[];
  problems?: ProblemsReport;
  replicas?: ReplicasReport;
  details?: string;
  errors: Partial<Record<string, string>>;
}

const live = new LiveStore();
const EMPTY_MESH: MeshGraph = { generation: 0, nodes: [], edges: [] };
let state: State = { view: viewFromHash(), connection: 'connecting', errors: {} };
const root = document.getElementById('app') ?? document.body;

function viewFromHash(): View {
  const v = location.hash.slice(1);
  return VIEWS.some((x) => x.view === v) ? (v as View) : 'graph';
}

function update(patch: Partial<State>): void {
  state = { ...state, ...patch };
  render(<App {...state} />, root);
}

/** Applies an update from an event inside a performance measure that ends once the DOM shows it. */
function measured(event: string, apply: () => void): void {
  const start = `meshd:update:${event}:start`;
  performance.mark(start);
  apply();
  measureSince(`meshd:update:${event}`, start);
}

function setError(endpoint: string, err: unknown): void {
  update({ errors: { ...state.errors, [endpoint]: err instanceof Error ? err.message : String(err) } });
}
const clearError = (endpoint: string) => {
  if (!state.errors[endpoint]) return {};
  const errors = { ...state.errors };
  delete errors[endpoint];
  return { errors };
};

/** The current event being applied, for the measure's name (a refetch answers one event, or the first load). */
function refetcher<T>(endpoint: string, key: keyof State, optional = false, absent?: T, measureParse = false) {
  let event: string | undefined;
  const fetcher = coalesced<T>(
    endpoint,
    (value) => {
      const apply = () => update({ [key]: value, ...clearError(endpoint) } as Partial<State>);
      if (event) measured(event, apply);
      else apply();
    },
    (err) => {
      // An endpoint this meshd does not have (no fleet, no rollouts): nothing to show, not an error.
      if (optional && err instanceof HttpError && err.status === 404) {
        if (absent !== undefined) update({ [key]: absent } as Partial<State>);
        return;
      }
      setError(endpoint, err);
    },
    measureParse,
  );
  return (why?: string) => {
    event = why;
    return fetcher();
  };
}

const fetchMesh = refetcher<MeshGraph>('/v1/mesh', 'mesh', false, undefined, true);
const fetchProxies = refetcher<Proxy[]>('/v1/proxies', 'proxies');
const fetchRollouts = refetcher<Rollout[]>('/v1/rollouts', 'rollouts', true, []);
const fetchProblems = refetcher<ProblemsReport>('/v1/problems', 'problems');
const fetchReplicas = refetcher<ReplicasReport>('/v1/replicas', 'replicas', true);
/** This meshd is a replica of a fleet (the event stream's `hello` says). */
let fleet = false;

function App(s: State) {
  const errors = Object.entries(s.errors);
  const problemCount = errorCount(s.problems);
  return (
    <>
      <header class="top">
        <h1>meshd</h1>
        <span class="mesh-info">
          {s.mesh && s.mesh.generation ? `mesh generation ${s.mesh.generation}` : ''}
          {s.mesh?.meshHash ? ` · ${s.mesh.meshHash.slice(0, 12)}` : ''}
        </span>
        <span class={`connection c-${s.connection}`} data-testid="connection" data-state={s.connection} role="status">
          {s.connection === 'live' ? '● live' : s.connection === 'connecting' ? '○ connecting…' : '◌ reconnecting…'}
        </span>
      </header>
      <nav aria-label="Views">
        <div role="tablist" aria-label="Views" onKeyDown={onTabKey}>
          {VIEWS.map(({ view, text }) => (
            <button
              key={view}
              type="button"
              role="tab"
              id={`tab-${view}`}
              data-view={view}
              aria-selected={s.view === view}
              aria-controls="view"
              tabIndex={s.view === view ? 0 : -1}
              onClick={() => openView(view)}
            >
              {text}
              {view === 'problems' && s.problems ? (
                <span class={problemCount ? 'badge bad' : 'badge'}>
                  {' '}
                  ({problemCount} {problemCount === 1 ? 'error' : 'errors'})
                </span>
              ) : null}
            </button>
          ))}
        </div>
      </nav>
      <main>
        {errors.length ? (
          <div class="fetch-errors" role="alert">
            {errors.map(([endpoint, message]) => (
              <p key={endpoint}>
                {endpoint}: {message}
              </p>
            ))}
          </div>
        ) : null}
        <div class="layout">
          <section
            id="view"
            role="tabpanel"
            aria-labelledby={`tab-${s.view}`}
            data-testid={`view-${s.view}`}
            class={`view view-${s.view}`}
          >
            <div class="graph-view" hidden={s.view !== 'graph'}>
              <h2 class="visually-hidden">Graph</h2>
              <Graph
                graph={s.mesh ?? EMPTY_MESH}
                live={live}
                hidden={s.view !== 'graph'}
                onOpen={(id) => update({ details: id })}
              />
            </div>
            {s.view === 'proxies' ? <ProxiesView proxies={s.proxies} replicas={s.replicas} /> : null}
            {s.view === 'rollouts' ? <RolloutsView rollouts={s.rollouts} /> : null}
            {s.view === 'problems' ? <ProblemsView problems={s.problems} /> : null}
          </section>
          {s.details ? <Details id={s.details} onClose={closeDetails} /> : null}
        </div>
      </main>
    </>
  );
}

let returnFocus: Element | null = null;
function closeDetails(): void {
  update({ details: undefined });
  if (returnFocus instanceof HTMLElement || returnFocus instanceof SVGElement) returnFocus.focus();
}
document.addEventListener('focusin', (e) => {
  const t = e.target as Element;
  if (t.closest?.('g.node, g.edge')) returnFocus = t;
});

function openView(view: View): void {
  if (location.hash.slice(1) !== view) history.replaceState(null, '', `#${view}`);
  update({ view });
  watchReplicas();
  if (view === 'proxies' && fleet) void fetchReplicas();
}

function onTabKey(e: KeyboardEvent): void {
  const i = VIEWS.findIndex((v) => v.view === state.view);
  let next = -1;
  if (e.key === 'ArrowRight') next = (i + 1) % VIEWS.length;
  else if (e.key === 'ArrowLeft') next = (i + VIEWS.length - 1) % VIEWS.length;
  else if (e.key === 'Home') next = 0;
  else if (e.key === 'End') next = VIEWS.length - 1;
  if (next < 0) return;
  e.preventDefault();
  openView(VIEWS[next]!.view);
  document.getElementById(`tab-${VIEWS[next]!.view}`)?.focus();
}

/** No hello has been seen yet on any stream (kept across connect() calls: a new stream is a reconnect). */
let firstHello = true;

/**
 * The replicas (hence which proxy is on which replica) change without an event: poll while the Proxies view shows them.
 */
let replicaTimer: ReturnType<typeof setInterval> | undefined;
function watchReplicas(): void {
  const want = fleet && state.view === 'proxies';
  if (want && !replicaTimer) replicaTimer = setInterval(() => void fetchReplicas(), REPLICAS_EVERY_MS);
  else if (!want && replicaTimer) {
    clearInterval(replicaTimer);
    replicaTimer = undefined;
  }
}
const REPLICAS_EVERY_MS = 5000;

function connect(): void {
  const events = new EventSource('/v1/events');
  events.addEventListener('open', () => update({ connection: 'live' }));
  events.addEventListener('error', () => {
    // EventSource reconnects by itself (CONNECTING); CLOSED means it gave up (e.g. a 503 when too many are open).
    if (events.readyState === EventSource.CLOSED) {
      update({ connection: 'reconnecting' });
      setTimeout(connect, 5000);
    } else update({ connection: 'reconnecting' });
  });
  events.addEventListener('hello', (e) => {
    let hello: { mesh?: number; problems?: number; fleet?: boolean } = {};
    try {
      hello = JSON.parse((e as MessageEvent<string>).data) as typeof hello;
    } catch {
      // No generations: nothing to compare.
    }
    // Only a replica of a fleet answers /v1/replicas (which proxy is connected to which replica).
    fleet = hello.fleet === true;
    watchReplicas();
    if (!firstHello) {
      // A reconnect (the same EventSource's, or a new one after the stream was closed, e.g. a 503 at the cap):
      // what happened meanwhile is unknown, and a restarted meshd counts its generations from 1 again, so equal
      // generations prove nothing. Fetch everything again.
      void loadAll('hello');
    } else {
      // The first hello: proxies and rollouts have no generation, so a change between the first fetches and the
      // stream's start is only seen by fetching them again; the mesh and the problems when their generation moved.
      void fetchProxies('hello');
      void fetchRollouts('hello');
      if (fleet) void fetchReplicas('hello');
      if (typeof hello.mesh === 'number' && state.mesh && hello.mesh !== state.mesh.generation) void fetchMesh('mesh');
      if (typeof hello.problems === 'number' && state.problems && hello.problems !== state.problems.generation)
        void fetchProblems('problems');
    }
    firstHello = false;
    if (state.connection !== 'live') update({ connection: 'live' });
  });
  events.addEventListener('mesh', () => void fetchMesh('mesh'));
  events.addEventListener('problems', () => void fetchProblems('problems'));
  events.addEventListener('proxies', () => {
    void fetchProxies('proxies');
    if (fleet) void fetchReplicas('proxies');
  });
  events.addEventListener('rollouts', () => void fetchRollouts('rollouts'));
  events.addEventListener('telemetry', (e) => {
    let t: Telemetry;
    try {
      t = JSON.parse((e as MessageEvent<string>).data) as Telemetry;
    } catch {
      return;
    }
    measured('telemetry', () => live.set(t));
  });
}

async function loadAll(why?: string): Promise<void> {
  await Promise.all([
    fetchMesh(why),
    fetchProxies(why),
    fetchRollouts(why),
    fetchProblems(why),
    ...(fleet ? [fetchReplicas(why)] : []),
  ]);
}

async function main(): Promise<void> {
  update({});
  // The first telemetry is fetched too, so the first view has numbers (when meshd has telemetry at all).
  const telemetry = getJson<Telemetry>('/v1/telemetry?window=10s').then(
    (t) => live.set(t),
    () => undefined,
  );
  await Promise.all([loadAll(), telemetry]);
  document.body.dataset.ready = 'true';
  performance.mark('meshd:first-view');
  connect();
}

window.addEventListener('hashchange', () => {
  update({ view: viewFromHash() });
  watchReplicas();
});
void main();
