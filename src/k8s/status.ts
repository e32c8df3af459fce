// The status meshd writes back to each App Mesh object, as the App Mesh controller did: the
// resource's ARN(s), a `<Kind>Active` condition and observedGeneration. Pure: it takes the objects
// as the informers last saw them and the outcome of the load they made, and answers what each
// object's status should be. Where meshd differs from the controller (which only ever wrote
// True/False without reason or message), the condition says why: a rejected object's message is
// the text `meshd validate` prints for its errors, without the `path:line:col: ` prefix.
import type { ResourceKind } from '../model/common';
import type { Resource } from '../model/mesh-model';
import { formatProblem, isError, type Problem } from '../load/problems';
import { activeConditionType, CRD_KINDS, STATUS_ARN_FIELDS } from './crds';
import type { KubeObject, ResourceType } from './kube-api';

/** The names of an App Mesh resource, as the ARN builder reads them (the store's ResourceKey has this shape). */
export interface ArnKey {
  readonly kind: ResourceKind;
  /** For a Mesh, its own name. */
  readonly mesh: string;
  /** The router of a Route, the gateway of a GatewayRoute. */
  readonly parent?: string;
  readonly name: string;
}

/** One App Mesh object the informers hold, and the virtual file it was loaded as (`k8s:/virtualnodes/ns/name`). */
export interface StatusObject {
  readonly type: ResourceType;
  readonly object: KubeObject;
  readonly file: string;
}

export interface StatusInput {
  readonly objects: readonly StatusObject[];
  /** The load the objects made: `model` when it was valid (the mesh meshd now serves). */
  readonly load:
    | {
        readonly ok: true;
        readonly model: { readonly resources: readonly Resource[] };
        readonly problems: readonly Problem[];
      }
    | { readonly ok: false; readonly problems: readonly Problem[] };
  /** `arn:aws:appmesh:<region>:<account>:mesh/<mesh>/virtualNode/<name>`: the API's arnOf with meshd's account. */
  readonly arn: (key: ArnKey) => string;
  readonly now: Date;
}

export interface ActiveCondition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly lastTransitionTime: string;
  readonly reason: string;
  readonly message?: string;
}

/** What one object's status should be. */
export interface DesiredStatus {
  readonly type: ResourceType;
  readonly namespace: string | undefined;
  readonly name: string;
  /** The object's resourceVersion when it was evaluated. */
  readonly resourceVersion: string | undefined;
  /** The status as the informer last saw it (anything: it comes from the API server). */
  readonly current: unknown;
  /** The whole status meshd wants; fields it does not write (and other writers' conditions) are kept from `current`. */
  readonly status: Readonly<Record<string, unknown>>;
}

/** Condition reasons meshd writes. */
export const STATUS_REASONS = {
  /** True: the resource is part of the mesh meshd serves. */
  served: 'Served',
  /** False: the object itself has errors (the message lists them). */
  validationFailed: 'ValidationFailed',
  /** Unknown: the object has no errors but others do, so the last valid mesh (without its spec) is served. */
  meshInvalid: 'MeshInvalid',
} as const;

/** The longest condition message meshd writes (the API server's limit for a condition message is 32768). */
export const MAX_STATUS_MESSAGE = 32 * 1024;

/** A kind's status fields as the CRDs define them: its condition type and ARN field. BackendGroup has none. */
function statusFields(
  kind: string,
): { readonly condition: string; readonly arn: string; readonly kind: ResourceKind } | undefined {
  const crdKind = CRD_KINDS.find((k) => k === kind);
  const arn = crdKind && STATUS_ARN_FIELDS[crdKind];
  return crdKind && arn ? { condition: activeConditionType(crdKind), arn, kind: crdKind as ResourceKind } : undefined;
}

/** A finding as `meshd validate` prints it minus `path:line:col: `: `error: VirtualNode/x: message (field)`. */
export function problemText(p: Problem): string {
  const { file, line, col } = p.location;
  const text = formatProblem(p);
  const prefix = `${file}:${line}:${col}: `;
  return text.startsWith(prefix) ? text.slice(prefix.length) : text;
}

/** The errors as one message: every one on its own line while they fit in `limit`, then how many more there are. */
export function errorsMessage(errors: readonly Problem[], limit = MAX_STATUS_MESSAGE): string {
  const texts = errors.map(problemText);
  const more = (n: number) => (n > 0 ? `\n(and ${n} more error${n === 1 ? '' : 's'})` : '');
  let out = '';
  for (const [i, text] of texts.entries()) {
    const line = i > 0 ? `\n${text}` : text;
    // Room for this line and a note on the ones after it; a first error too long alone is cut to fit.
    if (out.length + line.length + more(texts.length - i - 1).length > limit)
      return i === 0
        ? cut(text, limit - more(texts.length - 1).length) + more(texts.length - 1)
        : out + more(texts.length - i);
    out += line;
  }
  return out;
}

function cut(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, Math.max(0, limit - 1))}…`;
}

/** `2026-12-04T16:00:00Z`: metav1.Time's form (whole seconds). */
export function kubeTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The status each App Mesh object should have after a load, by virtual file.
 *
 * - An object with an error in its own file: `<Kind>Active` False, reason ValidationFailed, the
 *   errors' text as the message. Its ARN is left as it was (the last valid mesh may still serve the
 *   resource as it was before).
 * - In a valid load, an object without errors: True, reason Served, its ARN (a router also the ARN
 *   of each inline route, by route name).
 * - In a load that failed only because of other objects: an object that was True keeps its whole
 *   status (meshd keeps serving the last valid mesh, and the resource as it was then, so an
 *   observedGeneration behind metadata.generation says its newest spec is not served yet); any
 *   other gets Unknown, reason MeshInvalid, with the first error elsewhere as the message.
 *
 * observedGeneration is the metadata.generation of the object evaluated. lastTransitionTime is
 * kept from the current condition unless its status flips. Objects of kinds without a status
 * (BackendGroup), and objects a valid load made no resource of, get no entry.
 */
export function desiredStatuses(input: StatusInput): Map<string, DesiredStatus> {
  const errorsByFile = new Map<string, Problem[]>();
  for (const p of input.load.problems) {
    if (!isError(p)) continue;
    const list = errorsByFile.get(p.location.file);
    if (list) list.push(p);
    else errorsByFile.set(p.location.file, [p]);
  }
  const resourcesByFile = new Map<string, Resource[]>();
  if (input.load.ok)
    for (const r of input.load.model.resources) {
      const list = resourcesByFile.get(r.source.file);
      if (list) list.push(r);
      else resourcesByFile.set(r.source.file, [r]);
    }
  const firstError = input.load.problems.find(isError);
  const out = new Map<string, DesiredStatus>();
  for (const { type, object, file } of input.objects) {
    const fields = statusFields(type.kind);
    if (!fields) continue;
    const current = object.status;
    const previous = isRecord(current) ? current : {};
    const conditions = Array.isArray(previous.conditions) ? previous.conditions : [];
    const before = conditions.find((c) => isRecord(c) && c.type === fields.condition) as
      Record<string, unknown> | undefined;
    const generation =
      typeof object.metadata.generation === 'number' ? { observedGeneration: object.metadata.generation } : {};
    const own = errorsByFile.get(file);
    let condition: { status: ActiveCondition['status']; reason: string; message?: string };
    let set: Record<string, unknown> = {};
    if (own) {
      condition = { status: 'False', reason: STATUS_REASONS.validationFailed, message: errorsMessage(own) };
      set = generation;
    } else if (input.load.ok) {
      const resources = resourcesByFile.get(file) ?? [];
      const main = resources.find((r) => r.kind === fields.kind);
      if (!main) continue;
      condition = { status: 'True', reason: STATUS_REASONS.served };
      set = { ...generation, [fields.arn]: input.arn(keyOf(main)) };
      if (main.kind === 'VirtualRouter') {
        // fromEntries: a route named __proto__ is a key like any other.
        set.routeARNs = Object.fromEntries(
          resources.flatMap((r) =>
            r.kind === 'Route' && r.virtualRouter === main.name ? [[r.name, input.arn(keyOf(r))]] : [],
          ),
        );
      }
    } else {
      if (before?.status === 'True') continue;
      const first = firstError ? ` The first error: ${formatProblem(firstError)}` : '';
      condition = {
        status: 'Unknown',
        reason: STATUS_REASONS.meshInvalid,
        message: cut(
          `${type.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name} has no errors, but other objects do, so meshd keeps serving the last valid mesh, without this object's current spec.${first}`,
          MAX_STATUS_MESSAGE,
        ),
      };
      set = generation;
    }
    const flipped = before?.status !== condition.status || typeof before?.lastTransitionTime !== 'string';
    const active: ActiveCondition = {
      type: fields.condition,
      status: condition.status,
      lastTransitionTime: flipped ? kubeTime(input.now) : (before!.lastTransitionTime as string),
      reason: condition.reason,
      ...(condition.message !== undefined ? { message: condition.message } : {}),
    };
    const others = conditions.filter((c) => !(isRecord(c) && c.type === fields.condition));
    const at = conditions.findIndex((c) => isRecord(c) && c.type === fields.condition);
    const merged = at < 0 ? [...others, active] : conditions.map((c, i) => (i === at ? active : c));
    out.set(file, {
      type,
      namespace: object.metadata.namespace,
      name: object.metadata.name,
      resourceVersion: object.metadata.resourceVersion,
      current,
      status: { ...previous, ...set, conditions: merged },
    });
  }
  return out;
}

function keyOf(r: Resource): ArnKey {
  if (r.kind === 'Mesh') return { kind: 'Mesh', mesh: r.name, name: r.name };
  if (r.kind === 'Route') return { kind: 'Route', mesh: r.mesh, parent: r.virtualRouter, name: r.name };
  if (r.kind === 'GatewayRoute') return { kind: 'GatewayRoute', mesh: r.mesh, parent: r.virtualGateway, name: r.name };
  return { kind: r.kind, mesh: r.mesh, name: r.name };
}
