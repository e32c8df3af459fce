// What every dialect reader produces: one resource in App Mesh's own terms, not yet checked.
// decodeDraft() checks it against the App Mesh schema of its kind and turns it into a model
// resource, so every dialect gets exactly the same field rules and messages.
import type { ResourceKind, SourceLocation } from '../model/common';
import { gatewayRouteSpecShape } from '../model/gateway-route';
import { meshSpecShape } from '../model/mesh';
import { labelOf, type Resource } from '../model/mesh-model';
import { routeSpecShape } from '../model/route';
import type { FieldPath, ObjectSchema } from '../model/schema';
import { apiMetadataShape, resourceName, tagsShape } from '../model/shapes';
import { virtualGatewaySpecShape } from '../model/virtual-gateway';
import { virtualNodeSpecShape } from '../model/virtual-node';
import { virtualRouterSpecShape } from '../model/virtual-router';
import { virtualServiceSpecShape } from '../model/virtual-service';
import type { Origin } from './origin';
import type { ParsedDocument } from './yaml-documents';
import { isError, type Problem, type Severity } from './problems';
import { checkValue } from './schema-check';

export const SPEC_SHAPES: Readonly<Record<ResourceKind, ObjectSchema>> = {
  Mesh: meshSpecShape,
  VirtualService: virtualServiceSpecShape,
  VirtualNode: virtualNodeSpecShape,
  VirtualRouter: virtualRouterSpecShape,
  Route: routeSpecShape,
  VirtualGateway: virtualGatewaySpecShape,
  GatewayRoute: gatewayRouteSpecShape,
};

/** The field naming a route's router or a gateway route's gateway. */
export const PARENT_FIELD: Partial<Record<ResourceKind, 'virtualRouter' | 'virtualGateway'>> = {
  Route: 'virtualRouter',
  GatewayRoute: 'virtualGateway',
};

export interface ResourceDraft {
  readonly kind: ResourceKind;
  readonly name: unknown;
  /** Undefined when the input leaves the mesh to the command line or to the only mesh defined. */
  readonly mesh: unknown;
  readonly parent?: unknown;
  readonly spec: unknown;
  readonly tags?: unknown;
  /** The App Mesh API's `metadata:` (uid, version, times) of a file it wrote; native documents only. */
  readonly metadata?: unknown;
  /** Set when the reader already reported a problem with the document: it checks the rest, but yields no resource. */
  readonly rejected?: boolean;
  /** Paths `['name']`, `['mesh']`, `['parent']`, `['spec', …]`, `['tags']` map to the file through it. */
  readonly origin: Origin;
  /** The document, when it alone makes the draft (native dialect): the same document decodes to the same resource. */
  readonly soleDocument?: ParsedDocument;
  /**
   * Paths whose value the reader could not work out and already reported (a CloudFormation
   * function that failed): findings at, under or above them would only repeat that.
   */
  readonly unresolved?: readonly FieldPath[];
  /**
   * Set for Kubernetes manifests: a field App Mesh's API does not know is pruned by the API server
   * (the CRD's structural schema), so it is a warning and dropped, not an error (unless strict).
   */
  readonly prunesUnknownFields?: boolean;
  /**
   * Set by the dialects that can carry meshd's own extension of the Mesh (`spec.meshd`): native
   * files and Kubernetes manifests. The others are App Mesh's own formats (CloudFormation,
   * Terraform, the AWS CLI's JSON), whose tools refuse a field App Mesh does not have.
   */
  readonly meshdExtension?: boolean;
}

export interface DecodeOptions {
  /** Unknown fields that Kubernetes would prune are errors, as `kubectl --validate=strict` makes them. */
  readonly strict?: boolean;
}

/** Reports findings about one resource at resource paths, mapped to the file. */
export class ResourceReporter {
  constructor(
    private readonly origin: Origin,
    private readonly problems: Problem[],
    private readonly label: string,
  ) {}

  report(severity: Severity, path: FieldPath, message: string): void {
    this.problems.push({
      severity,
      location: this.origin.locate(path),
      resource: this.label,
      message,
      ...(path.length > 0 ? { field: this.origin.fieldName(path) } : {}),
    });
  }

  error = (path: FieldPath, message: string): void => this.report('error', path, message);
}

/** `Kind/name` (`Kind/parent/name` for routes) of a draft whose fields may not be strings yet. */
export function draftLabel(kind: ResourceKind, parent: unknown, name: unknown): string {
  const shown = (v: unknown) => (typeof v === 'string' ? v : '?');
  return labelOf(kind, PARENT_FIELD[kind] ? shown(parent) : undefined, shown(name));
}

/**
 * Checks a draft and returns its resource, or undefined after recording every problem.
 * `defaultMesh` is used when the draft names no mesh.
 */
export function decodeDraft(
  draft: ResourceDraft,
  defaultMesh: DefaultMesh,
  problems: Problem[],
  options: DecodeOptions = {},
): Resource | undefined {
  const before = problems.length;
  const reporter = new ResourceReporter(draft.origin, problems, draftLabel(draft.kind, draft.parent, draft.name));
  const unresolved = draft.unresolved ?? [];
  // A finding about a field under an unresolved one, or above it, is not made: looked up by path
  // prefixes (scanning every unresolved path per finding was quadratic: 10,000 failed values, 1.7 s).
  const unresolvedKeys = new Set(unresolved.map((u) => JSON.stringify(u)));
  const unresolvedPrefixes = new Set(unresolved.flatMap((u) => u.map((_, n) => JSON.stringify(u.slice(0, n + 1)))));
  const related = (path: FieldPath) =>
    path.length === 0 ||
    unresolvedPrefixes.has(JSON.stringify(path)) ||
    path.some((_, n) => unresolvedKeys.has(JSON.stringify(path.slice(0, n + 1)))) ||
    unresolvedKeys.has('[]');
  const error =
    unresolved.length === 0
      ? reporter.error
      : (path: FieldPath, message: string) => related(path) || reporter.error(path, message);
  const parentField = PARENT_FIELD[draft.kind];
  const name = checkName(draft.name, ['name'], error);
  const parent = parentField ? checkName(draft.parent, ['parent'], error) : undefined;

  let mesh: string | undefined;
  if (draft.kind === 'Mesh') {
    mesh = name;
  } else if (draft.mesh !== undefined) {
    mesh = checkName(draft.mesh, ['mesh'], error);
  } else if (defaultMesh.name !== undefined) {
    mesh = defaultMesh.name;
  } else {
    error(['mesh'], defaultMesh.whyNone);
  }

  const spec = draft.spec ?? {};
  if (draft.kind === 'Mesh' && !draft.meshdExtension && typeof spec === 'object' && spec !== null && 'meshd' in spec)
    error(
      ['spec', 'meshd'],
      "is meshd's own extension, not an App Mesh field, and this format carries only App Mesh's (its tools refuse it); declare the Mesh in a native mesh file or a Kubernetes manifest",
    );
  checkValue(
    SPEC_SHAPES[draft.kind],
    spec,
    ['spec'],
    error,
    draft.prunesUnknownFields ? { unknownField: prunedField(reporter, options.strict === true) } : {},
  );
  if (draft.tags !== undefined) checkValue(tagsShape, draft.tags, ['tags'], error);
  if (draft.metadata !== undefined) checkValue(apiMetadataShape, draft.metadata, ['metadata'], error);
  // Warnings (a pruned field) leave the resource valid.
  if (draft.rejected || problems.slice(before).some(isError) || name === undefined || mesh === undefined)
    return undefined;

  const base = { mesh, name, spec } as const;
  const resource =
    draft.kind === 'Route'
      ? { ...base, kind: 'Route', virtualRouter: parent! }
      : draft.kind === 'GatewayRoute'
        ? { ...base, kind: 'GatewayRoute', virtualGateway: parent! }
        : { ...base, kind: draft.kind };
  return withLazySource(resource, draft.origin) as Resource;
}

/**
 * An unknown field in a Kubernetes manifest: the API server would
 * prune it, so it is dropped with a warning; strict refuses it.
 */
function prunedField(reporter: ResourceReporter, strict: boolean): (path: FieldPath, message: string) => boolean {
  return (path, message) => {
    if (strict) reporter.error(path, `${message}; Kubernetes would prune it, and --strict refuses it`);
    else reporter.report('warning', path, `${message}; Kubernetes would prune it, so meshd ignores it`);
    return !strict;
  };
}

/**
 * Finding a position means building the file's syntax tree, which costs far more than reading it;
 * most resources never need theirs, so the line and column of `source` are worked out on first
 * use (its file is known: the store asks every resource's).
 */
function withLazySource<T extends object>(resource: T, origin: Origin): T & { readonly source: SourceLocation } {
  let at: SourceLocation | undefined;
  const where = () => (at ??= origin.locate([]));
  const source = Object.defineProperties(
    { file: origin.file },
    {
      line: { enumerable: true, get: () => where().line },
      col: { enumerable: true, get: () => where().col },
    },
  ) as SourceLocation;
  return Object.defineProperty(resource, 'source', { enumerable: true, value: source }) as T & {
    readonly source: SourceLocation;
  };
}

/** The mesh for resources that name none, or why there is none. */
export type DefaultMesh =
  { readonly name: string; readonly whyNone?: undefined } | { readonly name?: undefined; readonly whyNone: string };

function checkName(value: unknown, path: FieldPath, error: ResourceReporter['error']): string | undefined {
  if (value === undefined || value === null) {
    error(path, 'required field is missing');
    return undefined;
  }
  return checkValue(resourceName, value, path, error) ? (value as string) : undefined;
}
