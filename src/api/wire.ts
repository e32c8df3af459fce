// What the API answers about a resource: App Mesh's `<Kind>Data` (the whole body of a Create,
// Describe, Update or Delete: the model marks it @httpPayload, the SDKs wrap it themselves) and
// `<Kind>Ref` (a List item), with metadata as App Mesh shows it: the ARN, timestamps as epoch
// seconds with milliseconds (JSON numbers), meshOwner and resourceOwner the configured account.
import type { ResourceKind } from '../model/common';
import type { ResourceKey, StoredResource } from '../store/types';
import { KIND_WIRE } from './operations';

export interface AccountContext {
  /** 12 digits. */
  readonly accountId: string;
  readonly region: string;
  /** `aws`, or `aws-cn`, `aws-us-gov`. */
  readonly partition?: string;
}

/** Epoch milliseconds as App Mesh's wire timestamp: seconds with a millisecond fraction. */
export function epochSeconds(ms: number): number {
  return Math.round(ms) / 1000;
}

/** `arn:aws:appmesh:<region>:<account>:mesh/M[/virtualRouter/R/route/N]`, the form meshd's node-id parser reads. */
export function arnOf(key: ResourceKey, account: AccountContext): string {
  const prefix = `arn:${account.partition ?? 'aws'}:appmesh:${account.region}:${account.accountId}:mesh/${key.mesh}`;
  if (key.kind === 'Mesh') return prefix;
  const wire = KIND_WIRE[key.kind];
  const parent =
    key.parent !== undefined ? `/${key.kind === 'Route' ? 'virtualRouter' : 'virtualGateway'}/${key.parent}` : '';
  return `${prefix}${parent}/${wire.arnType}/${key.name}`;
}

/** The resource named by an ARN of this account and region, or a reason it names none. */
export function keyOfArn(
  arn: string,
  account: AccountContext,
): ResourceKey | { readonly error: string; readonly foreign?: true } {
  const m = /^arn:([a-z-]+):appmesh:([^:]*):([^:]*):mesh\/(.*)$/.exec(arn);
  if (!m) return { error: 'is not an App Mesh ARN (arn:aws:appmesh:<region>:<account>:mesh/<mesh>/...)' };
  const [, partition, region, accountId, rest] = m as unknown as [string, string, string, string, string];
  if (partition !== (account.partition ?? 'aws') || region !== account.region || accountId !== account.accountId)
    return {
      error: `is not of this meshd's partition, region and account (arn:${account.partition ?? 'aws'}:appmesh:${account.region}:${account.accountId}:...)`,
      foreign: true,
    };
  const parts = rest.split('/');
  const mesh = parts[0]!;
  const tail = parts.slice(1);
  const byType = (type: string): ResourceKind | undefined =>
    (Object.keys(KIND_WIRE) as ResourceKind[]).find(
      (k) => k !== 'Mesh' && !KIND_WIRE[k].parentMember && KIND_WIRE[k].arnType === type,
    );
  let key: ResourceKey | undefined;
  if (tail.length === 0) key = { kind: 'Mesh', mesh, name: mesh };
  else if (tail.length === 2 && byType(tail[0]!)) key = { kind: byType(tail[0]!)!, mesh, name: tail[1]! };
  else if (tail.length === 4 && tail[0] === 'virtualRouter' && tail[2] === 'route')
    key = { kind: 'Route', mesh, parent: tail[1]!, name: tail[3]! };
  else if (tail.length === 4 && tail[0] === 'virtualGateway' && tail[2] === 'gatewayRoute')
    key = { kind: 'GatewayRoute', mesh, parent: tail[1]!, name: tail[3]! };
  if (!key || [key.mesh, key.parent, key.name].some((n) => n === ''))
    return {
      error: 'does not name an App Mesh resource (mesh/<mesh>[/<type>/<name>], routes under virtualRouter/<router>/)',
    };
  return key;
}

/** The names of a key as the kind's members: `{meshName, virtualRouterName, routeName}`. */
function names(key: ResourceKey): Record<string, string> {
  const wire = KIND_WIRE[key.kind];
  return {
    meshName: key.mesh,
    ...(wire.parentMember && key.parent !== undefined ? { [wire.parentMember]: key.parent } : {}),
    ...(key.kind === 'Mesh' ? {} : { [wire.nameMember]: key.name }),
  };
}

/** `<Kind>Data`: names, spec, metadata and status (DELETED in a Delete's answer). */
export function dataOf(
  r: StoredResource,
  account: AccountContext,
  status: 'ACTIVE' | 'DELETED' = 'ACTIVE',
): Record<string, unknown> {
  return {
    ...names(r.key),
    spec: r.spec,
    metadata: {
      arn: arnOf(r.key, account),
      uid: r.uid,
      version: r.version,
      createdAt: epochSeconds(r.createdAt),
      lastUpdatedAt: epochSeconds(r.lastUpdatedAt),
      meshOwner: account.accountId,
      resourceOwner: account.accountId,
    },
    status: { status },
  };
}

/** `<Kind>Ref`: names and metadata without uid; no spec, no status. */
export function refOf(r: StoredResource, account: AccountContext): Record<string, unknown> {
  return {
    ...names(r.key),
    meshOwner: account.accountId,
    resourceOwner: account.accountId,
    arn: arnOf(r.key, account),
    version: r.version,
    createdAt: epochSeconds(r.createdAt),
    lastUpdatedAt: epochSeconds(r.lastUpdatedAt),
  };
}
