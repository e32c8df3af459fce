// One `aws_appmesh_*` resource of `terraform show -json` → a ResourceDraft in App Mesh terms.
// Its top-level attributes are the App Mesh envelope (name, mesh_name, virtual_router_name,
// virtual_gateway_name, tags); `spec` is a block, translated by BlockTranslator.
import { isPlain, type FieldPath, type ResourceKind } from '../../model/common';
import { Origin, type PathRule } from '../origin';
import { formatFieldPath, type Problem } from '../problems';
import { draftLabel, SPEC_SHAPES, type ResourceDraft } from '../resource-draft';
import { unknownFieldMessage } from '../schema-check';
import type { ParsedDocument } from '../yaml-documents';
import { BlockTranslator } from './blocks';

export interface AppMeshType {
  readonly kind: ResourceKind;
  /** The attribute naming a route's router or a gateway route's gateway. */
  readonly parent?: 'virtual_router_name' | 'virtual_gateway_name';
}

export const APPMESH_TYPES: ReadonlyMap<string, AppMeshType> = new Map([
  ['aws_appmesh_mesh', { kind: 'Mesh' }],
  ['aws_appmesh_virtual_node', { kind: 'VirtualNode' }],
  ['aws_appmesh_virtual_service', { kind: 'VirtualService' }],
  ['aws_appmesh_virtual_router', { kind: 'VirtualRouter' }],
  ['aws_appmesh_route', { kind: 'Route', parent: 'virtual_router_name' }],
  ['aws_appmesh_virtual_gateway', { kind: 'VirtualGateway' }],
  ['aws_appmesh_gateway_route', { kind: 'GatewayRoute', parent: 'virtual_gateway_name' }],
] as const);

/** Attributes App Mesh computes (or meshd has no use for): read past. */
const COMPUTED = ['id', 'arn', 'created_date', 'last_updated_date', 'resource_owner', 'mesh_owner', 'region'];

/**
 * Field names in messages are Terraform's: the resource address and
 * the attribute path (`aws_appmesh_route.r.spec[0].http_route[0]`).
 */
class TerraformOrigin extends Origin {
  constructor(
    doc: ParsedDocument,
    rules: readonly PathRule[],
    private readonly valuesAt: FieldPath,
    private readonly address: string,
  ) {
    super(doc, rules);
  }

  override fieldName(path: FieldPath): string {
    const relative = this.documentPath(path).slice(this.valuesAt.length);
    return relative.length > 0 ? `${this.address}.${formatFieldPath(relative)}` : this.address;
  }
}

/** Reads one App Mesh resource; `at` is its place in the document (`…resources[3]`), `values` its `values` mapping. */
export function readAppMeshResource(
  doc: ParsedDocument,
  type: AppMeshType,
  at: FieldPath,
  address: string,
  values: Record<string, unknown>,
  problems: Problem[],
  plannedMesh?: string,
): ResourceDraft {
  const valuesAt = [...at, 'values'];
  const name = values.name ?? undefined;
  const parent = type.parent ? (values[type.parent] ?? undefined) : undefined;
  const label = draftLabel(type.kind, parent, name);
  let rejected = false;
  const report = (path: FieldPath, message: string) => {
    rejected = true;
    const relative = path.slice(valuesAt.length);
    problems.push({
      severity: 'error',
      location: doc.locate(path),
      resource: label,
      message,
      field: relative.length > 0 ? `${address}.${formatFieldPath(relative)}` : address,
    });
  };

  const allowed = [
    'name',
    'spec',
    'tags',
    'tags_all',
    ...(type.kind === 'Mesh' ? [] : ['mesh_name']),
    ...(type.parent ? [type.parent] : []),
    ...COMPUTED,
  ];
  for (const key of Object.keys(values)) {
    if (!allowed.includes(key)) report([...valuesAt, key], unknownFieldMessage(key, allowed, 'attribute'));
  }

  const blocks = new BlockTranslator(type.kind, report);
  const spec = readSpec(type.kind, values.spec, blocks, [...valuesAt, 'spec'], report);
  // tags_all adds the provider's default_tags: what was sent to App Mesh. In a plan it may not be known yet.
  const tagsKey = isPlain(values.tags_all) ? 'tags_all' : 'tags';
  const tags = readTags(values[tagsKey], [...valuesAt, tagsKey], blocks, report);

  const rules: PathRule[] = [
    { from: [], to: at },
    { from: ['name'], to: [...valuesAt, 'name'] },
    { from: ['mesh'], to: [...valuesAt, type.kind === 'Mesh' ? 'name' : 'mesh_name'] },
    ...(type.parent ? [{ from: ['parent'], to: [...valuesAt, type.parent] }] : []),
    ...blocks.pathRules(),
  ];
  return {
    kind: type.kind,
    rejected,
    name,
    // Absent in a plan when it comes from a mesh not created yet: the
    // mesh the configuration names, else the only mesh (or --mesh-name).
    mesh: type.kind === 'Mesh' ? undefined : (values.mesh_name ?? plannedMesh),
    parent,
    spec,
    tags,
    origin: new TerraformOrigin(doc, rules, valuesAt, address),
  };
}

/** The `spec` block: required by the provider for every type but the mesh. */
function readSpec(
  kind: ResourceKind,
  value: unknown,
  blocks: BlockTranslator,
  specAt: FieldPath,
  report: (path: FieldPath, message: string) => void,
): unknown {
  const missing = value === undefined || value === null || (Array.isArray(value) && value.length === 0);
  if (missing) {
    // at `values` when there is no spec at all
    if (kind !== 'Mesh') report(specAt, "required block 'spec' is missing; the provider requires one spec block");
    return undefined;
  }
  if (!Array.isArray(value)) {
    report(
      specAt,
      `must be a list of 'spec' blocks (terraform show -json writes a nested block as a list), got ${typeof value === 'object' ? 'a mapping' : JSON.stringify(value)}`,
    );
    return undefined;
  }
  if (value.length > 1) report([...specAt, 1], `the provider allows one 'spec' block, got ${value.length}`);
  if (!isPlain(value[0])) {
    report([...specAt, 0], 'a spec block must be a mapping');
    return undefined;
  }
  return blocks.object(SPEC_SHAPES[kind], value[0], ['spec'], [...specAt, 0]);
}

/** Terraform's `tags = { team = "shop" }` → App Mesh's `[{ key: team, value: shop }]`. */
function readTags(
  value: unknown,
  at: FieldPath,
  blocks: BlockTranslator,
  report: (path: FieldPath, message: string) => void,
): unknown {
  if (value === undefined || value === null) return undefined;
  if (!isPlain(value)) {
    report(at, 'must be a map of tag names to values');
    return undefined;
  }
  blocks.rule(['tags'], at);
  const tags = Object.entries(value).map(([key, v], i) => {
    blocks.rule(['tags', i], [...at, key]);
    return { key, value: v };
  });
  return tags.length > 0 ? tags : undefined;
}
