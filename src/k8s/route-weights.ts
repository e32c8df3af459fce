// A rollout's route weights written to the cluster: the VirtualRouter that holds the route (App Mesh
// controller manifests keep routes inline) is patched through the API with optimistic concurrency on
// its resourceVersion: the patch tests the version it was computed from, and the weights and the
// route's name as meshd served them. A change by someone else in between (kubectl edit) is a conflict;
// a change of status or labels alone (the object's version moved, the route did not) is read again and retried.
import type { EditResult, IdentityCheck, WeightEdit } from '../load/weight-text';
import type { FieldPath } from '../model/common';
import { APP_MESH_TYPES, KubeError, type KubeClient, type KubeObject } from './kube-api';
import { jsonPointer } from './json-pointer';
import { parseK8sVirtualFile } from './virtual-files';

/** Attempts when the router's version moved for another reason than its routes. */
const ATTEMPTS = 4;

function valueAt(object: unknown, path: FieldPath): unknown {
  let at: unknown = object;
  for (const key of path) {
    if (at === null || typeof at !== 'object' || !Object.hasOwn(at, key)) return undefined;
    at = (at as Record<string | number, unknown>)[key];
  }
  return at;
}

const failed = (conflict: boolean, error: string): EditResult => ({ ok: false, conflict, error });

/** Writes the weights into the router the edits' virtual file names. */
export async function patchRouteWeights(
  client: KubeClient,
  edits: readonly WeightEdit[],
  identity: readonly IdentityCheck[],
  /** Called before every write: it throws when this replica may no longer write (it lost the lease meanwhile). */
  beforeWrite: () => void = () => undefined,
): Promise<EditResult> {
  const file = edits[0]?.at.file;
  const target = file === undefined ? undefined : parseK8sVirtualFile(file);
  if (!target || target.type !== APP_MESH_TYPES.VirtualRouter)
    return failed(false, `${file ?? 'no edit'} is not a VirtualRouter in the cluster`);
  if ([...edits, ...identity].some((e) => e.at.file !== file))
    return failed(false, 'the weights of one rollout step must all be in one VirtualRouter');
  const label = `VirtualRouter ${target.namespace}/${target.name}`;
  for (let attempt = 1; ; attempt++) {
    let router: KubeObject | undefined;
    try {
      router = await client.get(target.type, target.namespace, target.name);
    } catch (err) {
      return failed(false, `cannot read ${label}: ${(err as Error).message}`);
    }
    if (!router) return failed(true, `${label} was deleted`);
    for (const check of identity) {
      const found = valueAt(router, check.at.path);
      if (found !== check.value)
        return failed(
          true,
          `${label} now has ${JSON.stringify(found)} at ${jsonPointer(check.at.path)}, not ${JSON.stringify(check.value)}`,
        );
    }
    for (const edit of edits) {
      const found = valueAt(router, edit.at.path);
      if (found !== edit.expected)
        return failed(
          true,
          `${label} now has weight ${JSON.stringify(found)} at ${jsonPointer(edit.at.path)}, not ${edit.expected}`,
        );
    }
    const patch = [
      { op: 'test', path: '/metadata/resourceVersion', value: router.metadata.resourceVersion },
      ...identity.map((c) => ({ op: 'test', path: jsonPointer(c.at.path), value: c.value })),
      ...edits.flatMap((e) => [
        { op: 'test', path: jsonPointer(e.at.path), value: e.expected },
        { op: 'replace', path: jsonPointer(e.at.path), value: e.value },
      ]),
    ];
    beforeWrite();
    try {
      await client.patch(target.type, target.namespace, target.name, patch, 'json');
      return { ok: true };
    } catch (err) {
      // 409 or 422 (a failed test op): the router moved since it was read; read it again. A 422 for a router
      // still at the version tested is the API server refusing the weights themselves (its schema): no retry.
      const moved = err instanceof KubeError && (err.status === 409 || err.status === 422);
      if (!moved) return failed(false, `cannot patch ${label}: ${(err as Error).message}`);
      if (err.status === 422) {
        const now = await client.get(target.type, target.namespace, target.name).catch(() => undefined);
        if (now?.metadata.resourceVersion === router.metadata.resourceVersion)
          return failed(false, `the API server refused the weights for ${label}: ${err.message}`);
      }
      if (attempt >= ATTEMPTS) return failed(true, `${label} kept changing while meshd wrote its weights`);
    }
  }
}
