// The status meshd writes back to App Mesh objects (src/k8s/status.ts) and its writer
// (src/k8s/status-writer.ts), against a fake KubeClient: what a user sees in `kubectl get -o yaml`.
import * as path from 'node:path';
import { stringify } from 'yaml';
import { arnOf } from '../../src/api/wire';
import { APP_MESH_TYPES, KubeError, type KubeClient, type KubeObject, type ResourceType } from '../../src/k8s/kube-api';
import {
  desiredStatuses,
  errorsMessage,
  problemText,
  type DesiredStatus,
  type StatusObject,
} from '../../src/k8s/status';
import { StatusWriter, statusPatch } from '../../src/k8s/status-writer';
import { loadMesh } from '../../src/load/mesh-source';
import { formatProblem, type Problem } from '../../src/load/problems';
import type { Logger } from '../../src/util/log';
import { meshFolder } from '../helpers/mesh-text';

const ACCOUNT = { accountId: '000000000000', region: 'us-east-1' };
const arn = (key: Parameters<typeof arnOf>[0]) => arnOf(key, ACCOUNT);
const T0 = new Date('2026-12-04T16:00:00.123Z');
const T1 = new Date('2026-12-04T17:00:00Z');

const API = 'appmesh.k8s.aws/v1beta2';
const mesh = (): KubeObject => ({
  apiVersion: API,
  kind: 'Mesh',
  metadata: { name: 'color-mesh', generation: 1, resourceVersion: '1' },
  spec: { namespaceSelector: {} },
});
const node = (name: string, port = 8080, generation = 1): KubeObject => ({
  apiVersion: API,
  kind: 'VirtualNode',
  metadata: { name, namespace: 'prod', generation, resourceVersion: `${generation}0` },
  spec: {
    listeners: [{ portMapping: { port, protocol: 'http' } }],
    serviceDiscovery: { dns: { hostname: `${name}.prod.svc.cluster.local` } },
  },
});
const router = (routes: string[]): KubeObject => ({
  apiVersion: API,
  kind: 'VirtualRouter',
  metadata: { name: 'colorteller', namespace: 'prod', generation: 3, resourceVersion: '30' },
  spec: {
    listeners: [{ portMapping: { port: 8080, protocol: 'http' } }],
    routes: routes.map((name) => ({
      name,
      httpRoute: {
        match: { prefix: `/${name}` },
        action: { weightedTargets: [{ virtualNodeRef: { name: 'red' }, weight: 1 }] },
      },
    })),
  },
});

const TYPES: Record<string, ResourceType> = APP_MESH_TYPES;
function fileOf(o: KubeObject): string {
  const type = TYPES[o.kind!]!;
  return o.metadata.namespace
    ? `k8s:/${type.plural}/${o.metadata.namespace}/${o.metadata.name}`
    : `k8s:/${type.plural}/${o.metadata.name}`;
}
const entries = (objects: KubeObject[]): StatusObject[] =>
  objects.map((object) => ({ type: TYPES[object.kind!]!, object, file: fileOf(object) }));

/** Loads the objects as meshd's cluster mode does: each one a YAML document in its virtual file. */
function load(objects: KubeObject[]) {
  const overlay = new Map(objects.map((o) => [fileOf(o), stringify(withoutStatus(o))]));
  return loadMesh([], { overlay, noFilesIsEmpty: true });
}
function withoutStatus(o: KubeObject): KubeObject {
  const { status: _status, ...rest } = o;
  return rest as KubeObject;
}

function statuses(objects: KubeObject[], now = T0) {
  return desiredStatuses({ objects: entries(objects), load: load(objects), arn, now });
}
/** The object as the informer would see it after the status was written. */
const withStatus = (o: KubeObject, d: DesiredStatus | undefined): KubeObject => ({ ...o, status: d?.status });
const active = (d: DesiredStatus | undefined, type: string) =>
  (d?.status.conditions as Record<string, unknown>[] | undefined)?.find((c) => c.type === type);

describe('desiredStatuses', () => {
  it('marks a valid mesh Active with ARNs, observedGeneration and a whole-second transition time', () => {
    const got = statuses([mesh(), node('red')]);
    expect(got.get('k8s:/meshes/color-mesh')?.status).toEqual({
      meshARN: 'arn:aws:appmesh:us-east-1:000000000000:mesh/color-mesh',
      observedGeneration: 1,
      conditions: [
        { type: 'MeshActive', status: 'True', reason: 'Served', lastTransitionTime: '2026-12-04T16:00:00Z' },
      ],
    });
    const red = got.get('k8s:/virtualnodes/prod/red')!;
    expect(red).toMatchObject({
      type: APP_MESH_TYPES.VirtualNode,
      namespace: 'prod',
      name: 'red',
      resourceVersion: '10',
    });
    expect(red.status).toEqual({
      virtualNodeARN: 'arn:aws:appmesh:us-east-1:000000000000:mesh/color-mesh/virtualNode/red_prod',
      observedGeneration: 1,
      conditions: [
        { type: 'VirtualNodeActive', status: 'True', reason: 'Served', lastTransitionTime: '2026-12-04T16:00:00Z' },
      ],
    });
  });

  it('rejects an invalid object with exactly the text `meshd validate` prints for the same manifest in a file', () => {
    const objects = [mesh(), node('red'), node('blue', 99999, 4)];
    const got = statuses(objects);
    const blue = got.get('k8s:/virtualnodes/prod/blue')!;
    const condition = active(blue, 'VirtualNodeActive')!;
    expect(condition).toMatchObject({ status: 'False', reason: 'ValidationFailed' });
    expect(blue.status.observedGeneration).toBe(4);
    expect(blue.status.virtualNodeARN).toBeUndefined();

    // The same manifests as files, as a user would validate them.
    const dir = meshFolder(Object.fromEntries(objects.map((o) => [`${o.metadata.name}.yaml`, stringify(o)])));
    const fromFiles = loadMesh([dir]);
    expect(fromFiles.ok).toBe(false);
    const printed = fromFiles.problems.filter((p) => p.severity === 'error').map(formatProblem);
    expect(printed).toHaveLength(1);
    const prefix = `${path.join(dir, 'blue.yaml')}:`;
    expect(printed[0]!.startsWith(prefix)).toBe(true);
    expect(condition.message).toBe(printed[0]!.replace(/^.*?:\d+:\d+: /, ''));
    expect(condition.message).toMatch(
      /^error: VirtualNode\/blue_prod: .*99999.*\(spec\.listeners\[0\]\.portMapping\.port\)$/,
    );
  });

  it('keeps the previous status of objects without errors when only others fail, and says why for new ones', () => {
    const good = statuses([mesh(), node('red')]);
    const red = withStatus(node('red'), good.get('k8s:/virtualnodes/prod/red'));
    const m = withStatus(mesh(), good.get('k8s:/meshes/color-mesh'));
    // red's spec changes (generation 2) while blue is invalid: the last valid mesh still serves red as it was.
    const red2 = { ...node('red', 8081, 2), status: red.status };
    const fresh = node('green');
    const got = statuses([m, red2, fresh, node('blue', 0)], T1);
    expect(got.has('k8s:/virtualnodes/prod/red')).toBe(false);
    expect(got.has('k8s:/meshes/color-mesh')).toBe(false);
    const green = active(got.get('k8s:/virtualnodes/prod/green'), 'VirtualNodeActive')!;
    expect(green).toMatchObject({
      status: 'Unknown',
      reason: 'MeshInvalid',
      lastTransitionTime: '2026-12-04T17:00:00Z',
    });
    expect(green.message).toMatch(
      /^VirtualNode prod\/green has no errors, but other objects do.* The first error: k8s:\/virtualnodes\/prod\/blue:\d+:\d+: error: VirtualNode\/blue_prod: /,
    );
    expect(active(got.get('k8s:/virtualnodes/prod/blue'), 'VirtualNodeActive')?.status).toBe('False');
  });

  it('clears the rejection once the object is fixed, with a new transition time', () => {
    const bad = statuses([mesh(), node('blue', 0)]).get('k8s:/virtualnodes/prod/blue')!;
    const seen = withStatus(node('blue', 0), bad);
    const fixed = { ...node('blue', 8080, 2), status: seen.status };
    const got = statuses([mesh(), fixed], T1).get('k8s:/virtualnodes/prod/blue')!;
    expect(active(got, 'VirtualNodeActive')).toEqual({
      type: 'VirtualNodeActive',
      status: 'True',
      reason: 'Served',
      lastTransitionTime: '2026-12-04T17:00:00Z',
    });
    expect(got.status.observedGeneration).toBe(2);
    expect(got.status.virtualNodeARN).toBe(
      'arn:aws:appmesh:us-east-1:000000000000:mesh/color-mesh/virtualNode/blue_prod',
    );
  });

  it('keeps lastTransitionTime while the status stays, and other writers conditions', () => {
    const first = statuses([mesh(), node('red')]).get('k8s:/virtualnodes/prod/red')!;
    const other = { type: 'Other', status: 'True' };
    const seen = {
      ...node('red'),
      status: { ...first.status, conditions: [other, ...(first.status.conditions as unknown[])] },
    };
    const again = statuses([mesh(), seen], T1).get('k8s:/virtualnodes/prod/red')!;
    expect(again.status.conditions).toEqual([other, active(first, 'VirtualNodeActive')]);
    expect(statusPatch(seen.status, again.status)).toBeUndefined();
  });

  it('compares conditions without lastTransitionTime unless their status flips', () => {
    const at = (status: string, lastTransitionTime: string) => ({
      conditions: [{ type: 'VirtualNodeActive', status, reason: 'Served', lastTransitionTime }],
    });
    expect(statusPatch(at('True', '2026-12-04T16:00:00Z'), at('True', '2026-12-04T17:00:00Z'))).toBeUndefined();
    expect(statusPatch(at('False', '2026-12-04T16:00:00Z'), at('True', '2026-12-04T17:00:00Z'))).toEqual(
      at('True', '2026-12-04T17:00:00Z'),
    );
  });

  it('takes any status the API server holds: odd shapes and __proto__ keys are data', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": 1}, "conditions": 5, "routeARNs": [1]}') as unknown;
    const got = statuses([mesh(), { ...node('red'), status: hostile }]).get('k8s:/virtualnodes/prod/red')!;
    expect(active(got, 'VirtualNodeActive')?.status).toBe('True');
    const patch = statusPatch(hostile, got.status)!;
    expect(Object.getPrototypeOf(patch)).toBe(Object.prototype);
    expect(patch.conditions).toEqual(got.status.conditions);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("maps a router's inline routes to their Route ARNs, and drops a removed route's", () => {
    const objects = [mesh(), node('red'), router(['a', 'b'])];
    const vr = statuses(objects).get('k8s:/virtualrouters/prod/colorteller')!;
    const base = 'arn:aws:appmesh:us-east-1:000000000000:mesh/color-mesh/virtualRouter/colorteller_prod';
    expect(vr.status).toMatchObject({
      virtualRouterARN: base,
      routeARNs: { a: `${base}/route/a`, b: `${base}/route/b` },
      observedGeneration: 3,
    });
    expect(active(vr, 'VirtualRouterActive')?.status).toBe('True');
    const seen = { ...router(['a']), status: vr.status };
    const after = statuses([mesh(), node('red'), seen]).get('k8s:/virtualrouters/prod/colorteller')!;
    expect(statusPatch(seen.status, after.status)).toEqual({ routeARNs: { a: `${base}/route/a`, b: null } });
  });

  it('bounds a long list of errors to 32 KiB and says how many were left out', () => {
    const p = (i: number): Problem => ({
      severity: 'error',
      location: { file: 'k8s:/virtualnodes/prod/x', line: i, col: 1 },
      resource: 'VirtualNode/x_prod',
      message: `problem ${i} ${'z'.repeat(1000)}`,
    });
    const many = Array.from({ length: 100 }, (_, i) => p(i));
    const text = errorsMessage(many);
    expect(text.length).toBeLessThanOrEqual(32 * 1024);
    expect(text.startsWith(problemText(many[0]!))).toBe(true);
    expect(text).toMatch(/\n\(and \d+ more errors\)$/);
    expect(errorsMessage(many.slice(0, 2))).toBe(`${problemText(many[0]!)}\n${problemText(many[1]!)}`);
    const huge = { ...p(1), message: 'y'.repeat(40_000) };
    expect(errorsMessage([huge]).length).toBeLessThanOrEqual(32 * 1024);
  });
});

/** A KubeClient whose patch answers from a script; the other methods are not used by the writer. */
class FakeClient implements KubeClient {
  readonly patches: { name: string; body: unknown; patchType: string; subresource?: string }[] = [];
  answers: (name: string) => 'ok' | number = () => 'ok';
  /** Holds each answer until it resolves. */
  gate: () => Promise<void> = () => Promise.resolve();
  get = () => Promise.reject(new KubeError('not used', 500));
  list = () => Promise.reject(new KubeError('not used', 500));
  watch = () => Promise.reject(new KubeError('not used', 500));
  create = () => Promise.reject(new KubeError('not used', 500));
  replace = () => Promise.reject(new KubeError('not used', 500));
  delete = () => Promise.reject(new KubeError('not used', 500));
  patch<T extends KubeObject>(
    _type: ResourceType,
    _ns: string | undefined,
    name: string,
    body: unknown,
    patchType: string,
    subresource?: 'status',
  ): Promise<T> {
    this.patches.push({ name, body, patchType, ...(subresource ? { subresource } : {}) });
    return this.gate().then(() => {
      const answer = this.answers(name);
      if (answer === 'ok') return { metadata: { name } } as T;
      throw new KubeError(`status ${answer}`, answer, answer === 404 ? 'NotFound' : undefined);
    });
  }
}

function quietLog(lines: string[] = []): Logger {
  const fn = ((a: unknown, b?: unknown) => lines.push(String(b ?? a))) as Logger['warn'];
  return { debug: fn, info: fn, warn: fn, error: fn };
}

describe('StatusWriter', () => {
  const desired = () => statuses([mesh(), node('red'), node('blue')]);
  const writer = (client: FakeClient, extra: Partial<ConstructorParameters<typeof StatusWriter>[0]> = {}) =>
    new StatusWriter({ client, isLeader: () => true, log: quietLog(), sleep: () => Promise.resolve(), ...extra });

  it('merge-patches /status of each object whose status differs, and nothing once the informer shows it', async () => {
    const client = new FakeClient();
    const w = writer(client);
    const want = desired();
    w.update(want);
    await w.idle();
    expect(client.patches.map((p) => p.name).sort()).toEqual(['blue', 'color-mesh', 'red']);
    expect(client.patches.every((p) => p.patchType === 'merge' && p.subresource === 'status')).toBe(true);
    expect(client.patches.find((p) => p.name === 'red')!.body).toEqual({
      status: want.get('k8s:/virtualnodes/prod/red')!.status,
    });
    expect(w.counters).toEqual({ writes: 3, failures: 0, dropped: 0 });

    // The same statuses again before the informer caught up, then after: no write either time.
    w.update(want);
    await w.idle();
    const seen = [
      withStatus(mesh(), want.get('k8s:/meshes/color-mesh')),
      withStatus(node('red'), want.get('k8s:/virtualnodes/prod/red')),
      withStatus(node('blue'), want.get('k8s:/virtualnodes/prod/blue')),
    ];
    w.update(statuses(seen, T1));
    await w.idle();
    expect(client.patches).toHaveLength(3);
  });

  it('retries a conflict or a server error with backoff, and drops an object deleted meanwhile', async () => {
    const client = new FakeClient();
    const tries = new Map<string, number>();
    client.answers = (name) => {
      const n = (tries.get(name) ?? 0) + 1;
      tries.set(name, n);
      if (name === 'red') return n < 3 ? 409 : 'ok';
      if (name === 'blue') return 404;
      return n < 2 ? 503 : 'ok';
    };
    const delays: number[] = [];
    const w = writer(client, { sleep: (ms) => (delays.push(ms), Promise.resolve()) });
    w.update(desired());
    await w.idle();
    expect(Object.fromEntries(tries)).toEqual({ 'color-mesh': 2, red: 3, blue: 1 });
    expect(delays.sort((a, b) => a - b)).toEqual([200, 200, 400]);
    expect(w.counters).toEqual({ writes: 2, failures: 0, dropped: 1 });
  });

  it('gives up after its tries and on a refusal, logging one line per failure class', async () => {
    const client = new FakeClient();
    client.answers = (name) => (name === 'color-mesh' ? 403 : 500);
    const lines: string[] = [];
    const w = writer(client, { log: quietLog(lines) });
    w.update(desired());
    await w.idle();
    expect(client.patches.filter((p) => p.name === 'color-mesh')).toHaveLength(1);
    expect(client.patches.filter((p) => p.name === 'red')).toHaveLength(5);
    expect(w.counters).toEqual({ writes: 0, failures: 3, dropped: 0 });
    expect(lines).toHaveLength(2);
    expect(lines.some((l) => /^cannot write the status of Mesh color-mesh: status 403$/.test(l))).toBe(true);
    expect(
      lines.some((l) => /^cannot write the status of VirtualNode prod\/(red|blue) \(5 tries\): status 500$/.test(l)),
    ).toBe(true);
  });

  it('writes nothing while not the leader, and stops retrying when leadership is lost', async () => {
    const client = new FakeClient();
    let leader = false;
    const w = writer(client, { isLeader: () => leader });
    w.update(desired());
    await w.idle();
    expect(client.patches).toHaveLength(0);

    leader = true;
    client.answers = () => 503;
    const w2 = writer(client, {
      isLeader: () => leader,
      sleep: () => ((leader = false), Promise.resolve()),
      concurrency: 1,
    });
    w2.update(desired());
    await w2.idle();
    expect(client.patches).toHaveLength(1);
  });

  it('writes at most four at a time, and a newer status for an object replaces one not yet written', async () => {
    const client = new FakeClient();
    let inFlight = 0;
    let most = 0;
    const release: (() => void)[] = [];
    client.gate = () => {
      inFlight++;
      most = Math.max(most, inFlight);
      return new Promise<void>((r) => release.push(r)).then(() => void inFlight--);
    };
    const w = writer(client);
    const names = Array.from({ length: 10 }, (_, i) => `n${i}`);
    const first = statuses([mesh(), ...names.map((n) => node(n))]);
    w.update(first);
    // n9 is still pending when its spec changes (generation 2): only the newer status is written.
    const second = statuses([mesh(), ...names.map((n) => node(n, 8080, n === 'n9' ? 2 : 1))]);
    w.update(new Map([...second].filter(([file]) => file.endsWith('/n9'))));
    const pump = setInterval(() => release.splice(0).forEach((r) => r()), 1);
    await w.idle();
    clearInterval(pump);
    expect(client.patches).toHaveLength(11);
    expect(most).toBe(4);
    const n9 = client.patches.filter((p) => p.name === 'n9');
    expect(n9).toHaveLength(1);
    expect((n9[0]!.body as { status: { observedGeneration: number } }).status.observedGeneration).toBe(2);
  });

  it('never lets a client that throws synchronously escape update()', async () => {
    const client = new FakeClient();
    client.patch = () => {
      throw new Error('boom');
    };
    const w = writer(client);
    expect(() => w.update(desired())).not.toThrow();
    await w.idle();
    expect(w.counters.failures).toBe(3);
  });
});
