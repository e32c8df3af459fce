// Reading one operation's input: the path labels and query parameters the router decoded, and
// the JSON body. Each member is checked for its JSON type and App Mesh's limits, and a spec with
// the very shape `meshd validate` checks files against (model/ through load/schema-check.ts), so
// a refused field is named the same way: `spec.listeners[0].portMapping.port: must be ...`.
// Every problem is a BadRequestException naming the member. Nothing here touches the store.
import { formatFieldPath, type ResourceKind } from '../model/common';
import type { FieldPath } from '../model/schema';
import { resourceName, tagsShape } from '../model/shapes';
import { SPEC_SHAPES } from '../load/resource-draft';
import { checkValue, describe, unknownFieldMessage } from '../load/schema-check';
import type { ResourceKey, SpecJson, Tag } from '../store/types';
import { ApiError, badRequest } from './errors';
import { KIND_WIRE, membersIn, type MemberName } from './operations';
import type { Routed } from './router';

/** App Mesh's clientToken: "Up to 36 letters, numbers, hyphens, and underscores". */
const CLIENT_TOKEN = /^[A-Za-z0-9_-]{1,36}$/;
/** AccountId: exactly 12 characters in the model; an account id is 12 digits. */
const ACCOUNT_ID = /^[0-9]{12}$/;
const MAX_NEXT_TOKEN = 2048;
const MAX_ARN = 2048;
/** Tags per resource (App Mesh's TagList). */
export const MAX_TAGS = tagsShape.max;
/** A message lists at most this many of a spec's problems (and says how many more there are). */
const MAX_PROBLEMS_SHOWN = 5;

export interface ApiInput {
  /** The resource named (Create, Describe, Update, Delete); for List, `name` is ''. */
  readonly key?: ResourceKey;
  readonly spec?: SpecJson;
  readonly tags?: readonly Tag[];
  readonly clientToken?: string;
  readonly meshOwner?: string;
  readonly limit?: number;
  readonly nextToken?: string;
  readonly resourceArn?: string;
  readonly tagKeys?: readonly string[];
}

type Json = Record<string, unknown>;

/** The JSON object of a body; malformed UTF-8 or JSON, or anything but an object, is a BadRequest. */
export function parseBody(body: Buffer): Json {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw badRequest('the request body is not valid UTF-8');
  }
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw badRequest(`the request body must be a JSON object, got ${describe(value)}`);
  return value as Json;
}

/** Checks `value` against a model schema; the problems as one message, fields named as files name them. */
function check(schema: Parameters<typeof checkValue>[0], value: unknown, path: FieldPath): void {
  const problems: string[] = [];
  checkValue(schema, value, path, (at, message) => problems.push(`${formatFieldPath(at)}: ${message}`));
  if (problems.length === 0) return;
  const more = problems.length - MAX_PROBLEMS_SHOWN;
  throw badRequest(problems.slice(0, MAX_PROBLEMS_SHOWN).join('; ') + (more > 0 ? `; and ${more} more` : ''));
}

/** Reads and checks every input member of `routed.operation` (the body only when it has body members). */
export function readInput(routed: Routed, body: Buffer): ApiInput {
  const op = routed.operation;
  const bodyMembers = membersIn(op, 'body');
  const json: Json = bodyMembers.length > 0 ? parseBody(body) : {};
  for (const key of Object.keys(json)) {
    if (!(bodyMembers as string[]).includes(key))
      throw badRequest(`${unknownFieldMessage(key, bodyMembers, 'member')} (in the body of ${op.name})`);
  }
  const present = (name: MemberName): unknown => {
    const where = op.members[name]?.in;
    if (where === 'path') return routed.labels[name];
    if (where === 'query') return routed.query.get(name);
    if (where === 'body') return json[name] ?? undefined; // null is "not set" in JSON
    return undefined;
  };
  for (const [name, member] of Object.entries(op.members) as [MemberName, { required: boolean }][]) {
    if (member.required && (present(name) === undefined || present(name) === null))
      throw badRequest(`${name} is required`);
  }

  const name = (member: MemberName): string => {
    const value = present(member);
    check(resourceName, value, [member]);
    return value as string;
  };
  const text = (member: MemberName, max: number): string | undefined => {
    const value = present(member);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw badRequest(`${member}: must be a string, got ${describe(value)}`);
    if (value.length === 0 || value.length > max)
      throw badRequest(`${member}: must be 1–${max} characters long, got ${value.length}`);
    return value;
  };

  const out: { -readonly [K in keyof ApiInput]: ApiInput[K] } = {};
  if (op.kind !== undefined) {
    const key = keyOf(op.kind, op.action === 'List' ? undefined : name, name);
    if (key) out.key = key;
  }
  if (op.members.spec) out.spec = spec(op.kind!, present('spec'));
  if (op.members.tags) {
    const tags = present('tags');
    // More than 50 tags to add is TagResource's own error; elsewhere the shape's limit says it.
    if (op.action === 'TagResource' && Array.isArray(tags) && tags.length > MAX_TAGS)
      throw new ApiError('TooManyTagsException', `tags: ${tags.length} tags; a resource has at most ${MAX_TAGS}`);
    if (tags !== undefined) out.tags = checkTags(tags);
  }
  const clientToken = text('clientToken', 36);
  if (clientToken !== undefined) {
    if (!CLIENT_TOKEN.test(clientToken))
      throw badRequest(
        `clientToken: must be up to 36 letters, digits, hyphens and underscores, got ${describe(clientToken)}`,
      );
    out.clientToken = clientToken;
  }
  // Any length up to a bound, so that a wrong one is told the rule, not only a length.
  const meshOwner = text('meshOwner', 64);
  if (meshOwner !== undefined) {
    if (!ACCOUNT_ID.test(meshOwner))
      throw badRequest(`meshOwner: must be a 12-digit account id, got ${describe(meshOwner)}`);
    out.meshOwner = meshOwner;
  }
  if (op.members.limit) {
    const limit = present('limit') as string | undefined;
    const max = op.action === 'ListTagsForResource' ? 50 : 100;
    if (limit !== undefined) {
      const n = /^[0-9]{1,4}$/.test(limit) ? Number(limit) : NaN;
      if (!(n >= 1 && n <= max))
        throw badRequest(`limit: must be a whole number from 1 to ${max}, got ${describe(limit)}`);
      out.limit = n;
    }
  }
  const nextToken = text('nextToken', MAX_NEXT_TOKEN);
  if (nextToken !== undefined) out.nextToken = nextToken;
  const resourceArn = text('resourceArn', MAX_ARN);
  if (resourceArn !== undefined) out.resourceArn = resourceArn;
  if (op.members.tagKeys) {
    const keys = present('tagKeys');
    check(tagKeysShape, keys, ['tagKeys']);
    out.tagKeys = keys as string[];
  }
  return out;
}

const tagKeysShape = { type: 'list', item: tagsShape.item.fields.key.schema, min: 0, max: 50 } as const;

/** The resource's key from the path labels (and the body's name member on Create); List gets a key with name ''. */
function keyOf(
  kind: ResourceKind,
  own: ((member: MemberName) => string) | undefined,
  name: (member: MemberName) => string,
): ResourceKey | undefined {
  const wire = KIND_WIRE[kind];
  if (kind === 'Mesh') {
    const mesh = own ? own('meshName') : '';
    return { kind, mesh, name: mesh };
  }
  const mesh = name('meshName');
  const parent = wire.parentMember ? name(wire.parentMember) : undefined;
  return { kind, mesh, ...(parent !== undefined ? { parent } : {}), name: own ? own(wire.nameMember) : '' };
}

/** The spec, checked with its kind's shape as files are (null fields dropped, as the file checker drops them). */
function spec(kind: ResourceKind, value: unknown): SpecJson {
  // CreateMesh and UpdateMesh may leave the spec out: a mesh's spec is all defaults.
  if (value === undefined || value === null) return {};
  check(SPEC_SHAPES[kind], value, ['spec']);
  return value as SpecJson;
}

function checkTags(value: unknown): Tag[] {
  check(tagsShape, value, ['tags']);
  const tags = value as Tag[];
  const seen = new Map<string, number>();
  tags.forEach((t, i) => {
    const first = seen.get(t.key);
    if (first !== undefined) throw badRequest(`tags[${i}].key: ${describe(t.key)} is already tags[${first}].key`);
    seen.set(t.key, i);
  });
  return tags.map((t) => ({ key: t.key, value: t.value }));
}
