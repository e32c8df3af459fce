// The App Mesh API over a store: one request in (method, target, headers, body, as the admin
// server reads them), one answer out, never a throw. The order of the checks is the contract:
// the body's size, the route (unknown operation), the input (BadRequest naming the member), the
// If-Match header, meshOwner, then the clientToken (a replay answers before anything else is
// looked at), and last the store's write with the expected version (ConflictException).
//
// meshd's extension for optimistic concurrency: Update* and Delete* take `If-Match: "<version>"`
// (also unquoted, or weak `W/"<version>"`; `*` only asks that the resource exists), and every
// answer carrying one resource has `ETag: "<version>"`. Without If-Match the last writer wins.
import { randomUUID } from 'node:crypto';
import { MAX_AWS_BODY_BYTES, type RawRequest } from '../util/aws-http';
import { StoreUnavailableError, UnstorableError } from '../store/postgres/change-log';
import type { ListScope, ResourceKey, ResourceStore, StoredResource, StoreRefusal, StoreResult } from '../store/types';
import { ApiError, badRequest, type ErrorType } from './errors';
import { ClientTokens, fingerprintOf, type Answer } from './idempotency';
import { MAX_TAGS, readInput, type ApiInput } from './input';
import { KIND_WIRE, type ResourceOperation, type TagOperation } from './operations';
import { pageAfter, PageTokens } from './page-token';
import { route, shown } from './router';
import { dataOf, keyOfArn, refOf, type AccountContext } from './wire';

export type { Answer } from './idempotency';

/** A request as the admin server reads it. */
export type ApiRequest = RawRequest;

/** A body larger than this is refused (413, BadRequestException); the admin server stops reading there too. */
export const MAX_API_BODY_BYTES = MAX_AWS_BODY_BYTES;
const DEFAULT_LIMIT = 100;

export interface AppMeshApiOptions {
  readonly account: AccountContext;
  readonly pageTokens?: PageTokens;
  readonly clientTokens?: ClientTokens;
  /** An unexpected failure (a bug, or a store that threw): answered 500, reported here for the log. */
  readonly onFailure?: (err: Error) => void;
}

const JSON_TYPE = 'application/json';

export function appMeshApi(store: ResourceStore, options: AppMeshApiOptions): (request: ApiRequest) => Promise<Answer> {
  const pages = options.pageTokens ?? new PageTokens();
  const tokens = options.clientTokens ?? new ClientTokens();
  const account = options.account;

  async function answer(request: ApiRequest): Promise<Answer> {
    if (request.body.length > MAX_API_BODY_BYTES)
      throw new ApiError('BadRequestException', `the request body is larger than ${MAX_API_BODY_BYTES} bytes`, 413);
    const routed = route(request.method, request.path);
    const op = routed.operation;
    const input = readInput(routed, request.body);
    const expectedVersion = ifMatch(request.headers, op.action);
    if (input.meshOwner !== undefined && input.meshOwner !== account.accountId)
      throw new ApiError(
        'NotFoundException',
        `meshOwner ${input.meshOwner}: this meshd serves the meshes of account ${account.accountId} only`,
      );
    if (op.kind === undefined) return tagOperation(op, input);
    const perform = () => resourceOperation(op, input, expectedVersion);
    if (input.clientToken === undefined || (op.action !== 'Create' && op.action !== 'Update')) return perform();
    const fingerprint = fingerprintOf({ key: input.key, spec: input.spec, tags: input.tags, expectedVersion });
    return tokens.run(`${op.name}\n${fingerprintOf(input.key)}\n${input.clientToken}`, fingerprint, () =>
      perform().catch((err: unknown) => errorAnswer(err, options)),
    );
  }

  async function resourceOperation(
    op: ResourceOperation,
    input: ApiInput,
    expectedVersion: number | undefined,
  ): Promise<Answer> {
    const key = input.key!;
    const versioned = expectedVersion === undefined ? {} : { expectedVersion };
    switch (op.action) {
      case 'Create':
        return resourceAnswer(await store.create(key, input.spec!, input.tags ?? []), 'ACTIVE');
      case 'Describe': {
        const found = await store.get(key);
        if (!found) throw notFound(key);
        return resourceAnswer({ ok: true, resource: found }, 'ACTIVE');
      }
      case 'Update':
        return resourceAnswer(await store.update(key, input.spec!, versioned), 'ACTIVE');
      case 'Delete':
        return resourceAnswer(await store.delete(key, versioned), 'DELETED');
      case 'List': {
        const scope: ListScope = {
          kind: key.kind,
          ...(key.kind === 'Mesh' ? {} : { mesh: key.mesh }),
          ...(key.parent !== undefined ? { parent: key.parent } : {}),
        };
        const all = await store.list(scope);
        if (!all) throw notFound(parentKey(key));
        const scopeText = `${op.name}\n${key.mesh}\n${key.parent ?? ''}`;
        const after = input.nextToken === undefined ? undefined : pages.read(scopeText, input.nextToken);
        const page = pageAfter(all, (r) => r.key.name, after, input.limit ?? DEFAULT_LIMIT);
        return json(200, {
          [KIND_WIRE[key.kind].listMember]: page.items.map((r) => refOf(r, account)),
          ...(page.last !== undefined ? { nextToken: pages.issue(scopeText, page.last) } : {}),
        });
      }
    }
  }

  function resourceAnswer(result: StoreResult, status: 'ACTIVE' | 'DELETED'): Answer {
    if (!result.ok) throw refusalError(result.refusal);
    return json(200, dataOf(result.resource, account, status), { etag: `"${result.resource.version}"` });
  }

  async function tagOperation(op: TagOperation, input: ApiInput): Promise<Answer> {
    const arn = input.resourceArn!;
    const key = keyOfArn(arn, account);
    if ('error' in key)
      throw new ApiError(
        key.foreign ? 'NotFoundException' : 'BadRequestException',
        `resourceArn ${shown(arn)} ${key.error}`,
      );
    if (op.action === 'ListTagsForResource') {
      const found: StoredResource | undefined = await store.get(key);
      if (!found) throw notFound(key);
      const sorted = [...found.tags].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const scopeText = `${op.name}\n${arn}`;
      const after = input.nextToken === undefined ? undefined : pages.read(scopeText, input.nextToken);
      const page = pageAfter(sorted, (t) => t.key, after, input.limit ?? MAX_TAGS);
      return json(200, {
        tags: page.items.map((t) => ({ key: t.key, value: t.value })),
        ...(page.last !== undefined ? { nextToken: pages.issue(scopeText, page.last) } : {}),
      });
    }
    const change =
      op.action === 'TagResource' ? { set: input.tags ?? [], remove: [] } : { set: [], remove: input.tagKeys ?? [] };
    const result = await store.tag(key, change, MAX_TAGS);
    if (!result.ok)
      throw result.refusal.code === 'limit'
        ? new ApiError(
            'TooManyTagsException',
            `${result.refusal.message}; none of the tags in this request were applied`,
          )
        : refusalError(result.refusal);
    return json(200, {});
  }

  return async (request) => {
    let out: Answer;
    try {
      out = await answer(request);
    } catch (err) {
      out = errorAnswer(err, options);
    }
    // Each answer, a replayed one too, gets its own request id.
    return { ...out, headers: { ...out.headers, 'x-amzn-requestid': randomUUID() } };
  };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Answer {
  const text = JSON.stringify(body);
  return { status, headers: { 'content-type': JSON_TYPE, ...headers }, body: text };
}

/** An ApiError as AWS answers it; anything else is an internal error (reported, and not described to the client). */
function errorAnswer(err: unknown, options: AppMeshApiOptions): Answer {
  let error: ApiError;
  if (err instanceof ApiError) error = err;
  else if (err instanceof UnstorableError) error = new ApiError('BadRequestException', err.message);
  else if (err instanceof StoreUnavailableError)
    // The fleet's store (PostgreSQL) cannot be reached: nothing was changed, and a retry may pass.
    error = new ApiError('ServiceUnavailableException', `${err.message}; nothing was changed: try again`);
  else {
    options.onFailure?.(err instanceof Error ? err : new Error(String(err)));
    error = new ApiError(
      'InternalServerErrorException',
      'internal error: the request could not be answered; meshd logged the cause',
    );
  }
  return json(
    error.status,
    { __type: error.type, message: error.message },
    {
      'x-amzn-errortype': error.type,
      ...error.headers,
    },
  );
}

const REFUSAL_TYPES: Readonly<Record<StoreRefusal['code'], ErrorType>> = {
  not_found: 'NotFoundException',
  exists: 'ConflictException',
  version_mismatch: 'ConflictException',
  in_use: 'ResourceInUseException',
  read_only: 'ForbiddenException',
  invalid: 'BadRequestException',
  limit: 'LimitExceededException',
};

function refusalError(refusal: StoreRefusal): ApiError {
  return new ApiError(REFUSAL_TYPES[refusal.code], refusal.message);
}

function notFound(key: ResourceKey): ApiError {
  const where =
    key.kind === 'Mesh' ? '' : ` in mesh ${key.mesh}${key.parent !== undefined ? ` under ${key.parent}` : ''}`;
  return new ApiError('NotFoundException', `${key.kind} ${key.name} does not exist${where}`);
}

/** The key of what a list lives under: its router or gateway, else its mesh. */
function parentKey(key: ResourceKey): ResourceKey {
  if (key.parent === undefined) return { kind: 'Mesh', mesh: key.mesh, name: key.mesh };
  return { kind: key.kind === 'Route' ? 'VirtualRouter' : 'VirtualGateway', mesh: key.mesh, name: key.parent };
}

/** The version an If-Match header asks for; undefined without one (or with `*`). Only Update* and Delete* take it. */
function ifMatch(headers: ApiRequest['headers'], action: string): number | undefined {
  const raw = Object.hasOwn(headers, 'if-match') ? headers['if-match'] : undefined;
  if (raw === undefined) return undefined;
  const value = (Array.isArray(raw) ? raw.join(', ') : raw).trim();
  if (action !== 'Update' && action !== 'Delete')
    throw badRequest('If-Match (the expected version) is taken only by Update and Delete operations');
  if (value === '*') return undefined;
  const strong = value.startsWith('W/') ? value.slice(2) : value;
  const m = /^"?([1-9][0-9]{0,14})"?$/.exec(strong);
  if (!m || strong.startsWith('"') !== strong.endsWith('"'))
    throw badRequest(`If-Match: expected one version, "<version>" (e.g. "3"), or *; got ${shown(value)}`);
  return Number(m[1]);
}
