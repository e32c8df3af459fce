// The App Mesh API's 38 operations (2019-01-25, restJson1), as data: each one's HTTP method,
// path template, and where each of its input members travels (a path label, a query parameter
// or a member of the JSON body), and which are required. The router (router.ts) and the input
// reader (input.ts) are driven by this table alone; test/unit/api-operations.test.ts checks it
// member by member against the model inside @aws-sdk/client-app-mesh.
//
// Every operation answers HTTP 200. Create and Update are both PUT: Create on the collection,
// Update on the item. Routes and gateway routes sit under the singular `virtualRouter/` and
// `virtualGateway/` segments, the kinds' own collections under the plural ones.
import { RESOURCE_KINDS, type ResourceKind } from '../model/common';

export const API_VERSION_PREFIX = '/v20190125';

export type Action = 'Create' | 'Describe' | 'Update' | 'Delete' | 'List';
export type TagAction = 'ListTagsForResource' | 'TagResource' | 'UntagResource';
export type HttpMethod = 'GET' | 'PUT' | 'DELETE';
export type Location = 'path' | 'query' | 'body';

/** The input members the API reads, with their JSON type on the wire (path labels and query values are text). */
export type MemberName =
  | 'meshName'
  | 'virtualNodeName'
  | 'virtualRouterName'
  | 'routeName'
  | 'virtualServiceName'
  | 'virtualGatewayName'
  | 'gatewayRouteName'
  | 'spec'
  | 'tags'
  | 'clientToken'
  | 'meshOwner'
  | 'limit'
  | 'nextToken'
  | 'resourceArn'
  | 'tagKeys';

export interface Member {
  readonly in: Location;
  readonly required: boolean;
}

interface OperationBase {
  readonly name: string;
  readonly method: HttpMethod;
  /** e.g. `/v20190125/meshes/{meshName}/virtualRouter/{virtualRouterName}/routes`. */
  readonly path: string;
  /** Every input member, by name. */
  readonly members: Readonly<Partial<Record<MemberName, Member>>>;
}

export interface ResourceOperation extends OperationBase {
  readonly kind: ResourceKind;
  readonly action: Action;
}

export interface TagOperation extends OperationBase {
  readonly kind?: undefined;
  readonly action: TagAction;
}

export type Operation = ResourceOperation | TagOperation;

/** How a kind appears on the wire. */
export interface KindWire {
  /** The member holding the resource's own name: `routeName`, `meshName`, ... */
  readonly nameMember: MemberName;
  /** Route's `virtualRouterName`, GatewayRoute's `virtualGatewayName`. */
  readonly parentMember?: MemberName;
  /** The List answer's member: `routes`, `meshes`, ... */
  readonly listMember: string;
  /** The ARN's resource type segment: `route`, `virtualNode`, ... */
  readonly arnType: string;
  /** The collection's path (Create, List); the item's is this plus `/{nameMember}`. */
  readonly collection: string;
}

const MESH_ITEM = `${API_VERSION_PREFIX}/meshes/{meshName}`;

export const KIND_WIRE: Readonly<Record<ResourceKind, KindWire>> = {
  Mesh: { nameMember: 'meshName', listMember: 'meshes', arnType: 'mesh', collection: `${API_VERSION_PREFIX}/meshes` },
  VirtualService: {
    nameMember: 'virtualServiceName',
    listMember: 'virtualServices',
    arnType: 'virtualService',
    collection: `${MESH_ITEM}/virtualServices`,
  },
  VirtualNode: {
    nameMember: 'virtualNodeName',
    listMember: 'virtualNodes',
    arnType: 'virtualNode',
    collection: `${MESH_ITEM}/virtualNodes`,
  },
  VirtualRouter: {
    nameMember: 'virtualRouterName',
    listMember: 'virtualRouters',
    arnType: 'virtualRouter',
    collection: `${MESH_ITEM}/virtualRouters`,
  },
  Route: {
    nameMember: 'routeName',
    parentMember: 'virtualRouterName',
    listMember: 'routes',
    arnType: 'route',
    collection: `${MESH_ITEM}/virtualRouter/{virtualRouterName}/routes`,
  },
  VirtualGateway: {
    nameMember: 'virtualGatewayName',
    listMember: 'virtualGateways',
    arnType: 'virtualGateway',
    collection: `${MESH_ITEM}/virtualGateways`,
  },
  GatewayRoute: {
    nameMember: 'gatewayRouteName',
    parentMember: 'virtualGatewayName',
    listMember: 'gatewayRoutes',
    arnType: 'gatewayRoute',
    collection: `${MESH_ITEM}/virtualGateway/{virtualGatewayName}/gatewayRoutes`,
  },
};

const PATH: Member = { in: 'path', required: true };
const REQUIRED_BODY: Member = { in: 'body', required: true };
const BODY: Member = { in: 'body', required: false };
const QUERY: Member = { in: 'query', required: false };

function resourceOperations(kind: ResourceKind): ResourceOperation[] {
  const wire = KIND_WIRE[kind];
  const isMesh = kind === 'Mesh';
  // The labels of the collection's path: none for meshes, meshName (and the router or gateway) for the rest.
  const parents: Partial<Record<MemberName, Member>> = isMesh
    ? {}
    : { meshName: PATH, ...(wire.parentMember ? { [wire.parentMember]: PATH } : {}) };
  const item = `${wire.collection}/{${wire.nameMember}}`;
  const owner = isMesh ? {} : { meshOwner: QUERY };
  const plural = kind === 'Mesh' ? 'Meshes' : `${kind}s`;
  return [
    {
      name: `Create${kind}`,
      kind,
      action: 'Create',
      method: 'PUT',
      path: wire.collection,
      members: {
        [wire.nameMember]: REQUIRED_BODY,
        ...parents,
        spec: isMesh ? BODY : REQUIRED_BODY,
        tags: BODY,
        clientToken: BODY,
        ...owner,
      },
    },
    {
      name: `Describe${kind}`,
      kind,
      action: 'Describe',
      method: 'GET',
      path: item,
      members: { [wire.nameMember]: PATH, ...parents, meshOwner: QUERY },
    },
    {
      name: `Update${kind}`,
      kind,
      action: 'Update',
      method: 'PUT',
      path: item,
      members: {
        [wire.nameMember]: PATH,
        ...parents,
        spec: isMesh ? BODY : REQUIRED_BODY,
        clientToken: BODY,
        ...owner,
      },
    },
    {
      name: `Delete${kind}`,
      kind,
      action: 'Delete',
      method: 'DELETE',
      path: item,
      members: { [wire.nameMember]: PATH, ...parents, ...owner },
    },
    {
      name: `List${plural}`,
      kind,
      action: 'List',
      method: 'GET',
      path: wire.collection,
      members: { ...parents, nextToken: QUERY, limit: QUERY, ...owner },
    },
  ];
}

const TAG_OPERATIONS: readonly TagOperation[] = [
  {
    name: 'ListTagsForResource',
    action: 'ListTagsForResource',
    method: 'GET',
    path: `${API_VERSION_PREFIX}/tags`,
    members: { resourceArn: { in: 'query', required: true }, nextToken: QUERY, limit: QUERY },
  },
  {
    name: 'TagResource',
    action: 'TagResource',
    method: 'PUT',
    path: `${API_VERSION_PREFIX}/tag`,
    members: { resourceArn: { in: 'query', required: true }, tags: REQUIRED_BODY },
  },
  {
    name: 'UntagResource',
    action: 'UntagResource',
    method: 'PUT',
    path: `${API_VERSION_PREFIX}/untag`,
    members: { resourceArn: { in: 'query', required: true }, tagKeys: REQUIRED_BODY },
  },
];

/** All 38, the kinds' in RESOURCE_KINDS order, then the three tag operations. */
export const OPERATIONS: readonly Operation[] = [...RESOURCE_KINDS.flatMap(resourceOperations), ...TAG_OPERATIONS];

/** The members of `op` that travel in `location`. */
export function membersIn(op: Operation, location: Location): MemberName[] {
  return (Object.entries(op.members) as [MemberName, Member][]).filter(([, m]) => m.in === location).map(([n]) => n);
}
