// The native dialect: multi-document YAML, one resource per document, whose `spec` is exactly
// App Mesh's API spec:  kind, mesh, name, (virtualRouter | virtualGateway), spec, tags.
import { RESOURCE_KINDS, type FieldPath, type ResourceKind } from '../model/common';
import { oneOf } from '../model/schema';
import { CLOUD_MAP_SEED_KIND } from './cloud-map-seed';
import { ROLLOUT_KIND } from '../model/rollout';
import { Origin } from './origin';
import { formatFieldPath, inputText, type Problem } from './problems';
import { draftLabel, PARENT_FIELD, ResourceReporter, type ResourceDraft } from './resource-draft';
import { checkValue, unknownFieldMessage } from './schema-check';
import type { ParsedDocument } from './yaml-documents';

/** The top-level fields of a native document of each kind. */
export function nativeFields(kind: ResourceKind): string[] {
  const parent = PARENT_FIELD[kind];
  return ['kind', 'mesh', 'name', ...(parent ? [parent] : []), 'spec', 'tags', 'metadata'];
}

export function readNativeDocument(doc: ParsedDocument, problems: Problem[]): ResourceDraft | undefined {
  const top = doc.value as Record<string, unknown>;
  const fail = (path: FieldPath, message: string) =>
    problems.push({
      severity: 'error',
      location: doc.locate(path),
      message,
      ...(path.length ? { field: formatFieldPath(path) } : {}),
    });
  // CloudMapService and Rollout documents are read elsewhere
  // (cloud-map-seed.ts, rollout-doc.ts); the message names them too.
  if (!checkValue(oneOf([...RESOURCE_KINDS, CLOUD_MAP_SEED_KIND, ROLLOUT_KIND]), top.kind, ['kind'], fail))
    return undefined;
  const kind = top.kind as ResourceKind;
  const parent = PARENT_FIELD[kind];
  const origin = new Origin(doc, parent ? [{ from: ['parent'], to: [parent] }] : []);
  const reporter = new ResourceReporter(origin, problems, draftLabel(kind, parent ? top[parent] : undefined, top.name));
  const allowed = nativeFields(kind);
  let rejected = false;
  for (const key of Object.keys(top)) {
    if (allowed.includes(key)) continue;
    rejected = true;
    reporter.error(
      [key],
      key === 'virtualRouter' || key === 'virtualGateway'
        ? `only a ${key === 'virtualRouter' ? 'Route' : 'GatewayRoute'} names a ${key}`
        : unknownFieldMessage(key, allowed),
    );
  }
  if (kind === 'Mesh' && top.mesh !== undefined && top.mesh !== top.name) {
    reporter.error(['mesh'], `a Mesh is its own mesh: 'mesh' must be its name '${inputText(top.name)}' or left out`);
    rejected = true;
  }
  return {
    kind,
    rejected,
    name: top.name,
    mesh: top.mesh,
    parent: parent ? top[parent] : undefined,
    spec: top.spec,
    tags: top.tags,
    metadata: top.metadata,
    origin,
    soleDocument: doc,
    meshdExtension: true,
  };
}
