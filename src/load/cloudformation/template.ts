// The CloudFormation dialect: a template (YAML or JSON) whose AWS::AppMesh::* resources become
// App Mesh resources and whose AWS::ServiceDiscovery::* resources seed the local Cloud Map
// registry. Each template is one stack: its Parameters (Defaults, or --parameter), Mappings and
// Conditions, and the pseudo parameters from flags. Only what those resources use is evaluated
// (an ECS task definition's Fn::GetAZs is never looked at); every other resource is skipped with
// one info line. Outputs are ignored.
import * as path from 'node:path';
import { seedAddressWarnings } from '../../discovery/cloud-map/attributes';
import { isPlain, type FieldPath, type Plain, type ResourceKind } from '../../model/common';
import { tagsShape } from '../../model/shapes';
import { SEED_MAX_INSTANCES, SEED_NAMESPACE_NAME, SEED_SERVICE_NAME, type LocatedSeed } from '../cloud-map-seed';
import type { PathRule } from '../origin';
import { formatFieldPath, inputText, type Problem } from '../problems';
import { draftLabel, SPEC_SHAPES, type ResourceDraft } from '../resource-draft';
import { checkValue, unknownFieldMessage } from '../schema-check';
import type { ParsedDocument } from '../yaml-documents';
import {
  appMeshAttribute,
  appMeshAttributes,
  appMeshProperties,
  APP_MESH_TYPES,
  arnOf,
  type AppMeshIdentity,
  type AppMeshType,
} from './app-mesh-types';
import { cloudMapArn, cloudMapId, CLOUD_MAP_TYPES, namespaceIdPath, type CloudMapType } from './cloud-map-types';
import {
  Evaluator,
  FAILED,
  NO_VALUE,
  scalarText,
  shown,
  suggestion,
  type Evaluated,
  type ResourceValues,
} from './intrinsics';
import { PropertyMapper, TemplateOrigin, type CopyBudget } from './properties';
import { declareParameter, StackInputs, type CloudFormationOptions, type DeclaredParameter } from './stack-inputs';

const TEMPLATE_SECTIONS = [
  'AWSTemplateFormatVersion',
  'Description',
  'Metadata',
  'Parameters',
  'Rules',
  'Mappings',
  'Conditions',
  'Transform',
  'Resources',
  'Outputs',
];
const RESOURCE_ATTRIBUTES = [
  'Type',
  'Properties',
  'Condition',
  'DependsOn',
  'Metadata',
  'DeletionPolicy',
  'UpdateReplacePolicy',
  'CreationPolicy',
  'UpdatePolicy',
];
/** CloudFormation's rule for logical IDs (and parameter, mapping and condition names). */
const LOGICAL_ID = /^[A-Za-z0-9]{1,255}$/;

/** A document is a template when it says so, or has Resources and no mark of another dialect. */
export function isCloudFormationTemplate(value: Plain): boolean {
  return (
    'AWSTemplateFormatVersion' in value || (isPlain(value.Resources) && !('kind' in value) && !('apiVersion' in value))
  );
}

type TemplateRead = { drafts: ResourceDraft[]; seeds: LocatedSeed[]; parameters: string[] };

/** No stack inputs: one object, so that a cached read is known to be made with the same. */
const NO_OPTIONS: CloudFormationOptions = {};

/** What each template read to last time (`meshd serve` keeps it from one load to the next). */
export class TemplateReadCache {
  readonly read = new WeakMap<
    ParsedDocument,
    { readonly options: CloudFormationOptions; readonly read: TemplateRead; readonly problems: Problem[] }
  >();
}

/** Reads every template; `--parameter` names that no template declares are reported once. */
export function readCloudFormationTemplates(
  docs: readonly ParsedDocument[],
  problems: Problem[],
  options: CloudFormationOptions = NO_OPTIONS,
  cache?: TemplateReadCache,
): { drafts: ResourceDraft[]; seeds: LocatedSeed[] } {
  const drafts: ResourceDraft[] = [];
  const seeds: LocatedSeed[] = [];
  const declared = new Set<string>();
  for (const doc of docs) {
    // A template is read on its own, with the stack's inputs: the same document and inputs read the same.
    const known = cache?.read.get(doc);
    let read: TemplateRead;
    if (known?.options === options) {
      read = known.read;
      problems.push(...known.problems);
    } else {
      const own: Problem[] = [];
      read = new TemplateReader(doc, own, options).read();
      cache?.read.set(doc, { options, read, problems: own });
      problems.push(...own);
    }
    drafts.push(...read.drafts);
    seeds.push(...read.seeds);
    read.parameters.forEach((name) => declared.add(name));
  }
  if (docs.length > 0) {
    for (const name of options.parameters?.keys() ?? []) {
      if (declared.has(name)) continue;
      problems.push({
        severity: 'warning',
        location: docs[0]!.locate(['Parameters']),
        message: `--parameter ${name}: no template declares a parameter '${name}'${suggestion(name, [...declared])}`,
      });
    }
  }
  return { drafts, seeds };
}

interface DeclaredResource {
  readonly logicalId: string;
  readonly type: string;
  readonly path: FieldPath;
  readonly properties: Plain;
  readonly condition?: string;
  readonly appMesh?: AppMeshType;
  readonly cloudMap?: CloudMapType;
}

/** A resource's names, each evaluated (or FAILED); the whole is known once all are. */
interface Identity {
  readonly name: Evaluated;
  readonly mesh: Evaluated;
  readonly parent: Evaluated;
  readonly meshOwner: Evaluated;
  /** True when the name is the logical ID (no name property). */
  readonly named: boolean;
}

class TemplateReader implements ResourceValues {
  private readonly inputs: StackInputs;
  private readonly parameters = new Map<string, DeclaredParameter>();
  private readonly mappings = new Map<string, { value: unknown; path: FieldPath }>();
  private readonly conditions = new Map<string, { value: unknown; path: FieldPath }>();
  private readonly resources = new Map<string, DeclaredResource>();
  private readonly evaluator: Evaluator;
  private readonly identities = new Map<string, Identity>();
  private readonly identitiesInProgress: string[] = [];
  private readonly created = new Map<string, boolean | typeof FAILED>();
  private readonly cloudMapNames = new Map<string, Evaluated>();
  private readonly budget: CopyBudget = { left: 1_000_000 };

  constructor(
    private readonly doc: ParsedDocument,
    private readonly problems: Problem[],
    private readonly options: CloudFormationOptions,
  ) {
    this.inputs = new StackInputs(options, options.stackName ?? path.basename(doc.file, path.extname(doc.file)));
    const sections = { parameters: this.parameters, mappings: this.mappings, conditions: this.conditions };
    this.evaluator = new Evaluator(this.inputs, sections, this, (node, fn, message, arg) =>
      this.evaluatorReport(node, fn, message, arg),
    );
  }

  read(): TemplateRead {
    const top = this.doc.value as Plain;
    for (const key of Object.keys(top))
      if (!TEMPLATE_SECTIONS.includes(key))
        this.error(
          [key],
          `unknown template section '${key}'${suggestion(key, TEMPLATE_SECTIONS) || `; expected one of: ${TEMPLATE_SECTIONS.join(', ')}`}`,
        );
    if (top.AWSTemplateFormatVersion !== undefined && top.AWSTemplateFormatVersion !== '2010-09-09')
      this.error(
        ['AWSTemplateFormatVersion'],
        `must be '2010-09-09', the only version there is, got ${JSON.stringify(top.AWSTemplateFormatVersion)}`,
      );
    if (top.Transform !== undefined)
      this.problems.push({
        severity: 'warning',
        location: this.doc.locate(['Transform']),
        message:
          'meshd does not run transforms (macros, AWS::Serverless, AWS::LanguageExtensions); the template is read as written',
        field: 'Transform',
      });
    this.readSection('Parameters', (name, value, at) => {
      // A parameter refused here is still declared: its uses fail without saying it again.
      const declared = declareParameter(name, value, at, this.options.parameters?.get(name), (p, m) =>
        this.error(p, m),
      );
      this.parameters.set(name, declared ?? { name, path: at, kind: 'string', refused: true });
    });
    this.readSection('Mappings', (name, value, at) => {
      if (isPlain(value)) this.mappings.set(name, { value, path: at });
      else this.error(at, 'a mapping must be a mapping of keys to mappings of values');
    });
    this.readSection('Conditions', (name, value, at) => this.conditions.set(name, { value, path: at }));
    if (!isPlain(top.Resources) || Object.keys(top.Resources).length === 0) {
      this.error(
        ['Resources'],
        top.Resources === undefined
          ? 'a template needs a Resources section'
          : 'must be a mapping of logical IDs to resources, with at least one',
      );
      return { drafts: [], seeds: [], parameters: [...this.parameters.keys()] };
    }
    this.readSection('Resources', (logicalId, value, at) => this.declareResource(logicalId, value, at));

    const drafts: ResourceDraft[] = [];
    for (const r of this.resources.values()) {
      if (!r.appMesh && !r.cloudMap) {
        this.problems.push({
          severity: 'info',
          location: this.doc.locate(r.path),
          message: `skipping ${r.type}/${r.logicalId}: not an App Mesh resource`,
        });
        continue;
      }
      const created = this.isCreated(r);
      if (created === false) {
        this.problems.push({
          severity: 'info',
          location: this.doc.locate([...r.path, 'Condition']),
          message: `skipping ${r.type}/${r.logicalId}: its Condition '${r.condition}' is false`,
        });
        continue;
      }
      // A resource whose declaration or Condition failed still makes a
      // (rejected) draft, so that what names it is not told it is missing.
      if (r.appMesh) drafts.push(this.appMeshDraft(r, r.appMesh));
    }
    return { drafts, seeds: this.seeds(), parameters: [...this.parameters.keys()] };
  }

  // ---- ResourceValues: what Ref and Fn::GetAtt see ----

  has(logicalId: string): boolean {
    return this.resources.has(logicalId);
  }

  ids(): readonly string[] {
    return [...this.resources.keys()];
  }

  ref(logicalId: string, node: FieldPath, fn: string): Evaluated {
    const r = this.resources.get(logicalId)!;
    if (!this.exists(r, node, fn)) return FAILED;
    if (r.appMesh) {
      const id = this.identity(r, r.appMesh, node, fn);
      return id === FAILED ? FAILED : arnOf(r.appMesh, id, this.inputs);
    }
    if (r.cloudMap?.role === 'instance') return this.cloudMapName(r);
    if (r.cloudMap) return cloudMapId(r.cloudMap.role as 'namespace' | 'service', this.inputs, logicalId);
    return this.unknowable(r, logicalId, node, fn);
  }

  getAtt(logicalId: string, attribute: string, node: FieldPath, fn: string): Evaluated {
    const r = this.resources.get(logicalId)!;
    if (r.appMesh) {
      const known = appMeshAttributes(r.appMesh);
      if (!known.includes(attribute)) return this.noAttribute(r, attribute, known, node, fn);
      if (!this.exists(r, node, fn)) return FAILED;
      const id = this.identity(r, r.appMesh, node, fn);
      return id === FAILED ? FAILED : appMeshAttribute(r.appMesh, attribute, id, this.inputs)!;
    }
    if (r.cloudMap) {
      if (!r.cloudMap.attributes.includes(attribute))
        return this.noAttribute(r, attribute, r.cloudMap.attributes, node, fn);
      if (!this.exists(r, node, fn)) return FAILED;
      const role = r.cloudMap.role as 'namespace' | 'service';
      switch (attribute) {
        case 'Id':
          return cloudMapId(role, this.inputs, logicalId);
        case 'Arn':
          return cloudMapArn(role, this.inputs, cloudMapId(role, this.inputs, logicalId));
        case 'Name':
          return this.cloudMapName(r);
        default: // HostedZoneId
          this.evaluatorReport(
            node,
            fn,
            `${logicalId}.${attribute}: meshd cannot know this value (Route 53 assigns it)`,
          );
          return FAILED;
      }
    }
    return this.unknowable(r, `${logicalId}.${attribute}`, node, fn);
  }

  // ---- the template's sections ----

  /** Calls `each` for every entry of a top-level section that is a mapping of names (checked) to values. */
  private readSection(section: string, each: (name: string, value: unknown, at: FieldPath) => void): void {
    const value = (this.doc.value as Plain)[section];
    if (value === undefined || value === null) return;
    if (!isPlain(value)) {
      this.error([section], `must be a mapping of names to ${section === 'Resources' ? 'resources' : 'declarations'}`);
      return;
    }
    for (const [name, entry] of Object.entries(value)) {
      if (!LOGICAL_ID.test(name)) {
        this.error([section, name], `'${name}' is not a valid name: CloudFormation names are 1–255 letters and digits`);
        continue;
      }
      each(name, entry, [section, name]);
    }
  }

  private declareResource(logicalId: string, value: unknown, at: FieldPath): void {
    if (!isPlain(value) || typeof value.Type !== 'string') {
      this.error(
        isPlain(value) ? [...at, 'Type'] : at,
        isPlain(value)
          ? value.Type === undefined
            ? 'required field is missing'
            : 'must be a string'
          : 'a resource must be a mapping with a Type',
      );
      return;
    }
    const appMesh = APP_MESH_TYPES.get(value.Type);
    const cloudMap = CLOUD_MAP_TYPES.get(value.Type);
    if (value.Type.startsWith('AWS::AppMesh::') && !appMesh) {
      this.error(
        [...at, 'Type'],
        `unknown App Mesh resource type '${value.Type}'${suggestion(value.Type, [...APP_MESH_TYPES.keys()])}`,
      );
      return;
    }
    let ok = true;
    if (appMesh || cloudMap) {
      for (const key of Object.keys(value)) {
        if (RESOURCE_ATTRIBUTES.includes(key)) continue;
        this.error([...at, key], unknownFieldMessage(key, RESOURCE_ATTRIBUTES));
        ok = false;
      }
      if (value.Properties !== undefined && !isPlain(value.Properties)) {
        this.error([...at, 'Properties'], 'must be a mapping of property names to values');
        ok = false;
      }
      if (value.Condition !== undefined && typeof value.Condition !== 'string') {
        this.error([...at, 'Condition'], 'must be the name of a condition');
        ok = false;
      }
      const allowed = appMesh ? appMeshProperties(appMesh) : cloudMap!.properties;
      for (const key of Object.keys(isPlain(value.Properties) ? value.Properties : {})) {
        if (allowed.includes(key)) continue;
        this.error([...at, 'Properties', key], unknownFieldMessage(key, allowed));
        ok = false;
      }
    }
    const properties = isPlain(value.Properties) ? value.Properties : {};
    this.resources.set(logicalId, {
      logicalId,
      type: value.Type,
      path: at,
      properties,
      ...(typeof value.Condition === 'string' ? { condition: value.Condition } : {}),
      // A resource whose declaration is wrong is still known to Ref (which then fails quietly: it was reported).
      ...(appMesh ? { appMesh } : {}),
      ...(cloudMap ? { cloudMap } : {}),
    });
    if (!ok) this.created.set(logicalId, FAILED);
  }

  /** Whether the resource is created: its Condition (if any) holds. FAILED when that cannot be told (reported). */
  private isCreated(r: DeclaredResource): boolean | typeof FAILED {
    const known = this.created.get(r.logicalId);
    if (known !== undefined) return known;
    const value = r.condition === undefined ? true : this.evaluator.condition(r.condition, r.path, 'Condition');
    this.created.set(r.logicalId, value);
    return value;
  }

  /** For Ref and Fn::GetAtt: true when the resource is created; otherwise reports why not at the call. */
  private exists(r: DeclaredResource, node: FieldPath, fn: string): boolean {
    const created = this.isCreated(r);
    if (created === false)
      this.evaluatorReport(
        node,
        fn,
        `resource '${r.logicalId}' is not created: its Condition '${r.condition}' is false`,
      );
    return created === true;
  }

  // ---- App Mesh resources ----

  /**
   * The resource's names, evaluated once; a resource needing its
   * own name (through others) is a cycle, reported at the call.
   */
  private identity(
    r: DeclaredResource,
    type: AppMeshType,
    node?: FieldPath,
    fn?: string,
  ): AppMeshIdentity | typeof FAILED {
    const parts = this.identityParts(r, type, node, fn);
    if (parts === FAILED || [parts.name, parts.mesh, parts.parent, parts.meshOwner].includes(FAILED)) return FAILED;
    return {
      name: parts.name as string,
      mesh: parts.mesh as string,
      ...(parts.parent !== undefined ? { parent: parts.parent as string } : {}),
      ...(parts.meshOwner !== undefined ? { meshOwner: parts.meshOwner as string } : {}),
    };
  }

  private identityParts(
    r: DeclaredResource,
    type: AppMeshType,
    node?: FieldPath,
    fn?: string,
  ): Identity | typeof FAILED {
    const known = this.identities.get(r.logicalId);
    if (known) return known;
    if (this.identitiesInProgress.includes(r.logicalId)) {
      const cycle = [
        ...this.identitiesInProgress.slice(this.identitiesInProgress.indexOf(r.logicalId)),
        r.logicalId,
      ].join(' → ');
      this.evaluatorReport(node ?? r.path, fn ?? '', `circular reference: ${cycle}`);
      return FAILED;
    }
    this.identitiesInProgress.push(r.logicalId);
    const props = [...r.path, 'Properties'];
    const named = r.properties[type.nameProperty] !== undefined;
    const name = named
      ? this.text(r.properties[type.nameProperty], [...props, type.nameProperty])
      : type.nameRequired
        ? this.missing(props, type.nameProperty)
        : r.logicalId;
    const mesh =
      type.kind === 'Mesh'
        ? name
        : r.properties.MeshName !== undefined
          ? this.text(r.properties.MeshName, [...props, 'MeshName'])
          : this.missing(props, 'MeshName');
    const parent =
      type.parentProperty === undefined
        ? undefined
        : r.properties[type.parentProperty] !== undefined
          ? this.text(r.properties[type.parentProperty], [...props, type.parentProperty])
          : this.missing(props, type.parentProperty);
    const meshOwner =
      r.properties.MeshOwner !== undefined
        ? this.accountId(r.properties.MeshOwner, [...props, 'MeshOwner'])
        : undefined;
    this.identitiesInProgress.pop();
    const parts: Identity = { name, mesh, parent, meshOwner, named: named || type.nameRequired };
    this.identities.set(r.logicalId, parts);
    return parts;
  }

  private appMeshDraft(r: DeclaredResource, type: AppMeshType): ResourceDraft {
    const props: FieldPath = [...r.path, 'Properties'];
    const before = this.problems.length;
    const parts = this.identityParts(r, type);
    const identity =
      parts === FAILED ? { name: FAILED, mesh: FAILED, parent: FAILED, meshOwner: FAILED, named: true } : parts;
    const mapper = new PropertyMapper(this.evaluator, (at, message) => this.error(at, message), this.budget);
    const spec =
      r.properties.Spec !== undefined
        ? mapper.map(r.properties.Spec, [...props, 'Spec'], ['spec'], SPEC_SHAPES[type.kind])
        : type.kind === 'Mesh'
          ? undefined
          : this.missing(props, 'Spec');
    const tags =
      r.properties.Tags !== undefined
        ? mapper.map(r.properties.Tags, [...props, 'Tags'], ['tags'], tagsShape)
        : undefined;
    if (!identity.named && identity.name !== FAILED && this.created.get(r.logicalId) === true) {
      this.problems.push({
        severity: 'info',
        location: this.doc.locate(r.path),
        resource: this.label(r),
        message: `no ${type.nameProperty}: named '${inputText(identity.name)}' after its logical ID (CloudFormation would generate a name)`,
      });
    }
    const unresolved: FieldPath[] = [...mapper.unresolved];
    const part = (value: Evaluated, at: string): unknown => {
      if (value !== FAILED) return value;
      unresolved.push([at]);
      return undefined;
    };
    const rules: PathRule[] = [
      { from: [], to: r.path },
      { from: ['name'], to: identity.named ? [...props, type.nameProperty] : r.path },
      { from: ['mesh'], to: [...props, 'MeshName'] },
      ...(type.parentProperty ? [{ from: ['parent'], to: [...props, type.parentProperty] }] : []),
      { from: ['spec'], to: [...props, 'Spec'] },
      { from: ['tags'], to: [...props, 'Tags'] },
      ...mapper.rules,
    ];
    return {
      kind: type.kind as ResourceKind,
      name: part(identity.name, 'name'),
      mesh: type.kind === 'Mesh' ? undefined : part(identity.mesh, 'mesh'),
      ...(type.parentProperty ? { parent: part(identity.parent, 'parent') } : {}),
      spec: spec === FAILED ? undefined : spec,
      ...(tags !== undefined ? { tags } : {}),
      rejected:
        mapper.rejected ||
        spec === FAILED ||
        unresolved.length > 0 ||
        this.created.get(r.logicalId) === FAILED ||
        this.problems.slice(before).some((p) => p.severity === 'error'),
      origin: new TemplateOrigin(this.doc, rules, mapper.produced),
      unresolved,
    };
  }

  // ---- Cloud Map resources ----

  /** A namespace's or service's Name, an instance's InstanceId (the logical ID when a service or instance has none). */
  private cloudMapName(r: DeclaredResource): Evaluated {
    const known = this.cloudMapNames.get(r.logicalId);
    if (known !== undefined) return known;
    const property = r.cloudMap!.role === 'instance' ? 'InstanceId' : 'Name';
    const at = [...r.path, 'Properties', property];
    let value: Evaluated;
    if (r.properties[property] !== undefined) value = this.text(r.properties[property], at);
    else if (r.cloudMap!.role === 'namespace') value = this.missing([...r.path, 'Properties'], property);
    else value = r.logicalId;
    this.cloudMapNames.set(r.logicalId, value);
    return value;
  }

  /** The registry seeds: one per created service, with the created instances that name it. */
  private seeds(): LocatedSeed[] {
    const byId = new Map<string, DeclaredResource>();
    const live = [...this.resources.values()].filter((r) => r.cloudMap && this.isCreated(r) === true);
    for (const r of live)
      if (r.cloudMap!.role !== 'instance')
        byId.set(cloudMapId(r.cloudMap!.role as 'namespace' | 'service', this.inputs, r.logicalId), r);
    const instancesOf = new Map<string, { r: DeclaredResource; id: string; attributes: Record<string, string> }[]>();
    // service logical ID + instance id → the instance declaring it
    const declaredBy = new Map<string, DeclaredResource>();
    for (const r of live.filter((x) => x.cloudMap!.role === 'instance')) {
      const service = this.pointsTo(r, ['ServiceId'], byId, 'service');
      const id = this.cloudMapName(r);
      const attributes = this.instanceAttributes(r);
      if (!service || id === FAILED || !attributes) continue;
      if (typeof id !== 'string' || !/^[0-9a-zA-Z_/:.@-]{1,64}$/.test(id)) {
        this.error(
          [...r.path, 'Properties', 'InstanceId'],
          `must be 1–64 letters, digits and _/:.@-, got ${JSON.stringify(id)}`,
        );
        continue;
      }
      const list = instancesOf.get(service.logicalId) ?? [];
      const key = `${service.logicalId}\0${id}`;
      const first = declaredBy.get(key);
      if (first) {
        this.error(
          [...r.path, 'Properties', 'InstanceId'],
          `instance '${id}' of this service is already declared by ${first.logicalId}`,
        );
        continue;
      }
      declaredBy.set(key, r);
      list.push({ r, id, attributes });
      instancesOf.set(service.logicalId, list);
    }
    const seeds: LocatedSeed[] = [];
    for (const r of live.filter((x) => x.cloudMap!.role === 'service')) {
      const where = namespaceIdPath(r.properties);
      if (!where) {
        this.error([...r.path, 'Properties'], 'names no namespace: set NamespaceId (or DnsConfig.NamespaceId)');
        continue;
      }
      const namespace = this.pointsTo(r, where, byId, 'namespace');
      const namespaceName = namespace && this.cloudMapName(namespace);
      const serviceName = this.cloudMapName(r);
      if (!namespace || typeof namespaceName !== 'string' || typeof serviceName !== 'string') continue;
      // AWS Cloud Map's limits, as a CloudMapService document or a Terraform file keeps them.
      const report = (path: FieldPath, message: string) => this.error(path, message);
      const namespaceOk = checkValue(
        SEED_NAMESPACE_NAME,
        namespaceName,
        [...namespace.path, 'Properties', 'Name'],
        report,
      );
      if (
        !checkValue(
          SEED_SERVICE_NAME,
          serviceName,
          r.properties.Name !== undefined ? [...r.path, 'Properties', 'Name'] : r.path,
          report,
        ) ||
        !namespaceOk
      )
        continue;
      const instances = instancesOf.get(r.logicalId) ?? [];
      if (instances.length > SEED_MAX_INSTANCES) {
        this.error(
          [...r.path, 'Properties'],
          `a service holds at most ${SEED_MAX_INSTANCES} instances, got ${instances.length}`,
        );
        continue;
      }
      const locate = (p: FieldPath): ReturnType<ParsedDocument['locate']> => {
        const [head, index, ...rest] = p;
        if (head === 'name')
          return this.doc.locate(r.properties.Name !== undefined ? [...r.path, 'Properties', 'Name'] : r.path);
        if (head === 'instances' && typeof index === 'number' && instances[index]) {
          const i = instances[index]!.r;
          return this.doc.locate(
            rest[0] === 'attributes' ? [...i.path, 'Properties', 'InstanceAttributes', ...rest.slice(1)] : i.path,
          );
        }
        return this.doc.locate(r.path);
      };
      const label = `${r.type}/${r.logicalId}`;
      for (const w of seedAddressWarnings(instances.map((i) => i.attributes))) {
        const at = [...instances[w.index]!.r.path, 'Properties', 'InstanceAttributes', w.attribute];
        this.problems.push({
          severity: 'warning',
          location: this.doc.locate(at),
          resource: label,
          message: w.message,
          field: formatFieldPath(at),
        });
      }
      seeds.push({
        label,
        locate,
        seed: {
          namespace: namespaceName,
          service: serviceName,
          instances: instances.map((i) => ({ id: i.id, attributes: i.attributes })),
        },
      });
    }
    return seeds;
  }

  /**
   * The namespace or service a service's NamespaceId or an
   * instance's ServiceId points to, when declared in this template.
   */
  private pointsTo(
    r: DeclaredResource,
    property: readonly string[],
    byId: ReadonlyMap<string, DeclaredResource>,
    role: 'namespace' | 'service',
  ): DeclaredResource | undefined {
    let raw: unknown = r.properties;
    for (const key of property) raw = (raw as Plain)[key];
    const at = [...r.path, 'Properties', ...property];
    const value = this.evaluator.resolve(raw, at);
    if (value === FAILED) return undefined;
    const target = typeof value === 'string' ? byId.get(value) : undefined;
    if (target?.cloudMap?.role === role) return target;
    this.problems.push({
      severity: 'warning',
      location: this.doc.locate(at),
      resource: `${r.type}/${r.logicalId}`,
      message: `not seeded in the local Cloud Map registry: ${JSON.stringify(value)} is not a ${role} of this template, so meshd does not know its name (Ref a ${role} declared here)`,
      field: formatFieldPath(at),
    });
    return undefined;
  }

  private instanceAttributes(r: DeclaredResource): Record<string, string> | undefined {
    const at = [...r.path, 'Properties', 'InstanceAttributes'];
    if (r.properties.InstanceAttributes === undefined) {
      this.error([...r.path, 'Properties'], 'required field is missing (InstanceAttributes)');
      return undefined;
    }
    const value = this.evaluator.resolve(r.properties.InstanceAttributes, at);
    if (value === FAILED) return undefined;
    if (!isPlain(value)) {
      this.error(at, 'must be a mapping of attribute names to values');
      return undefined;
    }
    const out = Object.create(null) as Record<string, string>; // keyed by the template's attribute names
    let ok = true;
    for (const [key, item] of Object.entries(value)) {
      const text = scalarText(item);
      if (text === undefined) {
        this.error([...at, key], 'must be a string');
        ok = false;
      } else out[key] = text;
    }
    return ok ? out : undefined;
  }

  // ---- helpers ----

  /** Evaluates a property that must be a string (a name). */
  private text(raw: unknown, at: FieldPath): Evaluated {
    const value = this.evaluator.resolve(raw, at);
    if (value === FAILED) return FAILED;
    const text = value === NO_VALUE ? undefined : scalarText(value);
    if (text === undefined) {
      this.error(
        at,
        `must be a string, got ${value === NO_VALUE ? 'AWS::NoValue' : Array.isArray(value) ? 'a list' : 'a mapping'}`,
      );
      return FAILED;
    }
    return text;
  }

  /** MeshOwner: the 12-digit account that shares the mesh. */
  private accountId(raw: unknown, at: FieldPath): Evaluated {
    const value = this.text(raw, at);
    if (value === FAILED || /^\d{12}$/.test(value as string)) return value;
    this.error(at, `must be a 12-digit AWS account ID, got ${JSON.stringify(value)}`);
    return FAILED;
  }

  private missing(props: FieldPath, property: string): typeof FAILED {
    this.problems.push({
      severity: 'error',
      location: this.doc.locate(props),
      ...this.labelled(props),
      message: 'required field is missing',
      field: formatFieldPath([...props, property]),
    });
    return FAILED;
  }

  private noAttribute(
    r: DeclaredResource,
    attribute: string,
    known: readonly string[],
    node: FieldPath,
    fn: string,
  ): typeof FAILED {
    const expected =
      known.length === 0
        ? ' (it has none)'
        : (attribute.length <= 255 ? suggestion(attribute, known) : '') || `; expected one of: ${known.join(', ')}`;
    this.evaluatorReport(node, fn, `${r.type} has no attribute '${shown(attribute)}'${expected}`);
    return FAILED;
  }

  /**
   * Ref (`key` the logical ID) or Fn::GetAtt (`Id.Attribute`) of a
   * resource meshd does not model: from --resource-value, else an error.
   */
  private unknowable(r: DeclaredResource, key: string, node: FieldPath, fn: string): Evaluated {
    if (!this.exists(r, node, fn)) return FAILED;
    const given = this.options.resourceValues?.get(key);
    if (given !== undefined) return given;
    this.evaluatorReport(
      node,
      fn,
      `'${r.logicalId}' is of type ${r.type}, whose values meshd cannot know (it evaluates only AWS::AppMesh and AWS::ServiceDiscovery resources): pass --resource-value ${shown(key)}=<value>`,
    );
    return FAILED;
  }

  /**
   * A finding about the call `fn` written at `node` (`fn` empty: about `node` itself), placed at `arg` under the call.
   */
  private evaluatorReport(node: FieldPath, fn: string, message: string, arg: FieldPath = []): void {
    this.problems.push({
      severity: 'error',
      location: this.doc.locate(fn === '' ? node : [...node, fn, ...arg]),
      ...this.labelled(node),
      message: fn === '' ? message : `${fn}: ${message}`,
      ...(node.length > 0 ? { field: formatFieldPath(node) } : {}),
    });
  }

  private error(at: FieldPath, message: string): void {
    this.problems.push({
      severity: 'error',
      location: this.doc.locate(at),
      ...this.labelled(at),
      message,
      ...(at.length > 0 ? { field: formatFieldPath(at) } : {}),
    });
  }

  /** The `resource` of a finding at `at`: the resource, parameter, mapping or condition it is in. */
  private labelled(at: FieldPath): { resource?: string } {
    const [section, name] = at;
    if (typeof name !== 'string') return {};
    if (section === 'Resources') {
      const r = this.resources.get(name);
      return r ? { resource: this.label(r) } : {};
    }
    const kind =
      section === 'Parameters'
        ? 'Parameter'
        : section === 'Mappings'
          ? 'Mapping'
          : section === 'Conditions'
            ? 'Condition'
            : undefined;
    return kind ? { resource: `${kind}/${name}` } : {};
  }

  /** `VirtualNode/name` (as other dialects say it) once the name is known, else the type and logical ID. */
  private label(r: DeclaredResource): string {
    const parts = this.identities.get(r.logicalId);
    if (!r.appMesh) return `${r.type}/${r.logicalId}`;
    const shown = (v: Evaluated) => (typeof v === 'string' ? v : undefined);
    return draftLabel(r.appMesh.kind, shown(parts?.parent), shown(parts?.name));
  }
}
