// The JSON Schema of a native mesh document, built from the same shapes the loader checks
// against. `npm run schema` writes it to schema/meshd.schema.json for editors; a test keeps that file current.
import { RESOURCE_KINDS } from '../model/common';
import { toJsonSchema, type JsonSchema } from '../model/json-schema';
import { oneOf } from '../model/schema';
import { apiMetadataShape, resourceName, tagsShape } from '../model/shapes';
import { CLOUD_MAP_SEED_KIND, cloudMapSeedJsonSchema } from './cloud-map-seed';
import { nativeFields } from './native';
import { rolloutJsonSchema } from './rollout-doc';
import { ROLLOUT_KIND } from '../model/rollout';
import { PARENT_FIELD, SPEC_SHAPES } from './resource-draft';

export function nativeJsonSchema(): JsonSchema {
  const name = toJsonSchema(resourceName);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'meshd mesh resource',
    description: 'One App Mesh resource in meshd YAML: kind, mesh, name, spec (the App Mesh API spec, 2019-01-25).',
    type: 'object',
    required: ['kind', 'name'],
    properties: { kind: toJsonSchema(oneOf([...RESOURCE_KINDS, CLOUD_MAP_SEED_KIND, ROLLOUT_KIND])) },
    allOf: [
      // meshd's extension: instances for the local Cloud Map registry.
      { if: { properties: { kind: { const: CLOUD_MAP_SEED_KIND } } }, then: cloudMapSeedJsonSchema() },
      // meshd's extension: a progressive canary rollout.
      { if: { properties: { kind: { const: ROLLOUT_KIND } } }, then: rolloutJsonSchema() },
      ...RESOURCE_KINDS.map((kind) => {
        const parent = PARENT_FIELD[kind];
        const properties: JsonSchema = {
          kind: { const: kind },
          mesh: {
            ...name,
            description:
              kind === 'Mesh'
                ? 'a Mesh is its own mesh: its name, or left out'
                : 'the mesh; may be left out when only one mesh is defined',
          },
          name,
          ...(parent
            ? {
                [parent]: {
                  ...name,
                  description: `the ${parent === 'virtualRouter' ? 'virtual router' : 'virtual gateway'} this route belongs to`,
                },
              }
            : {}),
          spec: toJsonSchema(SPEC_SHAPES[kind]),
          tags: toJsonSchema(tagsShape),
          metadata: {
            ...toJsonSchema(apiMetadataShape),
            description: "written by meshd's App Mesh API in the files of its folder; leave it out of your own files",
          },
        };
        if (Object.keys(properties).join() !== nativeFields(kind).join())
          throw new Error(`native fields of ${kind} and its JSON Schema disagree`);
        return {
          if: { properties: { kind: { const: kind } } },
          then: { properties, required: ['kind', 'name', ...(parent ? [parent] : [])], additionalProperties: false },
        };
      }),
    ],
  };
}
