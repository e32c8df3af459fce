// Turns a schema of model/schema.ts into JSON Schema (draft-07, what editors' YAML support
// reads). Rules that JSON Schema cannot say (checks across fields) stay in the validator; the
// editor catches the rest as you type.
import type { Schema } from './schema';

export type JsonSchema = Record<string, unknown>;

export function toJsonSchema(schema: Schema): JsonSchema {
  const described = (out: JsonSchema): JsonSchema =>
    schema.description ? { description: schema.description, ...out } : out;
  switch (schema.type) {
    case 'string':
      return described({
        type: 'string',
        minLength: schema.min,
        maxLength: schema.max,
        ...(schema.pattern ? { pattern: schema.pattern.regex.source } : {}),
      });
    case 'integer':
      return described({
        type: 'integer',
        minimum: schema.min,
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
        items: toJsonSchema(schema.item),
        ...(schema.min > 0 ? { minItems: schema.min } : {}),
        ...(schema.max < Number.MAX_SAFE_INTEGER ? { maxItems: schema.max } : {}),
      });
    case 'object': {
      const fields = Object.entries(schema.fields as Record<string, { schema: Schema; required: boolean }>);
      const required = fields.filter(([, f]) => f.required).map(([k]) => k);
      return described({
        type: 'object',
        properties: Object.fromEntries(fields.map(([k, f]) => [k, toJsonSchema(f.schema)])),
        ...(required.length > 0 ? { required } : {}),
        additionalProperties: false,
        // An App Mesh union: exactly one member.
        ...(schema.union ? { minProperties: 1, maxProperties: 1 } : {}),
      });
    }
  }
}
