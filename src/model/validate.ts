// Cross-resource checks: every reference names something that exists, no resource is
// defined twice. Field-level checks happen while decoding (load/); these need the whole mesh.
import type { MeshModel, Resource } from './mesh-model';
import { resourceKey, resourceLabel } from './mesh-model';

export interface ModelIssue {
  readonly resource: Resource;
  /** Field path inside the resource's document, e.g. ['spec', 'backends', 0]. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Resources that share a key with an earlier one (in input order). */
export function findDuplicates(resources: readonly Resource[]): ModelIssue[] {
  const seen = new Map<string, Resource>();
  const issues: ModelIssue[] = [];
  for (const r of resources) {
    const first = seen.get(resourceKey(r));
    if (first) {
      const { file, line } = first.source;
      issues.push({ resource: r, path: ['name'], message: `${resourceLabel(r)} in mesh '${r.mesh}' is already defined at ${file}:${line}` });
    } else {
      seen.set(resourceKey(r), r);
    }
  }
  return issues;
}

/** Every dangling reference in the model. An empty list means the model can be compiled. */
export function validateReferences(model: MeshModel): ModelIssue[] {
  const issues: ModelIssue[] = [];
  const issue = (resource: Resource, path: ModelIssue['path'], message: string) => issues.push({ resource, path, message });

  for (const r of model.resources) {
    if (r.kind !== 'Mesh' && !model.mesh(r.mesh)) {
      issue(r, ['mesh'], `mesh '${r.mesh}' is not defined; add a document with kind: Mesh and name: ${r.mesh}`);
      continue;
    }
    switch (r.kind) {
      case 'VirtualService': {
        const p = r.spec.provider;
        if (p && 'virtualNode' in p && !model.virtualNode(r.mesh, p.virtualNode.virtualNodeName)) {
          issue(r, ['spec', 'provider', 'virtualNode', 'virtualNodeName'], `virtual node '${p.virtualNode.virtualNodeName}' is not defined in mesh '${r.mesh}'`);
        } else if (p && 'virtualRouter' in p && !model.virtualRouter(r.mesh, p.virtualRouter.virtualRouterName)) {
          issue(r, ['spec', 'provider', 'virtualRouter', 'virtualRouterName'], `virtual router '${p.virtualRouter.virtualRouterName}' is not defined in mesh '${r.mesh}'`);
        } else if (p && 'virtualNode' in p && model.virtualNode(r.mesh, p.virtualNode.virtualNodeName)!.spec.listeners.length === 0) {
          issue(r, ['spec', 'provider', 'virtualNode', 'virtualNodeName'], `virtual node '${p.virtualNode.virtualNodeName}' has no listeners, so it cannot provide a service`);
        }
        break;
      }
      case 'VirtualNode':
        r.spec.backends.forEach((b, i) => {
          const name = b.virtualService.virtualServiceName;
          if (!model.virtualService(r.mesh, name)) {
            issue(r, ['spec', 'backends', i, 'virtualService', 'virtualServiceName'], `virtual service '${name}' is not defined in mesh '${r.mesh}'`);
          }
        });
        break;
      case 'Route':
        if (!model.virtualRouter(r.mesh, r.virtualRouter)) {
          issue(r, ['virtualRouter'], `virtual router '${r.virtualRouter}' is not defined in mesh '${r.mesh}'`);
        }
        r.spec.httpRoute.action.weightedTargets.forEach((t, i) => {
          const path = ['spec', 'httpRoute', 'action', 'weightedTargets', i];
          const node = model.virtualNode(r.mesh, t.virtualNode);
          if (!node) {
            issue(r, [...path, 'virtualNode'], `virtual node '${t.virtualNode}' is not defined in mesh '${r.mesh}'`);
            return;
          }
          const ports = node.spec.listeners.map((l) => l.portMapping.port);
          if (ports.length === 0) {
            issue(r, [...path, 'virtualNode'], `virtual node '${t.virtualNode}' has no listeners to send traffic to`);
          } else if (t.port !== undefined && !ports.includes(t.port)) {
            issue(r, [...path, 'port'], `virtual node '${t.virtualNode}' has no listener on port ${t.port} (its ports: ${ports.join(', ')})`);
          } else if (t.port === undefined && ports.length > 1) {
            issue(r, [...path], `virtual node '${t.virtualNode}' has several listeners (${ports.join(', ')}); say which with 'port'`);
          }
        });
        break;
      default:
        break;
    }
  }
  return issues;
}
