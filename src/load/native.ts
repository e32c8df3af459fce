// The native dialect: multi-document YAML, one resource per document, whose `spec` is exactly
// App Mesh's API spec:  kind, mesh, name, (virtualRouter | virtualGateway), spec, tags.
import { RESOURCE_KINDS, type ResourceKind } from '../model/common';
import { oneOf } from '../model/schema';
import { Origin } from './origin';
import type { Problem } from './problems';
import { PARENT_FIELD, type ResourceDraft } from './resource-draft';
import { checkValue, unknownFieldMessage } from './schema-check';
import type { ParsedDocument } from './yaml-documents';

/** The top-level fields of a native document of each kind. */
export function nativeFields(kind: ResourceKind): string[] {
  const parent = PARENT_FIELD[kind];
  return ['kind', 'mesh', 'name', ...(parent ? [parent] : []), 'spec', 'tags'];
}

export function readNativeDocument(doc: ParsedDocument, problems: Problem[]): ResourceDraft | undefined {
  const top = doc.value as Record<string, unknown>;
  const fail = (path: readonly (string | number)[], message: string) =>
    problems.push({ severity: 'error', location: doc.locate(path), message, ...(path.length ? { field: path.join('.') } : {}) });
  if (!checkValue(oneOf(RESOURCE_KINDS), top.kind, ['kind'], fail)) return undefined;
  const kind = top.kind as ResourceKind;
  const parent = PARENT_FIELD[kind];
  const allowed = nativeFields(kind);
  const name = typeof top.name === 'string' ? top.name : '?';
  let rejected = false;
  for (const key of Object.keys(top)) {
    if (allowed.includes(key)) continue;
    rejected = true;
    const why = key in { virtualRouter: 1, virtualGateway: 1 } ? `only a ${key === 'virtualRouter' ? 'Route' : 'GatewayRoute'} names a ${key}` : unknownFieldMessage(key, allowed);
    problems.push({ severity: 'error', location: doc.locate([key]), resource: `${kind}/${name}`, message: why, field: key });
  }
  if (kind === 'Mesh' && top.mesh !== undefined && top.mesh !== top.name) {
    problems.push({ severity: 'error', location: doc.locate(['mesh']), resource: `Mesh/${name}`, message: `a Mesh is its own mesh: 'mesh' must be its name '${name}' or left out`, field: 'mesh' });
    rejected = true;
  }
  const origin = new Origin(doc, parent ? [{ from: ['parent'], to: [parent] }] : []);
  return { kind, rejected, name: top.name, mesh: top.mesh, parent: parent ? top[parent] : undefined, spec: top.spec, tags: top.tags, origin };
}
