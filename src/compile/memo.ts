// Sharing work between the compiles of many proxies, and from one reload to the next. Most of a
// proxy is about the services it calls, and every caller of a service compiles the same things
// for it (its routes, the clusters of its targets). A memo computes such a piece once and hands
// the same object to every later compile that asks for it, so the encoder can recognise it by
// identity (control/encode.ts) instead of serialising it again.
//
// Why a hit is sound: a memoised computation depends only on its key and on what it looked up
// through the MeshReader and the CloudMapView it is given. The memo records every look-up and its
// answer; an entry is reused only when every recorded look-up, asked again of the current model
// and registry, gives the very same answer (the same object: an unchanged resource keeps its object
// across reloads, see MeshModel.changedKeys). Asking again goes through the caller's reader, so
// a hit still notes each look-up in the calling proxy's recording (control/recording-reader.ts):
// that proxy is recompiled when one of them later changes, exactly as if it had computed the piece
// itself. A model never changes, so once an entry's model look-ups answered the same in a model,
// later callers reading that model (a RecordingMeshReader says which) are only given their keys;
// Cloud Map reads (and workload endpoint reads) are asked every time (the registry changes under
// one model). Results never
// depend on the memo: with NO_MEMO the same input gives the same bytes.
import { lookupKey, type MeshReader } from '../model/mesh-model';
import type { CloudMapView } from './cloud-map-view';
import { Generations } from './generations';
import { sameItems } from '../util/same-items';

export interface CompileMemo {
  /**
   * compute(model, cloudMap)'s value for `key`, reused while its look-ups answer the same. compute
   * must depend on nothing but `key` and what it reads through the reader and view it is passed.
   */
  get<T>(
    key: string,
    model: MeshReader,
    cloudMap: CloudMapView,
    compute: (model: MeshReader, cloudMap: CloudMapView) => T,
  ): T;
  /**
   * derive(input), once per input object: for pure functions (module-level, so the same function
   * each time) of immutable inputs (plans, Envoy objects). derive is handed this memo, for the
   * pieces of its input.
   */
  derived<K extends object, V>(input: K, derive: (input: K, memo: CompileMemo) => V): V;
  /**
   * build()'s value for `key`, reused while `inputs` are the very values (===, in order) they
   * were when it was built: build must depend on nothing else. For a piece of a proxy computed
   * from what its compile has already looked up (so its recording already holds those look-ups).
   */
  whileSame<T>(key: string, inputs: readonly unknown[], build: () => T): T;
  /**
   * An object equal to `plan` (the same JSON), the first one met: so that a small plan built
   * afresh for each proxy (a listener, ALLOW_ALL's passthrough host) is translated and encoded once.
   */
  interned<T extends object>(plan: T): T;
}

/** Computes everything afresh. */
export const NO_MEMO: CompileMemo = {
  get: (_key, model, cloudMap, compute) => compute(model, cloudMap),
  derived: (input, derive) => derive(input, NO_MEMO),
  whileSame: (_key, _inputs, build) => build(),
  interned: (plan) => plan,
};

/** One look-up a computation made: how to ask it again, and what it answered. */
interface Read {
  readonly ask: (model: MeshReader, cloudMap: CloudMapView) => unknown;
  readonly answer: unknown;
  /** A model look-up's key (lookupKey); undefined for a Cloud Map read. */
  readonly modelKey?: string;
}

interface Entry {
  readonly reads: readonly Read[];
  readonly value: unknown;
  /** The keys of its model look-ups, and its Cloud Map reads. */
  readonly modelKeys: readonly string[];
  readonly cloudMapReads: readonly Read[];
  /** The model (a MeshModel never changes) every model look-up was last found to answer the same in. */
  validatedIn?: object;
}

/**
 * A reader that records the look-ups it answers (control/recording-reader.ts) and says what it
 * reads: an entry found valid in that model is valid in it for every later caller, whose
 * recording then only needs the look-ups' keys (Cloud Map reads are still asked: the registry
 * changes under the same model).
 */
export interface RecordingMeshReader extends MeshReader {
  readonly source: object;
  /** `keys` is never changed afterwards: the recording may keep the array as it is. */
  noteKeys(keys: readonly string[]): void;
  /**
   * The look-up keys whose answer differs between `previous` (an earlier `source`) and `source`,
   * if known (MeshModel.changedSince); undefined: unknown.
   */
  changedSince(previous: object): ReadonlySet<string> | undefined;
}

function isRecording(model: MeshReader): model is RecordingMeshReader {
  return (model as Partial<RecordingMeshReader>).noteKeys !== undefined;
}

/** The same object, or (lists built per model or per registry change) lists of the same objects. */
function sameAnswer(a: unknown, b: unknown): boolean {
  return a === b || (Array.isArray(a) && Array.isArray(b) && sameItems(a, b));
}

/** Whether each of `reads`, asked again (in order, through the caller's reader and view), gives the same answer. */
function answerAsBefore(reads: readonly Read[], model: MeshReader, cloudMap: CloudMapView): boolean {
  for (const r of reads) if (!sameAnswer(r.ask(model, cloudMap), r.answer)) return false;
  return true;
}

/** Whether the entry was valid in the model `recorder`'s was built on, and none of its look-ups changed since. */
function unchangedSince(entry: Entry, recorder: RecordingMeshReader): boolean {
  const changed = entry.validatedIn && recorder.changedSince(entry.validatedIn);
  if (!changed) return false;
  for (const key of entry.modelKeys) if (changed.has(key)) return false;
  return true;
}

/**
 * A reader and a view that answer from `model` and `cloudMap`, adding each look-up to `reads`
 * once (`what` names it): a hit asks each again, so the fewer the cheaper.
 */
function recording(model: MeshReader, cloudMap: CloudMapView, reads: Read[]): [MeshReader, CloudMapView] {
  const seen = new Set<string>();
  const noted = <T>(what: string, ask: (model: MeshReader, cloudMap: CloudMapView) => T, modelKey?: string): T => {
    const answer = ask(model, cloudMap);
    if (!seen.has(what)) {
      seen.add(what);
      reads.push({ ask, answer, modelKey });
    }
    return answer;
  };
  const read = <T>(key: string, ask: (model: MeshReader) => T): T => noted(key, ask, key);
  return [
    {
      mesh: (mesh) => read(lookupKey.resource(mesh, 'Mesh', mesh), (m) => m.mesh(mesh)),
      virtualService: (mesh, name) =>
        read(lookupKey.resource(mesh, 'VirtualService', name), (m) => m.virtualService(mesh, name)),
      virtualNode: (mesh, name) =>
        read(lookupKey.resource(mesh, 'VirtualNode', name), (m) => m.virtualNode(mesh, name)),
      virtualRouter: (mesh, name) =>
        read(lookupKey.resource(mesh, 'VirtualRouter', name), (m) => m.virtualRouter(mesh, name)),
      virtualGateway: (mesh, name) =>
        read(lookupKey.resource(mesh, 'VirtualGateway', name), (m) => m.virtualGateway(mesh, name)),
      routesOf: (mesh, router) => read(lookupKey.routesOf(mesh, router), (m) => m.routesOf(mesh, router)),
      gatewayRoutesOf: (mesh, gateway) =>
        read(lookupKey.gatewayRoutesOf(mesh, gateway), (m) => m.gatewayRoutesOf(mesh, gateway)),
    },
    {
      discover: (namespace, service) => noted(`cm\0${namespace}\0${service}`, (_, c) => c.discover(namespace, service)),
      workloadEndpoints: (mesh, node) => noted(`k8s\0${mesh}\0${node}`, (_, c) => c.workloadEndpoints?.(mesh, node)),
    },
  ];
}

/** What derived() keeps for a derivation that gave undefined. */
const UNDEFINED = Symbol('undefined');

/** A memo kept from compile to compile (the controller keeps one for the meshes it serves). */
export class LookupMemo implements CompileMemo {
  private readonly entries = new Generations<Entry>(10_000);
  private readonly derivations = new WeakMap<object, WeakMap<object, unknown>>();
  private readonly plans = new Generations<object>(10_000);
  /** whileSame's last value for each key, with the inputs it was built from. */
  private readonly lastBuilt = new Generations<{ readonly inputs: readonly unknown[]; readonly value: unknown }>(
    10_000,
  );
  /** Each plan interned() was given → the equal plan it handed out, so a plan met again needs no JSON. */
  private readonly canonical = new WeakMap<object, object>();

  get<T>(
    key: string,
    model: MeshReader,
    cloudMap: CloudMapView,
    compute: (model: MeshReader, cloudMap: CloudMapView) => T,
  ): T {
    const entry = this.entries.get(key);
    const recorder = isRecording(model) ? model : undefined;
    if (entry) {
      if (recorder && (entry.validatedIn === recorder.source || unchangedSince(entry, recorder))) {
        // Found valid in this very model already (or in the one it was built on, and none of its
        // look-ups changed since): its look-ups' keys go to the caller's recording as they are.
        entry.validatedIn = recorder.source;
        recorder.noteKeys(entry.modelKeys);
        if (answerAsBefore(entry.cloudMapReads, model, cloudMap)) return entry.value as T;
      } else if (answerAsBefore(entry.reads, model, cloudMap)) {
        // Asked in order through the caller's reader: each is noted in the caller's recording.
        entry.validatedIn = recorder?.source;
        return entry.value as T;
      }
    }
    const reads: Read[] = [];
    const value = compute(...recording(model, cloudMap, reads));
    const modelKeys = reads.flatMap((r) => (r.modelKey === undefined ? [] : [r.modelKey]));
    this.entries.set(key, {
      reads,
      value,
      // The previous entry's very array when the keys are the same: the callers' recordings then
      // log the same items as before (control/recording-reader.ts), which they check cheaply.
      modelKeys: entry && sameItems(entry.modelKeys, modelKeys) ? entry.modelKeys : modelKeys,
      cloudMapReads: reads.filter((r) => r.modelKey === undefined),
      validatedIn: recorder?.source,
    });
    return value;
  }

  interned<T extends object>(plan: T): T {
    const canonical = this.canonical.get(plan);
    if (canonical) return canonical as T;
    // Plans are built in a fixed key order, so equal plans give equal JSON (as the encoder relies on too).
    const json = JSON.stringify(plan);
    let known = this.plans.get(json) as T | undefined;
    if (!known) this.plans.set(json, (known = plan));
    this.canonical.set(plan, known);
    return known;
  }

  whileSame<T>(key: string, inputs: readonly unknown[], build: () => T): T {
    const last = this.lastBuilt.get(key);
    if (last && sameAnswer(last.inputs, inputs)) return last.value as T;
    const value = build();
    this.lastBuilt.set(key, { inputs, value });
    return value;
  }

  derived<K extends object, V>(input: K, derive: (input: K, memo: CompileMemo) => V): V {
    // By function, then by input: a new input costs one entry, not a map of its own.
    let byInput = this.derivations.get(derive);
    if (!byInput) this.derivations.set(derive, (byInput = new WeakMap()));
    const known = byInput.get(input);
    if (known !== undefined) return (known === UNDEFINED ? undefined : known) as V;
    const value = derive(input, this);
    byInput.set(input, value === undefined ? UNDEFINED : value);
    return value;
  }

  /** How many keyed entries it holds. */
  get size(): number {
    return this.entries.size;
  }
}
