// The spec schemas of the App Mesh controller's kinds (appmesh.k8s.aws/v1beta2), derived from
// meshd's own App Mesh shapes (model/) by the inverse of what load/k8s-manifest.ts does to a
// manifest: the Kubernetes-only fields come back, App Mesh spellings become the controller's
// (certificateArn → certificateARN), a `<kind>Name` reference becomes `<kind>Ref {name, namespace}`
// or `<kind>ARN`, a VirtualRouter carries its routes inline. The tables come from the loader, so
// what a CRD admits and what the loader reads cannot drift apart.
//
// The result is a Kubernetes *structural* schema (every node has a type, no additionalProperties:
// false; the API server prunes unknown fields instead), with every pattern checked against RE2.
import type { ResourceKind } from '../model/common';
import type { Schema } from '../model/schema';
import { re2ProgramSize } from '../model/re2/program';
import { GATEWAY_ROUTE_KINDS } from '../model/gateway-route';
import { ROUTE_KINDS, routeSpecShape } from '../model/route';
import { REFERENCES, RENAMED, referenceApiKey } from '../load/k8s-manifest';
import { SPEC_SHAPES } from '../load/resource-draft';
import { APP_MESH_TYPES } from './kube-api';

export type JsonSchema = Record<string, unknown>;

/** The seven kinds the App Mesh controller defines, and meshd's CRDs too (kube-api.ts's APP_MESH_TYPES). */
export type CrdKind = keyof typeof APP_MESH_TYPES;
export const CRD_KINDS = Object.keys(APP_MESH_TYPES) as readonly CrdKind[];

/**
 * Renamed spellings the controller uses only at the top of one kind's spec (Mesh's
 * meshServiceDiscovery); elsewhere (a VirtualNode's serviceDiscovery) the App Mesh spelling stays.
 * The loader reads the renamed spelling anywhere; a CRD admits it only where the controller has it.
 */
const RENAMED_ONLY_AT_SPEC_OF: Readonly<Record<string, ResourceKind>> = { meshServiceDiscovery: 'Mesh' };

/** A pattern of the model that Kubernetes (Go's regexp, RE2 syntax) could not take, and why it was left out. */
export interface DroppedPattern {
  readonly at: string;
  readonly pattern: string;
  readonly reason: string;
}

const str = (description?: string): JsonSchema => ({ type: 'string', ...(description ? { description } : {}) });

/** A `{name, namespace}` reference to another object of the controller's kinds. */
function objectRefSchema(kind: string): JsonSchema {
  return {
    type: 'object',
    description: `a ${kind} by its Kubernetes name`,
    required: ['name'],
    properties: {
      name: { type: 'string', minLength: 1, description: `the name of the ${kind}` },
      namespace: str(`the namespace of the ${kind}; defaults to this object's namespace`),
    },
  };
}

/** The controller's meshRef: a Mesh (cluster-scoped) by name; uid is set by the controller's webhook. */
function meshRefSchema(): JsonSchema {
  return {
    type: 'object',
    description: 'the Mesh this object belongs to (default: the Mesh whose namespaceSelector selects this namespace)',
    required: ['name'],
    properties: {
      name: { type: 'string', minLength: 1, description: 'the name of the Mesh' },
      uid: str("the Mesh's uid (the App Mesh controller's webhook sets it; meshd does not need it)"),
    },
  };
}

/** A Kubernetes LabelSelector (meta/v1). */
export function labelSelectorSchema(description: string): JsonSchema {
  return {
    type: 'object',
    description,
    properties: {
      matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
      matchExpressions: {
        type: 'array',
        items: {
          type: 'object',
          required: ['key', 'operator'],
          properties: {
            key: { type: 'string' },
            operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
            values: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    },
    'x-kubernetes-map-type': 'atomic',
  };
}

const awsName = (dflt: string): JsonSchema => str(`the App Mesh name of this object; default ${dflt}`);

/**
 * The Kubernetes-only fields of each kind's spec, as the controller has them. Together they are the
 * loader's K8S_ONLY_FIELDS plus the two it reads itself: VirtualNode backendGroups, VirtualRouter routes.
 */
function k8sOnlyFields(kind: CrdKind): Record<string, JsonSchema> {
  const meshRef = { meshRef: meshRefSchema() };
  switch (kind) {
    case 'Mesh':
      return {
        awsName: awsName('the Mesh name'),
        namespaceSelector: labelSelectorSchema(
          'the namespaces whose objects belong to this mesh: empty selects every namespace, absent none',
        ),
        meshOwner: str('the AWS account id of the mesh owner (App Mesh sharing; meshd ignores it)'),
      };
    case 'VirtualService':
      return { awsName: awsName('<name>.<namespace>'), ...meshRef };
    case 'VirtualNode':
      return {
        awsName: awsName('<name>_<namespace>'),
        ...meshRef,
        podSelector: labelSelectorSchema('the pods of this virtual node (its sidecar is injected into them)'),
        backendGroups: {
          type: 'array',
          description: 'not supported by meshd (it reports them); list the services under backends instead',
          items: objectRefSchema('BackendGroup'),
        },
      };
    case 'VirtualRouter':
      return { awsName: awsName('<name>_<namespace>'), ...meshRef };
    case 'VirtualGateway':
      return {
        awsName: awsName('<name>_<namespace>'),
        ...meshRef,
        namespaceSelector: labelSelectorSchema('the namespaces whose GatewayRoutes this gateway takes'),
        podSelector: labelSelectorSchema('the pods of this virtual gateway'),
        gatewayRouteSelector: labelSelectorSchema('the GatewayRoutes (by their labels) this gateway takes'),
      };
    case 'GatewayRoute':
      return {
        awsName: awsName('<name>_<namespace>'),
        ...meshRef,
        virtualGatewayRef: {
          ...objectRefSchema('VirtualGateway'),
          description: 'the VirtualGateway of this route (default: the one whose selectors take it)',
          properties: {
            ...(objectRefSchema('VirtualGateway').properties as JsonSchema),
            uid: str("the gateway's uid (the App Mesh controller's webhook sets it; meshd does not need it)"),
          },
        },
      };
    case 'BackendGroup':
      return { ...meshRef };
  }
}

/** Fields of a CRD's spec that the loader reads itself rather than dropping (not in K8S_ONLY_FIELDS). */
export const K8S_STRUCTURAL_FIELDS: Readonly<Partial<Record<CrdKind, string>>> = {
  VirtualNode: 'backendGroups',
  VirtualRouter: 'routes',
};

/** The Kubernetes-only top-level field names of each kind's spec (for tests and docs). */
export function k8sOnlyFieldNames(kind: CrdKind): string[] {
  return Object.keys(k8sOnlyFields(kind));
}

/** The controller's spelling of an App Mesh field `key`, in the object at `path` of `kind`'s spec. */
function k8sSpelling(key: string, kind: ResourceKind, path: readonly string[]): string {
  const renamed = Object.entries(RENAMED).find(([, api]) => api === key)?.[0];
  if (renamed === undefined) return key;
  const only = RENAMED_ONLY_AT_SPEC_OF[renamed];
  if (only !== undefined && (only !== kind || path.length > 0)) return key;
  return renamed;
}

/** The reference base (`virtualNode`, ...) an App Mesh field stands for, if it is a reference. */
function referenceBase(key: string, path: readonly string[]): string | undefined {
  return Object.keys(REFERENCES).find((base) => referenceApiKey(base, path) === key);
}

/** A JS RegExp as a Kubernetes (RE2) pattern, or why it cannot be one. */
export function re2Pattern(regex: RegExp): { pattern: string } | { reason: string } {
  const flags = [...regex.flags].filter((f) => !'gyd'.includes(f));
  const inline = flags.filter((f) => 'ims'.includes(f)).join('');
  const other = flags.filter((f) => !'ims'.includes(f));
  if (other.length > 0) return { reason: `JavaScript flag(s) ${other.join('')} have no RE2 equivalent` };
  const pattern = inline ? `(?${inline})${regex.source}` : regex.source;
  const result = re2ProgramSize(pattern);
  if (!result.ok) return { reason: result.error };
  return { pattern };
}

class Deriver {
  readonly dropped: DroppedPattern[] = [];

  constructor(private readonly kind: ResourceKind) {}

  /** `schema` at `path` (field names, `[]` for list items) of the App Mesh spec, in Kubernetes terms. */
  convert(schema: Schema, path: readonly string[]): JsonSchema {
    const described = (out: JsonSchema): JsonSchema =>
      schema.description ? { description: schema.description, ...out } : out;
    switch (schema.type) {
      case 'string': {
        let pattern: string | undefined;
        if (schema.pattern) {
          const p = re2Pattern(schema.pattern.regex);
          if ('pattern' in p) pattern = p.pattern;
          else
            this.dropped.push({
              at: `${this.kind}.spec.${path.join('.')}`,
              pattern: schema.pattern.regex.source,
              reason: p.reason,
            });
        }
        return described({
          type: 'string',
          ...(schema.min > 0 ? { minLength: schema.min } : {}),
          maxLength: schema.max,
          ...(pattern !== undefined ? { pattern } : {}),
        });
      }
      case 'integer':
        return described({
          type: 'integer',
          ...(schema.min > Number.MIN_SAFE_INTEGER ? { minimum: schema.min } : {}),
          ...(schema.max < Number.MAX_SAFE_INTEGER ? { maximum: schema.max } : {}),
        });
      case 'number':
        return described({ type: 'number', minimum: schema.min, maximum: schema.max });
      case 'boolean':
        return described({ type: 'boolean' });
      case 'enum':
        return described({ type: 'string', enum: [...schema.values] });
      case 'list':
        return described({
          type: 'array',
          items: this.convert(schema.item, [...path, '[]']),
          ...(schema.min > 0 ? { minItems: schema.min } : {}),
          ...(schema.max < Number.MAX_SAFE_INTEGER ? { maxItems: schema.max } : {}),
        });
      case 'object':
        return described(
          this.object(schema.fields as Record<string, { schema: Schema; required: boolean }>, schema.union, path),
        );
    }
  }

  private object(
    fields: Record<string, { schema: Schema; required: boolean }>,
    union: boolean,
    path: readonly string[],
  ): JsonSchema {
    const properties: JsonSchema = {};
    const required: string[] = [];
    const rules: JsonSchema[] = [];
    for (const [key, field] of Object.entries(fields)) {
      const base = referenceBase(key, path);
      if (base !== undefined) {
        const ref = `${base}Ref`;
        const arn = `${base}ARN`;
        const kind = REFERENCES[base]!.kind;
        properties[ref] = objectRefSchema(kind);
        properties[arn] = {
          type: 'string',
          minLength: 1,
          description: `the ${kind} by its App Mesh ARN (arn:aws:appmesh:<region>:<account>:mesh/<mesh>/${REFERENCES[base]!.type}/<name>)`,
        };
        // The loader takes one of the two: both is an error, and neither leaves a required field unset.
        rules.push(
          field.required ? { oneOf: [{ required: [ref] }, { required: [arn] }] } : { not: { required: [ref, arn] } },
        );
        continue;
      }
      const k8sKey = k8sSpelling(key, this.kind, path);
      properties[k8sKey] = this.convert(field.schema, [...path, key]);
      if (field.required) required.push(k8sKey);
    }
    return {
      type: 'object',
      properties,
      ...(required.length > 0 ? { required } : {}),
      // An App Mesh union: exactly one member.
      ...(union ? { minProperties: 1, maxProperties: 1 } : {}),
      ...(rules.length === 1 ? rules[0] : rules.length > 1 ? { allOf: rules } : {}),
    };
  }
}

/** The schema of `spec` of a kind's CRD, and the model patterns that RE2 could not take (left out). */
export function k8sSpecSchema(kind: CrdKind): { schema: JsonSchema; dropped: DroppedPattern[] } {
  const k8sFields = k8sOnlyFields(kind);
  if (kind === 'BackendGroup') {
    // meshd does not read BackendGroups (the loader skips them); the controller's shape, so they are kept whole.
    return {
      schema: {
        type: 'object',
        description: 'a set of virtual services (App Mesh controller kind; meshd does not read it)',
        properties: {
          ...k8sFields,
          virtualservices: { type: 'array', items: objectRefSchema('VirtualService') },
        },
      },
      dropped: [],
    };
  }
  const deriver = new Deriver(kind);
  const derived = deriver.convert(SPEC_SHAPES[kind], []);
  const properties = { ...k8sFields, ...(derived.properties as JsonSchema) };
  if (kind === 'VirtualRouter') {
    const routeDeriver = new Deriver('Route');
    const route = routeDeriver.convert(routeSpecShape, []);
    deriver.dropped.push(...routeDeriver.dropped);
    properties.routes = {
      type: 'array',
      description: "the router's routes, each an App Mesh route named by name",
      items: {
        ...withRule(route, exactlyOne(ROUTE_KINDS)),
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 255, description: 'the App Mesh name of the route' },
          ...(route.properties as JsonSchema),
        },
        required: ['name', ...((route.required as string[] | undefined) ?? [])],
      },
    };
  }
  // A route sets exactly one of its kinds (the model's check, which JSON Schema can say here).
  const rule = kind === 'GatewayRoute' ? exactlyOne(GATEWAY_ROUTE_KINDS) : undefined;
  return { schema: { ...(rule ? withRule(derived, rule) : derived), properties }, dropped: deriver.dropped };
}

/** Exactly one of `fields` is set. */
function exactlyOne(fields: readonly string[]): JsonSchema {
  return { oneOf: fields.map((f) => ({ required: [f] })) };
}

/** `node` with one more rule (a logical junctor), beside those it has. */
function withRule(node: JsonSchema, rule: JsonSchema): JsonSchema {
  const { allOf, oneOf, not, ...rest } = node;
  const rules = [
    ...((allOf as JsonSchema[] | undefined) ?? []),
    ...(oneOf ? [{ oneOf }] : []),
    ...(not ? [{ not }] : []),
    rule,
  ];
  return { ...rest, ...(rules.length === 1 ? rules[0] : { allOf: rules }) };
}
