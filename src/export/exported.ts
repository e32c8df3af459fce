// What `meshd export` writes, whatever the format: a set of files, each a path relative to the
// output folder and its whole text. The writers take a MeshModel (and the Cloud Map seeds),
// never files, so any source of a model (mesh files today, the API's store later) exports alike.
import { createHash } from 'node:crypto';
import type { ServiceSeed } from '../discovery/cloud-map/registry';
import { CLOUD_MAP_SEED_KIND } from '../load/cloud-map-seed';
import type { MeshModel } from '../model/mesh-model';
import { ROLLOUT_KIND, type RolloutSettings } from '../model/rollout';
import { formatDuration } from '../util/duration';
import { dumpYaml } from './yaml-text';

export const EXPORT_FORMATS = ['yaml', 'cli-json', 'k8s'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** What is exported: the validated model and the local Cloud Map registry's seeds (`kind: CloudMapService`). */
export interface ExportInput {
  readonly model: MeshModel;
  readonly cloudMapSeeds: readonly ServiceSeed[];
  /** `kind: Rollout` documents, as checked against the model (src/load/rollout-doc.ts's DeclaredRollout). */
  readonly rollouts?: readonly ExportedRollout[];
}

export interface ExportedRollout {
  readonly mesh: string;
  readonly name: string;
  readonly settings: RolloutSettings;
}

export interface ExportedFile {
  /** Relative to the output folder, `/`-separated. */
  readonly path: string;
  readonly text: string;
}

export type ExportResult =
  | { readonly ok: true; readonly files: readonly ExportedFile[] }
  | { readonly ok: false; readonly errors: readonly string[] };

/**
 * A name as one path segment: letters, digits, `.`, `_` and `-` stay; any other byte is `%XX`
 * (App Mesh names may hold `/`, spaces, anything). `.` and `..` and a leading dot (a file meshd
 * skips) are escaped too.
 */
export function pathSegment(name: string): string {
  const escaped = Array.from(Buffer.from(name, 'utf8'))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9._-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
  return escaped.startsWith('.') ? `%2E${escaped.slice(1)}` : escaped;
}

/** A short stable digest of a name, to keep two names apart once made to fit a narrower alphabet. */
export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/**
 * The Cloud Map seeds as meshd YAML `kind: CloudMapService` documents, one file per service under
 * `cloud-map/`: no other format has a place for them (App Mesh's own inputs never held instances).
 */
export function cloudMapSeedFiles(seeds: readonly ServiceSeed[]): ExportedFile[] {
  const sorted = [...seeds].sort((a, b) =>
    a.namespace === b.namespace ? cmp(a.service, b.service) : cmp(a.namespace, b.namespace),
  );
  return sorted.map((seed) => ({
    path: `cloud-map/${pathSegment(seed.namespace)}/${pathSegment(seed.service)}.yaml`,
    text: dumpYaml({
      kind: CLOUD_MAP_SEED_KIND,
      namespace: seed.namespace,
      name: seed.service,
      instances: seed.instances.map((i) => ({
        id: i.id,
        attributes: Object.fromEntries(Object.entries(i.attributes)),
        ...(i.health !== undefined ? { health: i.health } : {}),
      })),
    }),
  }));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The Rollouts as meshd YAML `kind: Rollout` documents under `rollouts/<mesh>/<name>.yaml`, in
 * every format (a meshd extension). The model holds their settings with every default filled in,
 * so every setting is written out: the same rollout, said in full.
 */
export function rolloutFiles(rollouts: readonly ExportedRollout[]): ExportedFile[] {
  const sorted = [...rollouts].sort((a, b) => (a.mesh === b.mesh ? cmp(a.name, b.name) : cmp(a.mesh, b.mesh)));
  return sorted.map(({ mesh, name, settings: s }) => ({
    path: `rollouts/${pathSegment(mesh)}/${pathSegment(name)}.yaml`,
    text: dumpYaml({
      kind: ROLLOUT_KIND,
      mesh,
      name,
      spec: {
        route: { virtualRouter: s.route.virtualRouter, name: s.route.name },
        primary: s.primary,
        canary: s.canary,
        analysis: {
          interval: formatDuration(s.intervalMs),
          stepWeight: s.stepWeight,
          maxWeight: s.maxWeight,
          threshold: s.threshold,
          minRequests: s.minRequests,
          metrics: s.metrics.map((m) => ({
            name: m.name,
            ...(m.query !== undefined ? { query: m.query } : {}),
            thresholdRange: {
              ...(m.min !== undefined ? { min: m.min } : {}),
              ...(m.max !== undefined ? { max: m.max } : {}),
            },
            ...(m.windowMs !== undefined ? { interval: formatDuration(m.windowMs) } : {}),
          })),
          webhooks: s.webhooks.map((w) => ({
            name: w.name,
            type: w.type,
            url: w.url,
            timeout: formatDuration(w.timeoutMs),
            ...(Object.keys(w.metadata).length > 0 ? { metadata: Object.fromEntries(Object.entries(w.metadata)) } : {}),
          })),
        },
      },
    }),
  }));
}

/** What every format writes besides the App Mesh resources: Cloud Map seeds and Rollouts, as meshd YAML. */
export function extensionFiles(input: ExportInput): ExportedFile[] {
  return [...cloudMapSeedFiles(input.cloudMapSeeds), ...rolloutFiles(input.rollouts ?? [])];
}
