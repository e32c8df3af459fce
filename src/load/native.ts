// The native dialect: multi-document YAML whose `spec` is exactly App Mesh's API spec.
import { PROTOCOLS, RESOURCE_KINDS, type PortMapping, type ResourceKind, type SourceLocation } from '../model/common';
import { EGRESS_FILTER_TYPES, type Mesh } from '../model/mesh';
import type { Resource } from '../model/mesh-model';
import type { Route, WeightedTarget } from '../model/route';
import { DNS_RESPONSE_TYPES, type Backend, type VirtualNode, type VirtualNodeSpec } from '../model/virtual-node';
import type { VirtualRouter } from '../model/virtual-router';
import type { VirtualService, VirtualServiceSpec } from '../model/virtual-service';
import { FieldReader } from './field-reader';
import type { Problem } from './problems';
import type { FieldPath, ParsedDocument } from './yaml-documents';

type Plain = Record<string, unknown>;

interface Meta {
  mesh: string;
  name: string;
  source: SourceLocation;
}

const TOP: FieldPath = [];
const SPEC: FieldPath = ['spec'];

/** Decodes one document into a resource, or records why it cannot (and returns undefined). */
export function decodeNativeDocument(doc: ParsedDocument, problems: Problem[]): Resource | undefined {
  const before = problems.length;
  const r = new FieldReader(doc, problems);
  const top = r.object(doc.value, TOP, ['kind', 'mesh', 'name', 'virtualRouter', 'spec']);
  const kind = r.field(top, 'kind', TOP, r.oneOfValues<ResourceKind>(RESOURCE_KINDS), 'required');
  const name = r.field(top, 'name', TOP, r.aString, 'required');
  if (!top || !kind || name === undefined) return undefined;
  r.setResource(kind === 'Route' ? `Route/?/${name}` : `${kind}/${name}`);
  const router = kind === 'Route' ? r.field(top, 'virtualRouter', TOP, r.aString, 'required') : undefined;
  if (router !== undefined) r.setResource(`Route/${router}/${name}`);

  // A Mesh may leave out `mesh`: it is its own name.
  const mesh = r.field(top, 'mesh', TOP, r.aString, kind === 'Mesh' ? 'optional' : 'required') ?? (kind === 'Mesh' ? name : undefined);
  if (kind === 'Mesh' && mesh !== name) r.fail(['mesh'], `a Mesh's 'mesh' must equal its name '${name}'`);
  if (kind !== 'Route' && top.virtualRouter !== undefined) r.fail(['virtualRouter'], 'only a Route names a virtualRouter');
  const spec = top.spec ?? {};
  if (mesh === undefined) return undefined;

  const meta: Meta = { mesh, name, source: doc.locate(TOP) };
  const resource: Resource | undefined =
    kind === 'Mesh'
      ? decodeMesh(r, spec, meta)
      : kind === 'VirtualService'
        ? decodeVirtualService(r, spec, meta)
        : kind === 'VirtualNode'
          ? decodeVirtualNode(r, spec, meta)
          : kind === 'VirtualRouter'
            ? decodeVirtualRouter(r, spec, meta)
            : decodeRoute(r, spec, meta, router ?? '');
  // A resource with any problem is not returned: no partially understood resource reaches the model.
  return problems.length === before ? resource : undefined;
}

function decodeMesh(r: FieldReader, value: unknown, meta: Meta): Mesh | undefined {
  const spec = r.object(value, SPEC, ['egressFilter']);
  const filter = r.field(spec, 'egressFilter', SPEC, r.anObject(['type']), 'optional');
  const type = r.field(filter, 'type', [...SPEC, 'egressFilter'], r.oneOfValues(EGRESS_FILTER_TYPES), 'required');
  return spec && { kind: 'Mesh', ...meta, spec: type ? { egressFilter: { type } } : {} };
}

function decodeVirtualService(r: FieldReader, value: unknown, meta: Meta): VirtualService | undefined {
  const spec = r.object(value, SPEC, ['provider']);
  const path = [...SPEC, 'provider'];
  const provider = r.field(spec, 'provider', SPEC, r.anObject(['virtualNode', 'virtualRouter']), 'optional');
  if (provider && Object.keys(provider).length !== 1) r.fail(path, 'must name exactly one of virtualNode, virtualRouter');
  const node = r.field(provider, 'virtualNode', path, r.anObject(['virtualNodeName']), 'optional');
  const nodeName = r.field(node, 'virtualNodeName', [...path, 'virtualNode'], r.aString, 'required');
  const router = r.field(provider, 'virtualRouter', path, r.anObject(['virtualRouterName']), 'optional');
  const routerName = r.field(router, 'virtualRouterName', [...path, 'virtualRouter'], r.aString, 'required');
  const decoded: VirtualServiceSpec['provider'] =
    nodeName !== undefined ? { virtualNode: { virtualNodeName: nodeName } } : routerName !== undefined ? { virtualRouter: { virtualRouterName: routerName } } : undefined;
  return spec && { kind: 'VirtualService', ...meta, spec: decoded ? { provider: decoded } : {} };
}

function decodePortMapping(r: FieldReader, parent: Plain | undefined, base: FieldPath): PortMapping | undefined {
  const pm = r.field(parent, 'portMapping', base, r.anObject(['port', 'protocol']), 'required');
  const path = [...base, 'portMapping'];
  const port = r.field(pm, 'port', path, r.anInteger(1, 65535), 'required');
  const protocol = r.field(pm, 'protocol', path, r.oneOfValues(PROTOCOLS), 'required');
  return port !== undefined && protocol !== undefined ? { port, protocol } : undefined;
}

function decodeListeners(r: FieldReader, spec: Plain | undefined): { portMapping: PortMapping }[] {
  const path = [...SPEC, 'listeners'];
  const listeners: { portMapping: PortMapping }[] = [];
  const ports = new Set<number>();
  r.field(spec, 'listeners', SPEC, r.aList, 'optional')?.forEach((item, i) => {
    const portMapping = decodePortMapping(r, r.object(item, [...path, i], ['portMapping']), [...path, i]);
    if (!portMapping) return;
    if (ports.has(portMapping.port)) r.fail([...path, i, 'portMapping', 'port'], `port ${portMapping.port} is used by another listener`);
    ports.add(portMapping.port);
    listeners.push({ portMapping });
  });
  return listeners;
}

function decodeVirtualNode(r: FieldReader, value: unknown, meta: Meta): VirtualNode | undefined {
  const spec = r.object(value, SPEC, ['listeners', 'serviceDiscovery', 'backends']);
  const listeners = decodeListeners(r, spec);

  const sdPath = [...SPEC, 'serviceDiscovery'];
  const sd = r.field(spec, 'serviceDiscovery', SPEC, r.anObject(['dns']), 'optional');
  const dns = r.field(sd, 'dns', sdPath, r.anObject(['hostname', 'responseType']), 'required');
  const hostname = r.field(dns, 'hostname', [...sdPath, 'dns'], r.aString, 'required');
  const responseType = r.field(dns, 'responseType', [...sdPath, 'dns'], r.oneOfValues(DNS_RESPONSE_TYPES), 'optional');
  const serviceDiscovery: VirtualNodeSpec['serviceDiscovery'] =
    hostname === undefined ? undefined : { dns: { hostname, ...(responseType ? { responseType } : {}) } };
  if (spec && !sd && listeners.length > 0) {
    r.fail([...SPEC, 'listeners'], 'a virtual node with listeners needs spec.serviceDiscovery (how callers find it)');
  }

  const backendsPath = [...SPEC, 'backends'];
  const backends: Backend[] = [];
  r.field(spec, 'backends', SPEC, r.aList, 'optional')?.forEach((item, i) => {
    const backend = r.object(item, [...backendsPath, i], ['virtualService']);
    const vs = r.field(backend, 'virtualService', [...backendsPath, i], r.anObject(['virtualServiceName']), 'required');
    const vsName = r.field(vs, 'virtualServiceName', [...backendsPath, i, 'virtualService'], r.aString, 'required');
    if (vsName !== undefined) backends.push({ virtualService: { virtualServiceName: vsName } });
  });

  return spec && { kind: 'VirtualNode', ...meta, spec: { listeners, backends, ...(serviceDiscovery ? { serviceDiscovery } : {}) } };
}

function decodeVirtualRouter(r: FieldReader, value: unknown, meta: Meta): VirtualRouter | undefined {
  const spec = r.object(value, SPEC, ['listeners']);
  const count = Array.isArray(spec?.listeners) ? spec.listeners.length : 0;
  if (spec && count !== 1) r.fail([...SPEC, 'listeners'], `a virtual router has exactly one listener, got ${count}`);
  return spec && { kind: 'VirtualRouter', ...meta, spec: { listeners: decodeListeners(r, spec) } };
}

function decodeRoute(r: FieldReader, value: unknown, meta: Meta, virtualRouter: string): Route | undefined {
  const spec = r.object(value, SPEC, ['priority', 'httpRoute']);
  const priority = r.field(spec, 'priority', SPEC, r.anInteger(0, 1000), 'optional');
  const routePath = [...SPEC, 'httpRoute'];
  const route = r.field(spec, 'httpRoute', SPEC, r.anObject(['match', 'action']), 'required');

  const match = r.field(route, 'match', routePath, r.anObject(['prefix']), 'required');
  const prefixPath = [...routePath, 'match', 'prefix'];
  let prefix = r.field(match, 'prefix', [...routePath, 'match'], r.aString, 'required');
  if (prefix !== undefined && !prefix.startsWith('/')) prefix = r.fail(prefixPath, `must start with '/', got ${JSON.stringify(prefix)}`);

  const actionPath = [...routePath, 'action'];
  const targetsPath = [...actionPath, 'weightedTargets'];
  const action = r.field(route, 'action', routePath, r.anObject(['weightedTargets']), 'required');
  const targets = r.field(action, 'weightedTargets', actionPath, r.aList, 'required');
  const weightedTargets: WeightedTarget[] = [];
  targets?.forEach((item, i) => {
    const path = [...targetsPath, i];
    const t = r.object(item, path, ['virtualNode', 'weight', 'port']);
    const node = r.field(t, 'virtualNode', path, r.aString, 'required');
    const weight = r.field(t, 'weight', path, r.anInteger(0, 100), 'required');
    const port = r.field(t, 'port', path, r.anInteger(1, 65535), 'optional');
    if (node !== undefined && weight !== undefined) weightedTargets.push({ virtualNode: node, weight, ...(port ? { port } : {}) });
  });
  if (targets && (targets.length < 1 || targets.length > 10)) r.fail(targetsPath, `must list 1 to 10 targets, got ${targets.length}`);
  if (targets && weightedTargets.length === targets.length && weightedTargets.every((t) => t.weight === 0)) {
    r.fail(targetsPath, 'the weights add up to 0; at least one target needs a weight above 0');
  }
  if (prefix === undefined || !targets) return undefined;
  return { kind: 'Route', ...meta, virtualRouter, spec: { httpRoute: { match: { prefix }, action: { weightedTargets } }, ...(priority !== undefined ? { priority } : {}) } };
}
