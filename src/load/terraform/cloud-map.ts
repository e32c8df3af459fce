// `aws_service_discovery_*` resources of `terraform show -json` → seeds of the local Cloud Map
// registry, as `kind: CloudMapService` documents are (cloud-map-seed.ts, whose checks they go
// through). A service names its namespace by id (`namespace_id`, or `dns_config[0].namespace_id`),
// an instance its service (`service_id`); ids are known in a state, and in a plan only for
// resources that already exist, so with one namespace (service) in the file, that one is meant.
import type { FieldPath } from '../../model/common';
import { CLOUD_MAP_SEED_KIND, readCloudMapSeed, type LocatedSeed } from '../cloud-map-seed';
import { formatFieldPath, inputText, type Problem } from '../problems';
import type { ParsedDocument } from '../yaml-documents';
import { isPlain } from '../../model/common';

export const NAMESPACE_TYPES = [
  'aws_service_discovery_private_dns_namespace',
  'aws_service_discovery_http_namespace',
  'aws_service_discovery_public_dns_namespace',
];
export const SERVICE_TYPE = 'aws_service_discovery_service';
export const INSTANCE_TYPE = 'aws_service_discovery_instance';

/** A Cloud Map resource as found in the document. */
export interface CloudMapResource {
  readonly type: string;
  readonly address: string;
  /** Where its `values` mapping is. */
  readonly valuesAt: FieldPath;
  readonly values: Record<string, unknown>;
}

/** Seeds for every service, each with the instances that name it. */
export function cloudMapSeeds(
  doc: ParsedDocument,
  resources: readonly CloudMapResource[],
  problems: Problem[],
): LocatedSeed[] {
  const namespaces = resources.filter((r) => NAMESPACE_TYPES.includes(r.type));
  const services = resources.filter((r) => r.type === SERVICE_TYPE);
  const instances = resources.filter((r) => r.type === INSTANCE_TYPE);
  // By id, the first declaration winning (a file of many services and instances is read in linear time).
  const firstById = (list: readonly CloudMapResource[]) => {
    const byId = new Map<unknown, CloudMapResource>();
    for (const r of list) if (!byId.has(r.values.id)) byId.set(r.values.id, r);
    return byId;
  };
  const namespacesById = firstById(namespaces);
  const servicesById = firstById(services);
  const error = (r: CloudMapResource, attribute: string, message: string) =>
    problems.push({
      severity: 'error',
      location: doc.locate([...r.valuesAt, attribute]),
      resource: `${CLOUD_MAP_SEED_KIND}/${inputText(r.values.name ?? r.values.instance_id ?? '?')}`,
      message,
      field: `${r.address}.${attribute}`,
    });

  const namespaceOf = (service: CloudMapResource): CloudMapResource | undefined => {
    const dnsConfig =
      Array.isArray(service.values.dns_config) && isPlain(service.values.dns_config[0])
        ? service.values.dns_config[0]
        : {};
    const [id, attribute] =
      typeof service.values.namespace_id === 'string' && service.values.namespace_id !== ''
        ? [service.values.namespace_id, 'namespace_id']
        : [dnsConfig.namespace_id, 'dns_config'];
    const byId = typeof id === 'string' ? namespacesById.get(id) : undefined;
    if (byId) return byId;
    if (typeof id !== 'string' && namespaces.length === 1) return namespaces[0];
    error(
      service,
      attribute,
      typeof id === 'string'
        ? `namespace '${id}' is not declared in this file (no aws_service_discovery_*_namespace has this id)`
        : 'names no namespace (namespace_id is not known yet), and this file does not declare exactly one namespace',
    );
    return undefined;
  };
  const serviceOf = (instance: CloudMapResource): CloudMapResource | undefined => {
    const id = instance.values.service_id;
    const byId = typeof id === 'string' ? servicesById.get(id) : undefined;
    if (byId) return byId;
    if (typeof id !== 'string' && services.length === 1) return services[0];
    error(
      instance,
      'service_id',
      typeof id === 'string'
        ? `service '${id}' is not declared in this file (no aws_service_discovery_service has this id)`
        : 'names no service (service_id is not known yet), and this file does not declare exactly one service',
    );
    return undefined;
  };

  const members = new Map<CloudMapResource, CloudMapResource[]>(services.map((s) => [s, []]));
  for (const instance of instances) {
    const service = serviceOf(instance);
    if (service) members.get(service)!.push(instance);
  }
  const seeds: LocatedSeed[] = [];
  for (const service of services) {
    const namespace = namespaceOf(service);
    if (!namespace) continue;
    const seed = readSeed(doc, namespace, service, members.get(service)!, problems);
    if (seed) seeds.push(seed);
  }
  return seeds;
}

/** Checks the service like a CloudMapService document, with positions and field names in the Terraform document. */
function readSeed(
  doc: ParsedDocument,
  namespace: CloudMapResource,
  service: CloudMapResource,
  instances: readonly CloudMapResource[],
  problems: Problem[],
): LocatedSeed | undefined {
  // checked as a mapping by readCloudMapSeed
  const attributesOf = (i: CloudMapResource) => i.values.attributes ?? undefined;
  const value = {
    kind: CLOUD_MAP_SEED_KIND,
    namespace: namespace.values.name,
    name: service.values.name,
    instances: instances.map((i) => ({
      id: i.values.instance_id,
      ...(attributesOf(i) !== undefined ? { attributes: attributesOf(i) } : {}),
    })),
  };
  // Where each path of that document is in the Terraform document, and how Terraform names it.
  const where = (path: FieldPath): { at: FieldPath; field: string } => {
    if (path[0] === 'namespace') return { at: [...namespace.valuesAt, 'name'], field: `${namespace.address}.name` };
    if (path[0] === 'instances' && typeof path[1] === 'number' && instances[path[1]]) {
      const instance = instances[path[1]]!;
      const rest = path[2] === 'id' ? ['instance_id'] : path.slice(2);
      return {
        at: [...instance.valuesAt, ...rest],
        field: rest.length > 0 ? `${instance.address}.${formatFieldPath(rest)}` : instance.address,
      };
    }
    const rest = path[0] === 'name' ? ['name'] : [];
    return { at: [...service.valuesAt, ...rest], field: rest.length > 0 ? `${service.address}.name` : service.address };
  };
  const synthetic: ParsedDocument = {
    file: doc.file,
    value,
    locate: (path) => doc.locate(where(path).at),
    place: doc.place,
  };
  const before = problems.length;
  const seed = readCloudMapSeed(synthetic, problems);
  // readCloudMapSeed names fields as a CloudMapService document would; name them as Terraform does.
  const fields = new Map<string, string>();
  const note = (path: FieldPath) => fields.set(formatFieldPath(path), where(path).field);
  ['namespace', 'name', 'instances'].forEach((f) => note([f]));
  instances.forEach((instance, i) => {
    ['id', 'attributes'].forEach((f) => note(['instances', i, f]));
    note(['instances', i]);
    for (const key of isPlain(instance.values.attributes) ? Object.keys(instance.values.attributes) : [])
      note(['instances', i, 'attributes', key]);
  });
  for (let k = before; k < problems.length; k++) {
    const p = problems[k]!;
    if (p.field !== undefined) problems[k] = { ...p, field: fields.get(p.field) ?? p.field };
  }
  return seed;
}
