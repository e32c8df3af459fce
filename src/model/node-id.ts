/**
 * Envoy node ids as App Mesh's Envoy image set them: `mesh/M/virtualNode/N`,
 * `mesh/M/virtualGateway/G`, or the ARN form `arn:aws:appmesh:<region>:<acct>:mesh/M/virtualNode/N`.
 */
export interface NodeIdentity {
  readonly mesh: string;
  readonly type: 'virtualNode' | 'virtualGateway';
  readonly name: string;
}

const RESOURCE_PATH = /^mesh\/([^/]+)\/(virtualNode|virtualGateway)\/([^/]+)$/;
const ARN_PREFIX = /^arn:aws[a-zA-Z-]*:appmesh:[^:]*:[^:]*:/;

/** The identity a node id names, or a message saying what is wrong with it. */
export function parseNodeId(nodeId: string): NodeIdentity | { error: string } {
  const path = nodeId.replace(ARN_PREFIX, '');
  const m = RESOURCE_PATH.exec(path);
  if (!m) {
    return {
      error: `node id '${nodeId}' is not of the form mesh/<mesh>/virtualNode/<name> (or its ARN form arn:aws:appmesh:<region>:<account>:mesh/<mesh>/virtualNode/<name>)`,
    };
  }
  return { mesh: m[1]!, type: m[2] as NodeIdentity['type'], name: m[3]! };
}

export function formatNodeId(id: NodeIdentity): string {
  return `mesh/${id.mesh}/${id.type}/${id.name}`;
}

/**
 * A node id in its resource-path form (an ARN names the same node as its path), or the id as it is when it names
 * no node: the one form a proxy's cache key and the node a credential names are compared in.
 */
export function canonicalNodeId(nodeId: string): string {
  const id = parseNodeId(nodeId);
  return 'error' in id ? nodeId : formatNodeId(id);
}
