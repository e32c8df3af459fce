// `kind: Rollout`, a meshd extension to the native dialect: a progressive canary declared next
// to the mesh (src/model/rollout.ts has the settings). Its fields are checked like a resource's
// (file, line, field); once the model is built, its route and nodes are checked against it.
import type { FieldPath } from '../model/common';
import { toJsonSchema, type JsonSchema } from '../model/json-schema';
import type { MeshModel } from '../model/mesh-model';
import { object, oneOf, optional, required } from '../model/schema';
import { resourceName } from '../model/shapes';
import {
  resolveSettings,
  rolloutSpecShape,
  routeSplit,
  splitWebhookMetadata,
  queryNameProblem,
  ROLLOUT_KIND,
  type RolloutSettings,
} from '../model/rollout';
import { formatFieldPath, inputText, type Problem } from './problems';
import type { DefaultMesh } from './resource-draft';
import { checkValue } from './schema-check';
import type { ParsedDocument } from './yaml-documents';

/** A Rollout read from a mesh file, with a way to point at any of its fields. */
export interface DeclaredRollout {
  readonly mesh: string;
  readonly name: string;
  readonly settings: RolloutSettings;
  locate: ParsedDocument['locate'];
}

interface ReadRollout {
  /** Undefined when the document leaves it to the only mesh defined (or --mesh-name). */
  readonly mesh?: string;
  readonly name: string;
  readonly settings: RolloutSettings;
  readonly doc: ParsedDocument;
}

const documentShape = object({
  kind: required(oneOf([ROLLOUT_KIND])),
  mesh: optional(resourceName),
  name: required(resourceName),
  spec: required(rolloutSpecShape),
});

/** The JSON Schema of a Rollout document, for editors (src/load/native-schema.ts). */
export function rolloutJsonSchema(): JsonSchema {
  const schema = toJsonSchema(documentShape) as {
    properties: {
      spec: {
        properties: { analysis: { properties: { webhooks: { items: { properties: Record<string, unknown> } } } } };
      };
    };
  };
  schema.properties.spec.properties.analysis.properties.webhooks.items.properties.metadata = {
    description: 'sent to the webhook as is (Flagger: metadata)',
    type: 'object',
    additionalProperties: { type: 'string' },
  };
  return schema as unknown as JsonSchema;
}

export class RolloutReader {
  private readonly read: ReadRollout[] = [];

  constructor(
    private readonly problems: Problem[],
    private readonly options: { readonly noPrometheus?: boolean } = {},
  ) {}

  private fail(doc: ParsedDocument, label: string, path: FieldPath, message: string): void {
    this.problems.push({
      severity: 'error',
      location: doc.locate(path),
      resource: label,
      message,
      ...(path.length ? { field: formatFieldPath(path) } : {}),
    });
  }

  /** Checks a Rollout document's fields; a valid one is kept for `resolve`. */
  add(doc: ParsedDocument): void {
    const top = doc.value as Record<string, unknown>;
    const label = `${ROLLOUT_KIND}/${inputText(top.name)}`;
    let ok = true;
    const fail = (path: FieldPath, message: string) => {
      ok = false;
      this.fail(doc, label, path, message);
    };
    const { spec, metadata } = splitWebhookMetadata(top.spec, (path, message) => fail(['spec', ...path], message));
    checkValue(documentShape, { ...top, spec }, [], fail);
    if (!ok) return;
    if (this.options.noPrometheus) {
      const metrics = (spec as { analysis?: { metrics?: { query?: string }[] } }).analysis?.metrics ?? [];
      const i = metrics.findIndex((m) => m.query !== undefined);
      if (i !== -1)
        return fail(
          ['spec', 'analysis', 'metrics', i, 'query'],
          'needs Prometheus, but meshd serve was started without --prometheus-url (docs/prometheus.md)',
        );
    }
    const checked = { ...top, spec } as { mesh?: string; name: string; spec: Parameters<typeof resolveSettings>[0] };
    this.read.push({
      ...(checked.mesh !== undefined ? { mesh: checked.mesh } : {}),
      name: checked.name,
      settings: resolveSettings(checked.spec, metadata),
      doc,
    });
  }

  /** The rollouts, each checked against the model (its route and nodes must be there); problems for the rest. */
  resolve(model: MeshModel, defaultMesh: DefaultMesh, broken: ReadonlySet<string>): DeclaredRollout[] {
    const out: DeclaredRollout[] = [];
    const seen = new Map<string, ParsedDocument>();
    const routes = new Map<string, string>();
    for (const r of this.read) {
      const label = `${ROLLOUT_KIND}/${r.name}`;
      const mesh = r.mesh ?? defaultMesh.name;
      if (mesh === undefined) {
        this.fail(r.doc, label, ['mesh'], defaultMesh.whyNone!);
        continue;
      }
      const first = seen.get(`${mesh}/${r.name}`);
      if (first) {
        const at = first.locate([]);
        this.fail(r.doc, label, ['name'], `rollout ${mesh}/${r.name} is already declared at ${at.file}:${at.line}`);
        continue;
      }
      seen.set(`${mesh}/${r.name}`, r.doc);
      const meshProblem = r.settings.metrics.some((m) => m.query !== undefined) ? queryNameProblem(mesh) : undefined;
      if (meshProblem) {
        this.fail(r.doc, label, r.mesh !== undefined ? ['mesh'] : [], `mesh ${meshProblem}`);
        continue;
      }
      // A route or node with errors of its own was reported already; "not defined" would only mislead.
      const { route, primary, canary } = r.settings;
      if (
        [
          `Route/${route.virtualRouter}/${route.name}`,
          `VirtualRouter/${route.virtualRouter}`,
          `VirtualNode/${primary}`,
          `VirtualNode/${canary}`,
        ].some((k) => broken.has(`${mesh}/${k}`))
      )
        continue;
      const routeKey = `${mesh}/${route.virtualRouter}/${route.name}`;
      const other = routes.get(routeKey);
      if (other !== undefined) {
        this.fail(
          r.doc,
          label,
          ['spec', 'route'],
          `rollout ${mesh}/${other} already rolls out Route/${route.virtualRouter}/${route.name}; one route takes one rollout at a time`,
        );
        continue;
      }
      routes.set(routeKey, r.name);
      const split = routeSplit(model, mesh, r.settings);
      if ('error' in split) {
        this.fail(
          r.doc,
          label,
          split.path.length > 0 ? ['spec', ...split.path] : r.mesh !== undefined ? ['mesh'] : [],
          split.error,
        );
        continue;
      }
      out.push({ mesh, name: r.name, settings: r.settings, locate: r.doc.locate });
    }
    return out;
  }
}
