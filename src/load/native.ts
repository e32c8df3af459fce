// The native dialect: multi-document YAML whose `spec` is exactly App Mesh's API spec.
import { PROTOCOLS, RESOURCE_KINDS, type PortMapping, type ResourceKind, type SourceLocation } from '../model/common';
import type { Mesh } from '../model/mesh';
import { EGRESS_FILTER_TYPES } from '../model/mesh';
import type { Resource } from '../model/mesh-model';
import type { HttpRoute, Route, WeightedTarget } from '../model/route';
import type { Backend, VirtualNode, VirtualNodeListener, VirtualNodeSpec } from '../model/virtual-node';
import { DNS_RESPONSE_TYPES } from '../model/virtual-node';
import type { VirtualRouter } from '../model/virtual-router';
import type { VirtualService, VirtualServiceSpec } from '../model/virtual-service';
import { FieldReader } from './field-reader';
import type { Problem } from './problems';
import type { FieldPath, ParsedDocument } from './yaml-documents';

type Plain = Record<string, unknown>;

/** Decodes one document into a resource, or records why it cannot (and returns undefined). */
export function decodeNativeDocument(doc: ParsedDocument, problems: Problem[]): Resource | undefined {
  const before = problems.length;
  const r = new FieldReader(doc, problems);
  const top = r.object(doc.value, [], ['kind', 'mesh', 'name', 'virtualRouter', 'spec']);
  if (!top) return undefined;
  const kindValue = r.required(top, 'kind', []);
  if (kindValue === undefined) return undefined;
  const kind = r.oneOf<ResourceKind>(kindValue, ['kind'], RESOURCE_KINDS);
  const name = readName(r, top, 'name');
  if (!kind || name === undefined) return undefined;
  r.setResource(kind === 'Route' && typeof top.virtualRouter === 'string' ? `Route/${top.virtualRouter}/${name}` : `${kind}/${name}`);

  const mesh = kind === 'Mesh' ? (top.mesh === undefined ? name : readName(r, top, 'mesh')) : readName(r, top, 'mesh');
  if (kind === 'Mesh' && mesh !== undefined && mesh !== name) r.fail(['mesh'], `a Mesh's 'mesh' must equal its name '${name}'`);
  if (kind !== 'Route' && top.virtualRouter !== undefined) r.fail(['virtualRouter'], 'only a Route names a virtualRouter');
  const spec = top.spec === undefined ? {} : top.spec;
  const source = doc.locate([]);

  let resource: Resource | undefined;
  if (mesh !== undefined) {
    const meta = { mesh, name, source };
    switch (kind) {
      case 'Mesh':
        resource = decodeMesh(r, spec, meta);
        break;
      case 'VirtualService':
        resource = decodeVirtualService(r, spec, meta);
        break;
      case 'VirtualNode':
        resource = decodeVirtualNode(r, spec, meta);
        break;
      case 'VirtualRouter':
        resource = decodeVirtualRouter(r, spec, meta);
        break;
      case 'Route': {
        const router = readName(r, top, 'virtualRouter');
        resource = router === undefined ? undefined : decodeRoute(r, spec, { ...meta, virtualRouter: router });
        break;
      }
    }
  }
  // A resource with any problem is not returned: no partially understood resource reaches the model.
  return problems.length === before ? resource : undefined;
}

interface Meta {
  mesh: string;
  name: string;
  source: SourceLocation;
}

function readName(r: FieldReader, parent: Plain, key: string, base: FieldPath = []): string | undefined {
  const value = r.required(parent, key, [...base, key]);
  return value === undefined ? undefined : r.string(value, [...base, key]);
}

const SPEC: FieldPath = ['spec'];

function decodeMesh(r: FieldReader, value: unknown, meta: Meta): Mesh | undefined {
  const spec = r.object(value, SPEC, ['egressFilter']);
  if (!spec) return undefined;
  if (spec.egressFilter === undefined) return { kind: 'Mesh', ...meta, spec: {} };
  const path = [...SPEC, 'egressFilter'];
  const filter = r.object(spec.egressFilter, path, ['type']);
  const typeValue = filter && r.required(filter, 'type', [...path, 'type']);
  const type = typeValue === undefined ? undefined : r.oneOf(typeValue, [...path, 'type'], EGRESS_FILTER_TYPES);
  return type && { kind: 'Mesh', ...meta, spec: { egressFilter: { type } } };
}

function decodeVirtualService(r: FieldReader, value: unknown, meta: Meta): VirtualService | undefined {
  const spec = r.object(value, SPEC, ['provider']);
  if (!spec) return undefined;
  if (spec.provider === undefined) return { kind: 'VirtualService', ...meta, spec: {} };
  const path = [...SPEC, 'provider'];
  const provider = r.object(spec.provider, path, ['virtualNode', 'virtualRouter']);
  if (!provider) return undefined;
  const kinds = Object.keys(provider);
  if (kinds.length !== 1) return r.fail(path, 'must name exactly one of virtualNode, virtualRouter');
  let decoded: VirtualServiceSpec['provider'];
  if (provider.virtualNode !== undefined) {
    const node = r.object(provider.virtualNode, [...path, 'virtualNode'], ['virtualNodeName']);
    const nodeName = node && readName(r, node, 'virtualNodeName', [...path, 'virtualNode']);
    decoded = nodeName === undefined ? undefined : { virtualNode: { virtualNodeName: nodeName } };
  } else {
    const router = r.object(provider.virtualRouter, [...path, 'virtualRouter'], ['virtualRouterName']);
    const routerName = router && readName(r, router, 'virtualRouterName', [...path, 'virtualRouter']);
    decoded = routerName === undefined ? undefined : { virtualRouter: { virtualRouterName: routerName } };
  }
  return decoded && { kind: 'VirtualService', ...meta, spec: { provider: decoded } };
}

function decodePortMapping(r: FieldReader, parent: Plain, base: FieldPath): PortMapping | undefined {
  const path = [...base, 'portMapping'];
  const value = r.required(parent, 'portMapping', path);
  const pm = value === undefined ? undefined : r.object(value, path, ['port', 'protocol']);
  if (!pm) return undefined;
  const portValue = r.required(pm, 'port', [...path, 'port']);
  const protocolValue = r.required(pm, 'protocol', [...path, 'protocol']);
  const port = portValue === undefined ? undefined : r.integer(portValue, [...path, 'port'], 1, 65535);
  const protocol = protocolValue === undefined ? undefined : r.oneOf(protocolValue, [...path, 'protocol'], PROTOCOLS);
  return port !== undefined && protocol !== undefined ? { port, protocol } : undefined;
}

function decodeListeners(r: FieldReader, value: unknown): { portMapping: PortMapping }[] {
  const path = [...SPEC, 'listeners'];
  const list = value === undefined ? [] : r.list(value, path) ?? [];
  const listeners: { portMapping: PortMapping }[] = [];
  list.forEach((item, i) => {
    const listener = r.object(item, [...path, i], ['portMapping']);
    const portMapping = listener && decodePortMapping(r, listener, [...path, i]);
    if (portMapping) listeners.push({ portMapping });
  });
  const ports = new Set<number>();
  listeners.forEach((l, i) => {
    if (ports.has(l.portMapping.port)) r.fail([...path, i, 'portMapping', 'port'], `port ${l.portMapping.port} is used by another listener`);
    ports.add(l.portMapping.port);
  });
  return listeners;
}

function decodeVirtualNode(r: FieldReader, value: unknown, meta: Meta): VirtualNode | undefined {
  const spec = r.object(value, SPEC, ['listeners', 'serviceDiscovery', 'backends']);
  if (!spec) return undefined;
  const listeners: VirtualNodeListener[] = decodeListeners(r, spec.listeners);

  let serviceDiscovery: VirtualNodeSpec['serviceDiscovery'];
  if (spec.serviceDiscovery !== undefined) {
    const path = [...SPEC, 'serviceDiscovery'];
    const sd = r.object(spec.serviceDiscovery, path, ['dns']);
    const dnsValue = sd && r.required(sd, 'dns', [...path, 'dns']);
    const dns = dnsValue === undefined ? undefined : r.object(dnsValue, [...path, 'dns'], ['hostname', 'responseType']);
    if (dns) {
      const hostname = readName(r, dns, 'hostname', [...path, 'dns']);
      const responseType =
        dns.responseType === undefined ? undefined : r.oneOf(dns.responseType, [...path, 'dns', 'responseType'], DNS_RESPONSE_TYPES);
      if (hostname !== undefined) serviceDiscovery = { dns: { hostname, ...(responseType ? { responseType } : {}) } };
    }
  } else if (listeners.length > 0) {
    r.fail([...SPEC, 'listeners'], 'a virtual node with listeners needs spec.serviceDiscovery (how callers find it)');
  }

  const backends: Backend[] = [];
  const backendsPath = [...SPEC, 'backends'];
  const backendList = spec.backends === undefined ? [] : r.list(spec.backends, backendsPath) ?? [];
  backendList.forEach((item, i) => {
    const backend = r.object(item, [...backendsPath, i], ['virtualService']);
    const vsValue = backend && r.required(backend, 'virtualService', [...backendsPath, i, 'virtualService']);
    const vs = vsValue === undefined ? undefined : r.object(vsValue, [...backendsPath, i, 'virtualService'], ['virtualServiceName']);
    const vsName = vs && readName(r, vs, 'virtualServiceName', [...backendsPath, i, 'virtualService']);
    if (vsName !== undefined) backends.push({ virtualService: { virtualServiceName: vsName } });
  });

  return { kind: 'VirtualNode', ...meta, spec: { listeners, backends, ...(serviceDiscovery ? { serviceDiscovery } : {}) } };
}

function decodeVirtualRouter(r: FieldReader, value: unknown, meta: Meta): VirtualRouter | undefined {
  const spec = r.object(value, SPEC, ['listeners']);
  if (!spec) return undefined;
  const count = Array.isArray(spec.listeners) ? spec.listeners.length : 0;
  if (count !== 1) r.fail([...SPEC, 'listeners'], `a virtual router has exactly one listener, got ${count}`);
  const listeners = decodeListeners(r, spec.listeners);
  return { kind: 'VirtualRouter', ...meta, spec: { listeners } };
}

function decodeRoute(r: FieldReader, value: unknown, meta: Meta & { virtualRouter: string }): Route | undefined {
  const spec = r.object(value, SPEC, ['priority', 'httpRoute']);
  if (!spec) return undefined;
  const priority = spec.priority === undefined ? undefined : r.integer(spec.priority, [...SPEC, 'priority'], 0, 1000);
  const routePath = [...SPEC, 'httpRoute'];
  const routeValue = r.required(spec, 'httpRoute', routePath);
  const route = routeValue === undefined ? undefined : r.object(routeValue, routePath, ['match', 'action']);
  if (!route) return undefined;

  const matchValue = r.required(route, 'match', [...routePath, 'match']);
  const match = matchValue === undefined ? undefined : r.object(matchValue, [...routePath, 'match'], ['prefix']);
  const prefixValue = match && r.required(match, 'prefix', [...routePath, 'match', 'prefix']);
  let prefix = prefixValue === undefined ? undefined : r.string(prefixValue, [...routePath, 'match', 'prefix']);
  if (prefix !== undefined && !prefix.startsWith('/')) prefix = r.fail([...routePath, 'match', 'prefix'], `must start with '/', got ${JSON.stringify(prefix)}`);

  const actionPath = [...routePath, 'action'];
  const actionValue = r.required(route, 'action', actionPath);
  const action = actionValue === undefined ? undefined : r.object(actionValue, actionPath, ['weightedTargets']);
  const targetsValue = action && r.required(action, 'weightedTargets', [...actionPath, 'weightedTargets']);
  const targetsList = targetsValue === undefined ? undefined : r.list(targetsValue, [...actionPath, 'weightedTargets']);
  const weightedTargets: WeightedTarget[] = [];
  targetsList?.forEach((item, i) => {
    const path = [...actionPath, 'weightedTargets', i];
    const t = r.object(item, path, ['virtualNode', 'weight', 'port']);
    if (!t) return;
    const node = readName(r, t, 'virtualNode', path);
    const weightValue = r.required(t, 'weight', [...path, 'weight']);
    const weight = weightValue === undefined ? undefined : r.integer(weightValue, [...path, 'weight'], 0, 100);
    const port = t.port === undefined ? undefined : r.integer(t.port, [...path, 'port'], 1, 65535);
    if (node !== undefined && weight !== undefined) weightedTargets.push({ virtualNode: node, weight, ...(port ? { port } : {}) });
  });
  if (targetsList && (targetsList.length < 1 || targetsList.length > 10)) {
    r.fail([...actionPath, 'weightedTargets'], `must list 1 to 10 targets, got ${targetsList.length}`);
  }
  if (targetsList && weightedTargets.length === targetsList.length && weightedTargets.every((t) => t.weight === 0)) {
    r.fail([...actionPath, 'weightedTargets'], 'the weights add up to 0; at least one target needs a weight above 0');
  }
  if (prefix === undefined || !targetsList) return undefined;
  const httpRoute: HttpRoute = { match: { prefix }, action: { weightedTargets } };
  return { kind: 'Route', ...meta, spec: { httpRoute, ...(priority !== undefined ? { priority } : {}) } };
}
