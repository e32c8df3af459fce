// Terraform's nested blocks → the App Mesh API's shape. `terraform show -json` writes every nested
// block as a list of objects (`"listener": [{ "port_mapping": [{ "port": 8080 }] }]`), names
// repeated blocks in the singular (`listener`, `backend`, `weighted_target`), writes Cloud Map
// attributes as a map, and fills what is not set with "", 0, false, [] or null. The walk follows
// the API's own schema (model/*.ts), so each Terraform name is the API name in snake_case except
// for the few renames below, and it reads values as the provider's expand functions
// (internal/service/appmesh/flex.go, virtual_gateway.go, gateway_route.go) send them to App Mesh.
import { isPlain, type FieldPath, type Plain, type ResourceKind } from '../../model/common';
import type { ObjectSchema, Schema } from '../../model/schema';
import type { PathRule } from '../origin';
import { describe, unknownFieldMessage } from '../schema-check';

/** API list fields whose Terraform block is named in the singular. */
const SINGULAR: Readonly<Record<string, string>> = {
  listeners: 'listener',
  backends: 'backend',
  weightedTargets: 'weighted_target',
  headers: 'header',
  queryParameters: 'query_parameter',
};

/** The Terraform name of an API field: `portMapping` → `port_mapping`, `listeners` → `listener`. */
export function terraformName(apiName: string): string {
  return SINGULAR[apiName] ?? apiName.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * API fields the provider's schema does not have (by kind and API
 * path without list indices): an attribute of that name is unknown.
 */
const NOT_IN_PROVIDER = new Set([
  'VirtualNode:serviceDiscovery.awsCloudMap.ipPreference',
  'GatewayRoute:httpRoute.match.method',
  'GatewayRoute:http2Route.match.method',
  'GatewayRoute:grpcRoute.match.hostname',
  'GatewayRoute:grpcRoute.match.metadata',
  'GatewayRoute:grpcRoute.action.rewrite',
]);

/** Attributes the provider's schema has and its expand functions never read: accepted, and not sent. */
const IGNORED_BY_PROVIDER = new Set(['Route:grpcRoute.match.prefix']);

/** API `[{key, value}]` lists that the provider writes as a map (`attributes = { version = "v2" }`). */
const MAP_FIELDS = new Set(['VirtualNode:serviceDiscovery.awsCloudMap.attributes']);

/** expandGRPCRoute sends an empty match for an absent `match` block ("Empty match is allowed"). */
const EMPTY_BLOCK_IS_EMPTY_OBJECT = new Set(['Route:grpcRoute.match']);

/** Fields App Mesh requires that the provider's schema leaves optional: "" there means not set, too. */
const OPTIONAL_IN_PROVIDER = new Set(['Mesh:egressFilter.type']);

/** expandMeshSpec leaves out `egress_filter` without a type and `service_discovery` without an ip_preference. */
const DROPPED_WHEN_EMPTY = new Set(['Mesh:egressFilter', 'Mesh:serviceDiscovery']);

/**
 * Translates one resource's blocks, reporting Terraform-level problems
 * at document paths and recording where each API field was written.
 */
export class BlockTranslator {
  private readonly rules = new Map<string, PathRule>();

  constructor(
    private readonly kind: ResourceKind,
    private readonly report: (documentPath: FieldPath, message: string) => void,
  ) {}

  /** Where each API path of the resource was written (Origin picks the longest matching one). */
  pathRules(): PathRule[] {
    return [...this.rules.values()];
  }

  rule(from: FieldPath, to: FieldPath): void {
    this.rules.set(JSON.stringify(from), { from, to });
  }

  /** The API object for a Terraform block's body. */
  object(schema: ObjectSchema, block: Plain, apiPath: FieldPath, docPath: FieldPath): Plain {
    this.rule(apiPath, docPath);
    const fields = new Map<string, { apiName: string; schema: Schema; required: boolean }>();
    for (const [apiName, field] of Object.entries(schema.fields)) {
      if (NOT_IN_PROVIDER.has(this.pattern([...apiPath, apiName]))) continue;
      const tfName = terraformName(apiName);
      fields.set(tfName, {
        apiName,
        schema: field.schema,
        required: field.required && !OPTIONAL_IN_PROVIDER.has(this.pattern([...apiPath, apiName])),
      });
      this.rule([...apiPath, apiName], [...docPath, tfName]); // where a missing field would have been
    }
    const out: Plain = {};
    for (const [key, value] of Object.entries(block)) {
      const field = fields.get(key);
      if (!field && IGNORED_BY_PROVIDER.has(this.pattern([...apiPath, key]))) continue;
      if (!field) {
        this.report([...docPath, key], unknownFieldMessage(key, [...fields.keys()], 'attribute'));
        continue;
      }
      const translated = this.value(
        field.schema,
        field.required,
        value,
        [...apiPath, field.apiName],
        [...docPath, key],
        key,
      );
      if (translated !== undefined) out[field.apiName] = translated;
    }
    return out;
  }

  /**
   * An attribute's value as the expand functions send it. They send an optional integer only when above 0
   * (`if v, ok := m["port"].(int); ok && v > 0`) and an optional string only when not "": those are
   * what the provider writes for "not set". A field App Mesh requires keeps its value, so that a 0
   * there is named as the wrong value it is rather than as a missing field.
   */
  private value(
    schema: Schema,
    required: boolean,
    value: unknown,
    apiPath: FieldPath,
    docPath: FieldPath,
    tfName: string,
  ): unknown {
    if (value === null || value === undefined) return undefined; // null: not set (and absent: not known yet, in a plan)
    const pattern = this.pattern(apiPath);
    switch (schema.type) {
      case 'object':
        return this.block(schema, value, apiPath, docPath, tfName, pattern);
      case 'list': {
        if (MAP_FIELDS.has(pattern)) return this.mapAsPairs(value, apiPath, docPath);
        if (!Array.isArray(value)) {
          this.report(docPath, `must be a list, got ${describe(value)}`);
          return isPlain(value) && schema.item.type === 'object'
            ? [this.object(schema.item, value, [...apiPath, 0], docPath)]
            : undefined;
        }
        if (value.length === 0) return undefined; // an empty set or list is not sent
        if (schema.item.type !== 'object') return [...value];
        // a non-mapping item is left for the schema check to name
        return value.map((item, i) =>
          isPlain(item) ? this.object(schema.item, item, [...apiPath, i], [...docPath, i]) : item,
        );
      }
      case 'boolean':
        return value; // always sent: `enforce` (default true) and `invert` (false) are in every state
      case 'integer':
      case 'number':
        return value === 0 && !required ? undefined : value;
      case 'string':
      case 'enum':
        return value === '' && !required ? undefined : value;
    }
  }

  /** A nested block: a list of at most one object (MaxItems: 1 in the provider's schema). */
  private block(
    schema: ObjectSchema,
    value: unknown,
    apiPath: FieldPath,
    docPath: FieldPath,
    tfName: string,
    pattern: string,
  ): Plain | undefined {
    if (!Array.isArray(value)) {
      this.report(
        docPath,
        `must be a list of '${tfName}' blocks (terraform show -json writes a nested block as a list), got ${describe(value)}`,
      );
      // A block's body without its list is read on, so that it is
      // not reported again as missing and its own mistakes show.
      return isPlain(value) ? this.object(schema, value, apiPath, docPath) : undefined;
    }
    if (value.length === 0 || value[0] === null) return EMPTY_BLOCK_IS_EMPTY_OBJECT.has(pattern) ? {} : undefined;
    if (value.length > 1)
      this.report([...docPath, 1], `the provider allows one '${tfName}' block here, got ${value.length}`);
    if (!isPlain(value[0]))
      return this.wrongShape([...docPath, 0], `a '${tfName}' block must be a mapping, got ${describe(value[0])}`);
    const out = this.object(schema, value[0], apiPath, [...docPath, 0]);
    return DROPPED_WHEN_EMPTY.has(pattern) && Object.keys(out).length === 0 ? undefined : out;
  }

  /**
   * `{ "version": "v2" }` → `[{ key: version, value: v2 }]`, in
   * the document's order (Terraform prints map keys sorted).
   */
  private mapAsPairs(value: unknown, apiPath: FieldPath, docPath: FieldPath): Plain[] | undefined {
    if (!isPlain(value)) return this.wrongShape(docPath, `must be a map of names to values, got ${describe(value)}`);
    this.rule(apiPath, docPath);
    const pairs = Object.entries(value).map(([key, v], i) => {
      this.rule([...apiPath, i], [...docPath, key]);
      this.rule([...apiPath, i, 'key'], [...docPath, key]);
      this.rule([...apiPath, i, 'value'], [...docPath, key]);
      return { key, value: v };
    });
    return pairs.length > 0 ? pairs : undefined;
  }

  private wrongShape(docPath: FieldPath, message: string): undefined {
    this.report(docPath, message);
    return undefined;
  }

  /** `Kind:api.path` without list indices, the key of the tables above. */
  private pattern(apiPath: FieldPath): string {
    return `${this.kind}:${apiPath
      .slice(1) // 'spec'
      .filter((s) => typeof s === 'string')
      .join('.')}`;
  }
}
