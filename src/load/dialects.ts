// Which input dialect a document is written in, decided per document.
import { isAwsCliDocument } from './aws-cli-json';
import { isCloudFormationTemplate } from './cloudformation/template';
import { isTerraformShowJson } from './terraform/show-json';
import type { ParsedDocument } from './yaml-documents';

export const K8S_API_GROUP = 'appmesh.k8s.aws';
export const K8S_API_VERSION = `${K8S_API_GROUP}/v1beta2`;

export type Dialect =
  | 'native'
  | 'aws-cli'
  | 'k8s'
  | 'k8s-other'
  | 'k8s-list'
  | 'cloudformation'
  | 'terraform'
  | 'not-a-mapping'
  | 'unknown';

export function detectDialect(doc: ParsedDocument): Dialect {
  const v = doc.value;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'not-a-mapping';
  const value = v as Record<string, unknown>;
  if (isTerraformShowJson(value)) return 'terraform';
  if (typeof value.apiVersion === 'string') {
    if (value.apiVersion.startsWith(`${K8S_API_GROUP}/`)) return 'k8s';
    return value.kind === 'List' && Array.isArray(value.items) ? 'k8s-list' : 'k8s-other';
  }
  if ('kind' in value) return 'native';
  if (isCloudFormationTemplate(value)) return 'cloudformation';
  if (isAwsCliDocument(value)) return 'aws-cli';
  return 'unknown';
}

/** The items of a Kubernetes `List` (as `kubectl get -o yaml` prints), each as a document of its own. */
export function listItems(doc: ParsedDocument): ParsedDocument[] {
  const items = (doc.value as { items: unknown[] }).items;
  return items.map((value, i) => ({
    file: doc.file,
    value,
    locate: (path) => doc.locate(['items', i, ...path]),
    place: { document: doc.place.document, prefix: [...doc.place.prefix, 'items', i] },
  }));
}
