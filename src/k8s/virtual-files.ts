// The cluster's objects as mesh input: each App Mesh object (and each Namespace, whose labels decide
// mesh membership) is one YAML document in a virtual file of its own, `k8s:/<plural>/<namespace>/<name>`
// (cluster-scoped: `k8s:/<plural>/<name>`). The loader reads them exactly as it reads manifests from
// files, so a resource behaves the same from either, and its findings name the object.
import { stringify } from 'yaml';
import { APP_MESH_TYPES, NAMESPACES, type KubeObject, type ResourceType } from './kube-api';

export const K8S_PREFIX = 'k8s:/';

const TYPES_BY_PLURAL = new Map<string, ResourceType>(
  [...Object.values(APP_MESH_TYPES), NAMESPACES].map((t) => [t.plural, t]),
);

export function isK8sVirtualFile(file: string): boolean {
  return file.startsWith(K8S_PREFIX);
}

/** The virtual file an object is loaded from. Names and namespaces are DNS labels/subdomains: no `/` in them. */
export function k8sVirtualFile(type: ResourceType, namespace: string | undefined, name: string): string {
  return type.namespaced
    ? `${K8S_PREFIX}${type.plural}/${namespace ?? ''}/${name}`
    : `${K8S_PREFIX}${type.plural}/${name}`;
}

/** The object a virtual file names, or undefined when it is not one. */
export function parseK8sVirtualFile(
  file: string,
): { readonly type: ResourceType; readonly namespace?: string; readonly name: string } | undefined {
  if (!isK8sVirtualFile(file)) return undefined;
  const parts = file.slice(K8S_PREFIX.length).split('/');
  const type = TYPES_BY_PLURAL.get(parts[0] ?? '');
  if (!type) return undefined;
  if (type.namespaced) return parts.length === 3 ? { type, namespace: parts[1]!, name: parts[2]! } : undefined;
  return parts.length === 2 ? { type, name: parts[1]! } : undefined;
}

/**
 * The manifest text meshd loads for an object: what the user wrote (apiVersion, kind, name, namespace,
 * labels, spec), never what the cluster adds (status, resourceVersion, managedFields), so a status
 * write or a bump of the object's version alone changes no text and reloads nothing.
 */
export function manifestText(type: ResourceType, object: KubeObject): string {
  const { name, namespace, labels } = object.metadata;
  const metadata = {
    name,
    ...(type.namespaced ? { namespace } : {}),
    ...(labels && Object.keys(labels).length > 0 ? { labels } : {}),
  };
  const doc =
    type === NAMESPACES
      ? { apiVersion: 'v1', kind: 'Namespace', metadata }
      : {
          apiVersion: `${type.group}/${type.version}`,
          kind: type.kind,
          metadata,
          ...(object.spec !== undefined ? { spec: object.spec } : {}),
        };
  return stringify(doc, { lineWidth: 0 });
}
