// `kind: CloudMapService`, a meshd extension to the native dialect: instances to hold in the
// local Cloud Map registry, declared next to the mesh. Checked like any resource (file, line,
// field); the registry applies them when the mesh loads (registry.applySeeds).
import { seedAddressWarnings } from '../discovery/cloud-map/attributes';
import { CUSTOM_HEALTH_STATUSES, type CustomHealthStatus } from '../model/cloud-map-instance';
import type { CloudMapRegistry, ServiceSeed } from '../discovery/cloud-map/registry';
import type { FieldPath } from '../model/common';
import { toJsonSchema, type JsonSchema } from '../model/json-schema';
import { list, object, oneOf, optional, required, string } from '../model/schema';
import { formatFieldPath, inputText, type Problem } from './problems';
import { checkValue, describe } from './schema-check';
import type { ParsedDocument } from './yaml-documents';

export const CLOUD_MAP_SEED_KIND = 'CloudMapService';

/** A seed and where it was written, so the registry's objections can point at the file. */
export interface LocatedSeed {
  readonly seed: ServiceSeed;
  locate(path: FieldPath): ReturnType<ParsedDocument['locate']>;
  readonly label: string;
}

/** AWS Cloud Map's limits on names and instances, which a seed keeps in every dialect. */
export const SEED_NAMESPACE_NAME = string({
  max: 1024,
  description: 'the Cloud Map namespace (created as an HTTP namespace if missing)',
});
export const SEED_SERVICE_NAME = string({
  max: 127,
  description: 'the Cloud Map service (created with a custom health check if missing)',
});
export const SEED_MAX_INSTANCES = 1000;

const seedShape = object({
  kind: required(oneOf([CLOUD_MAP_SEED_KIND])),
  namespace: required(SEED_NAMESPACE_NAME),
  name: required(SEED_SERVICE_NAME),
  instances: optional(
    list(
      object({
        id: required(
          string({
            max: 64,
            pattern: { regex: /^[0-9a-zA-Z_/:.@-]+$/, message: 'may contain only letters, digits and _/:.@-' },
          }),
        ),
        // attributes: a mapping, checked below (the schema language has no maps)
        health: optional(oneOf(CUSTOM_HEALTH_STATUSES, 'the initial custom health status (default HEALTHY)')),
      }),
      { max: SEED_MAX_INSTANCES },
    ),
  ),
});

/** The JSON Schema of a CloudMapService document, for editors (src/load/native-schema.ts). */
export function cloudMapSeedJsonSchema(): JsonSchema {
  const schema = toJsonSchema(seedShape) as {
    properties: { instances: { items: { properties: Record<string, unknown> } } };
  };
  schema.properties.instances.items.properties.attributes = {
    description: 'Cloud Map attributes: AWS_INSTANCE_IPV4, AWS_INSTANCE_IPV6, AWS_INSTANCE_PORT and your own',
    type: 'object',
    additionalProperties: { type: ['string', 'number'] },
  };
  return schema as unknown as JsonSchema;
}

export function readCloudMapSeed(doc: ParsedDocument, problems: Problem[]): LocatedSeed | undefined {
  const top = doc.value as Record<string, unknown>;
  const label = `${CLOUD_MAP_SEED_KIND}/${inputText(top.name)}`;
  const fail = (path: FieldPath, message: string) =>
    problems.push({
      severity: 'error',
      location: doc.locate(path),
      resource: label,
      message,
      ...(path.length ? { field: formatFieldPath(path) } : {}),
    });

  // Attributes are taken out before the shape check and checked on their own.
  const attributes: Record<string, string>[] = [];
  let ok = true;
  const instances = Array.isArray(top.instances) ? top.instances : [];
  const stripped = {
    ...top,
    ...(Array.isArray(top.instances)
      ? {
          instances: instances.map((instance, i) => {
            if (instance === null || typeof instance !== 'object' || Array.isArray(instance)) return instance;
            const { attributes: given, ...rest } = instance as Record<string, unknown>;
            // keyed by the file's attribute names, __proto__ included
            attributes[i] = Object.create(null) as Record<string, string>;
            if (given === undefined || given === null) return rest;
            if (typeof given !== 'object' || Array.isArray(given)) {
              ok = false;
              fail(
                ['instances', i, 'attributes'],
                `must be a mapping of attribute names to values, got ${describe(given)}`,
              );
              return rest;
            }
            for (const [key, value] of Object.entries(given as Record<string, unknown>)) {
              // YAML reads `AWS_INSTANCE_PORT: 8080` as a number; Cloud Map attributes are strings.
              if (typeof value === 'string' || typeof value === 'number') attributes[i]![key] = String(value);
              else {
                ok = false;
                fail(['instances', i, 'attributes', key], `must be a string, got ${describe(value)}`);
              }
            }
            return rest;
          }),
        }
      : {}),
  };
  ok = checkValue(seedShape, stripped, [], fail) && ok;
  if (!ok) return undefined;
  const checked = stripped as {
    namespace: string;
    name: string;
    instances?: { id: string; health?: CustomHealthStatus }[];
  };
  const seen = new Map<string, number>();
  (checked.instances ?? []).forEach((instance, i) => {
    const first = seen.get(instance.id);
    if (first !== undefined) {
      ok = false;
      fail(['instances', i, 'id'], `instance '${instance.id}' is already declared at instances[${first}]`);
    }
    seen.set(instance.id, i);
  });
  if (!ok) return undefined;
  // `meshd serve` refuses these (registry.seedProblems) unless --cloud-map-allow-any-address; `validate` says so here.
  for (const w of seedAddressWarnings(attributes))
    problems.push({
      severity: 'warning',
      location: doc.locate(['instances', w.index, 'attributes', w.attribute]),
      resource: label,
      message: w.message,
      field: formatFieldPath(['instances', w.index, 'attributes', w.attribute]),
    });
  return {
    label,
    locate: doc.locate,
    seed: {
      namespace: checked.namespace,
      service: checked.name,
      instances: (checked.instances ?? []).map((instance, i) => ({
        id: instance.id,
        attributes: attributes[i] ?? {},
        ...(instance.health ? { health: instance.health } : {}),
      })),
    },
  };
}

/**
 * What the registry objects to in the seeds (attributes its services'
 * DNS records need), at the file and line of each instance.
 */
export function seedProblems(
  registry: Pick<CloudMapRegistry, 'seedProblems'>,
  seeds: readonly LocatedSeed[],
): Problem[] {
  return seeds.flatMap(({ seed, locate, label }) =>
    registry.seedProblems(seed).map(({ index, message }) => ({
      severity: 'error' as const,
      location: locate(['instances', index, 'attributes']),
      resource: label,
      message,
      field: `instances[${index}].attributes`,
    })),
  );
}
