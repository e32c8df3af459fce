// The CustomResourceDefinitions of the App Mesh controller's seven kinds (appmesh.k8s.aws/v1beta2),
// as meshd installs them: names and scopes as the controller had them, the spec schema derived
// from meshd's own App Mesh shapes (k8s-shape-schema.ts), a status subresource meshd writes, and
// printer columns so that `kubectl get virtualnodes` shows each object's ARN and whether it is active.
import { APP_MESH_TYPES, type KubeObject } from './kube-api';
import { CRD_KINDS, k8sSpecSchema, type CrdKind, type DroppedPattern, type JsonSchema } from './k8s-shape-schema';

export { CRD_KINDS, type CrdKind } from './k8s-shape-schema';

/**
 * The status field holding each kind's App Mesh ARN, as the controller named it (BackendGroup,
 * which is no App Mesh resource, has none).
 */
export const STATUS_ARN_FIELDS: Readonly<Record<CrdKind, string | undefined>> = {
  Mesh: 'meshARN',
  VirtualService: 'virtualServiceARN',
  VirtualNode: 'virtualNodeARN',
  VirtualRouter: 'virtualRouterARN',
  VirtualGateway: 'virtualGatewayARN',
  GatewayRoute: 'gatewayRouteARN',
  BackendGroup: undefined,
};

/** The condition type saying an object is active in its mesh, as the controller named it: `VirtualNodeActive`. */
export function activeConditionType(kind: CrdKind): string {
  return `${kind}Active`;
}

function statusSchema(kind: CrdKind): JsonSchema {
  const arn = STATUS_ARN_FIELDS[kind];
  return {
    type: 'object',
    description: `what meshd observed of this ${kind}`,
    properties: {
      conditions: {
        type: 'array',
        items: {
          type: 'object',
          required: ['type', 'status'],
          properties: {
            type: { type: 'string', description: `the condition, such as ${activeConditionType(kind)}` },
            status: { type: 'string', description: 'True, False or Unknown' },
            lastTransitionTime: { type: 'string', format: 'date-time' },
            reason: { type: 'string' },
            message: { type: 'string' },
          },
        },
      },
      observedGeneration: { type: 'integer', format: 'int64', description: 'the generation meshd last read' },
      ...(arn ? { [arn]: { type: 'string', description: `the App Mesh ARN of this ${kind}` } } : {}),
      ...(kind === 'VirtualRouter'
        ? {
            routeARNs: {
              type: 'object',
              description: 'the App Mesh ARN of each route, by route name',
              additionalProperties: { type: 'string' },
            },
          }
        : {}),
    },
  };
}

function printerColumns(kind: CrdKind): JsonSchema[] {
  const arn = STATUS_ARN_FIELDS[kind];
  if (!arn) return [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }];
  return [
    { name: 'ARN', type: 'string', jsonPath: `.status.${arn}`, description: `the App Mesh ARN of the ${kind}` },
    {
      name: 'Active',
      type: 'string',
      jsonPath: `.status.conditions[?(@.type=="${activeConditionType(kind)}")].status`,
      description: `whether the ${kind} is active in its mesh (condition ${activeConditionType(kind)})`,
    },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ];
}

/** One kind's CRD, and the model patterns left out of it because RE2 could not take them. */
export function customResourceDefinitionOf(kind: CrdKind): { crd: KubeObject; dropped: DroppedPattern[] } {
  const type = APP_MESH_TYPES[kind];
  const { schema: spec, dropped } = k8sSpecSchema(kind);
  const crd: KubeObject = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${type.plural}.${type.group}`,
      labels: { 'app.kubernetes.io/name': 'meshd', 'app.kubernetes.io/component': 'crd' },
    },
    spec: {
      group: type.group,
      names: {
        kind,
        listKind: `${kind}List`,
        plural: type.plural,
        singular: kind.toLowerCase(),
        categories: ['all'],
      },
      scope: type.namespaced ? 'Namespaced' : 'Cluster',
      versions: [
        {
          name: type.version,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `${kind} (App Mesh controller kind, read by meshd)`,
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec,
                status: statusSchema(kind),
              },
            },
          },
          subresources: { status: {} },
          additionalPrinterColumns: printerColumns(kind),
        },
      ],
    },
  };
  return { crd, dropped };
}

/** The seven CRDs, Mesh first. */
export function customResourceDefinitions(): KubeObject[] {
  return CRD_KINDS.map((kind) => customResourceDefinitionOf(kind).crd);
}

/** Model patterns that are not in the CRDs (RE2 could not take them); meshd's loader still checks them. */
export function droppedPatterns(): DroppedPattern[] {
  return CRD_KINDS.flatMap((kind) => customResourceDefinitionOf(kind).dropped);
}
