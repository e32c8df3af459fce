// The App Mesh CLI dialect: the JSON given to `aws appmesh create-*/update-* --cli-input-json`
// ({"meshName", "virtualNodeName", "spec"}, ...), and the output of `aws appmesh describe-*`
// ({"virtualNode": {"meshName", ..., "spec", "metadata", "status"}}). `meshName` is often left
// out (it came from --mesh-name); the loader then supplies it.
import type { ResourceKind } from '../model/common';
import { Origin, type PathRule } from './origin';
import type { Problem } from './problems';
import { draftLabel, ResourceReporter, type ResourceDraft } from './resource-draft';
import { unknownFieldMessage } from './schema-check';
import type { ParsedDocument } from './yaml-documents';

/** Each kind's name fields, most specific kinds first: a route input also has virtualRouterName. */
const KINDS: readonly { kind: ResourceKind; name: string; parent?: string; describeKey: string }[] = [
  { kind: 'GatewayRoute', name: 'gatewayRouteName', parent: 'virtualGatewayName', describeKey: 'gatewayRoute' },
  { kind: 'Route', name: 'routeName', parent: 'virtualRouterName', describeKey: 'route' },
  { kind: 'VirtualGateway', name: 'virtualGatewayName', describeKey: 'virtualGateway' },
  { kind: 'VirtualRouter', name: 'virtualRouterName', describeKey: 'virtualRouter' },
  { kind: 'VirtualNode', name: 'virtualNodeName', describeKey: 'virtualNode' },
  { kind: 'VirtualService', name: 'virtualServiceName', describeKey: 'virtualService' },
  { kind: 'Mesh', name: 'meshName', describeKey: 'mesh' },
];

const COMMON_FIELDS = ['meshName', 'spec', 'tags', 'clientToken', 'meshOwner'];
/** Fields of describe-* output that say nothing about the desired state. */
const DESCRIBE_ONLY_FIELDS = ['metadata', 'status'];

/** True for a document that looks like CLI input or describe output. */
export function isAwsCliDocument(value: Record<string, unknown>): boolean {
  return KINDS.some((k) => k.name in value) || describeWrapper(value) !== undefined;
}

function describeWrapper(value: Record<string, unknown>): string | undefined {
  const keys = Object.keys(value);
  const inner = value[keys[0]!];
  return keys.length === 1 &&
    KINDS.some((k) => k.describeKey === keys[0]) &&
    inner !== null &&
    typeof inner === 'object' &&
    'meshName' in inner
    ? keys[0]
    : undefined;
}

export function readAwsCliDocument(doc: ParsedDocument, problems: Problem[]): ResourceDraft {
  const top = doc.value as Record<string, unknown>;
  const wrapper = describeWrapper(top);
  const base = wrapper ? [wrapper] : [];
  const body = (wrapper ? top[wrapper] : top) as Record<string, unknown>;
  const entry = wrapper ? KINDS.find((k) => k.describeKey === wrapper)! : KINDS.find((k) => k.name in body)!;
  const allowed = [
    ...COMMON_FIELDS,
    entry.name,
    ...(entry.parent ? [entry.parent] : []),
    ...(wrapper ? DESCRIBE_ONLY_FIELDS : []),
  ];

  const rules: PathRule[] = [
    { from: ['name'], to: [...base, entry.name] },
    { from: ['mesh'], to: [...base, 'meshName'] },
    { from: [], to: base }, // spec and tags keep their names
    ...(entry.parent ? [{ from: ['parent'], to: [...base, entry.parent] }] : []),
  ];
  const origin = new Origin(doc, rules);
  const reporter = new ResourceReporter(
    origin,
    problems,
    draftLabel(entry.kind, entry.parent ? body[entry.parent] : undefined, body[entry.name]),
  );
  let rejected = false;
  for (const key of Object.keys(body)) {
    if (allowed.includes(key)) continue;
    rejected = true;
    reporter.error([key], unknownFieldMessage(key, allowed));
  }
  return {
    kind: entry.kind,
    rejected,
    name: body[entry.name],
    mesh: body.meshName,
    parent: entry.parent ? body[entry.parent] : undefined,
    spec: body.spec,
    tags: body.tags,
    origin,
  };
}
