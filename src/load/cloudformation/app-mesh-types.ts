// The seven AWS::AppMesh::* resource types: their properties, and what Ref (the ARN) and
// Fn::GetAtt (Arn, MeshName, MeshOwner, ResourceOwner, Uid and the names) give for them, as the
// CloudFormation resource reference says.
import type { ResourceKind } from '../../model/common';
import { stableUuid, type StackInputs } from './stack-inputs';

export interface AppMeshType {
  readonly kind: ResourceKind;
  /** The property holding the resource's own name (`VirtualNodeName`). */
  readonly nameProperty: string;
  /** Only VirtualService requires its name; the others default (see docs/mesh-files.md: the logical ID). */
  readonly nameRequired: boolean;
  /** A Route's VirtualRouterName, a GatewayRoute's VirtualGatewayName. */
  readonly parentProperty?: string;
  /** The ARN path segment (`virtualNode`) of the kind, and of its parent. */
  readonly arnType: string;
  readonly parentArnType?: string;
}

export const APP_MESH_TYPES: ReadonlyMap<string, AppMeshType> = new Map([
  ['AWS::AppMesh::Mesh', { kind: 'Mesh', nameProperty: 'MeshName', nameRequired: false, arnType: 'mesh' }],
  [
    'AWS::AppMesh::VirtualNode',
    { kind: 'VirtualNode', nameProperty: 'VirtualNodeName', nameRequired: false, arnType: 'virtualNode' },
  ],
  [
    'AWS::AppMesh::VirtualService',
    { kind: 'VirtualService', nameProperty: 'VirtualServiceName', nameRequired: true, arnType: 'virtualService' },
  ],
  [
    'AWS::AppMesh::VirtualRouter',
    { kind: 'VirtualRouter', nameProperty: 'VirtualRouterName', nameRequired: false, arnType: 'virtualRouter' },
  ],
  [
    'AWS::AppMesh::Route',
    {
      kind: 'Route',
      nameProperty: 'RouteName',
      nameRequired: false,
      parentProperty: 'VirtualRouterName',
      arnType: 'route',
      parentArnType: 'virtualRouter',
    },
  ],
  [
    'AWS::AppMesh::VirtualGateway',
    { kind: 'VirtualGateway', nameProperty: 'VirtualGatewayName', nameRequired: false, arnType: 'virtualGateway' },
  ],
  [
    'AWS::AppMesh::GatewayRoute',
    {
      kind: 'GatewayRoute',
      nameProperty: 'GatewayRouteName',
      nameRequired: false,
      parentProperty: 'VirtualGatewayName',
      arnType: 'gatewayRoute',
      parentArnType: 'virtualGateway',
    },
  ],
] satisfies [string, AppMeshType][]);

/** The properties a resource of this type may have. */
export function appMeshProperties(type: AppMeshType): string[] {
  const own =
    type.kind === 'Mesh'
      ? ['MeshName']
      : ['MeshName', 'MeshOwner', type.nameProperty, ...(type.parentProperty ? [type.parentProperty] : [])];
  return [...own, 'Spec', 'Tags'];
}

/** A resource's names, once its properties are evaluated. */
export interface AppMeshIdentity {
  readonly name: string;
  readonly mesh: string;
  readonly parent?: string;
  /** MeshOwner when given (a shared mesh), else undefined: the stack's own account. */
  readonly meshOwner?: string;
}

/** The resource's ARN: arn:aws:appmesh:<region>:<mesh owner>:mesh/<mesh>/virtualNode/<name>. */
export function arnOf(type: AppMeshType, id: AppMeshIdentity, inputs: StackInputs): string {
  const account = id.meshOwner ?? inputs.accountId;
  const within =
    type.kind === 'Mesh'
      ? ''
      : type.parentArnType
        ? `/${type.parentArnType}/${id.parent}/${type.arnType}/${id.name}`
        : `/${type.arnType}/${id.name}`;
  return `arn:${inputs.partition}:appmesh:${inputs.region}:${account}:mesh/${id.mesh}${within}`;
}

/** The attributes Fn::GetAtt may ask of the type. */
export function appMeshAttributes(type: AppMeshType): string[] {
  const names = type.kind === 'Mesh' ? [] : [type.nameProperty, ...(type.parentProperty ? [type.parentProperty] : [])];
  return ['Arn', 'MeshName', 'MeshOwner', 'ResourceOwner', 'Uid', ...names].sort();
}

/**
 * Fn::GetAtt of an App Mesh resource, or undefined for an attribute the type does not have.
 * Uid is the one value App Mesh makes up (a random UUID); meshd gives a UUID that stays the same for the same ARN.
 */
export function appMeshAttribute(
  type: AppMeshType,
  attribute: string,
  id: AppMeshIdentity,
  inputs: StackInputs,
): string | undefined {
  switch (attribute) {
    case 'Arn':
      return arnOf(type, id, inputs);
    case 'MeshName':
      return id.mesh;
    case 'MeshOwner':
      return id.meshOwner ?? inputs.accountId;
    case 'ResourceOwner':
      return inputs.accountId;
    case 'Uid':
      return stableUuid(arnOf(type, id, inputs));
    default:
      if (attribute === type.nameProperty && type.kind !== 'Mesh') return id.name;
      if (attribute === type.parentProperty) return id.parent;
      return undefined;
  }
}
