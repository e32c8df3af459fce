// The compiler's entry point: which proxy a node id names, and its Envoy resources.
import type { CloudMapView } from '../discovery/cloud-map/registry';
import type { MeshReader } from '../model/mesh-model';
import { parseNodeId } from '../model/node-id';
import { compileGateway } from './gateway';
import type { ProxyConfig, ProxySettings } from './proxy-config';
import { compileProxyless } from './proxyless';
import { compileSidecar } from './sidecar';
import { UnsupportedFeature } from './unsupported';

export type { ProxyConfig, ProxySettings } from './proxy-config';

/** For compiling without a registry: every Cloud Map service is unregistered (no endpoints). */
export const NO_CLOUD_MAP: CloudMapView = { discover: () => undefined };

export type CompileResult = { readonly ok: true; readonly config: ProxyConfig } | { readonly ok: false; readonly error: string };

/**
 * The Envoy resources of the proxy (sidecar, proxyless client or gateway)
 * `nodeId` names, with Cloud Map services' instances from `cloudMap`.
 */
export function compileProxy(model: MeshReader, cloudMap: CloudMapView, nodeId: string, settings: ProxySettings): CompileResult {
  const id = parseNodeId(nodeId);
  if ('error' in id) return { ok: false, error: id.error };
  if (!model.mesh(id.mesh)) return { ok: false, error: `node id '${nodeId}' names mesh '${id.mesh}', which is not defined` };
  try {
    if (id.type === 'virtualGateway') {
      const gateway = model.virtualGateway(id.mesh, id.name);
      if (!gateway) return { ok: false, error: `node id '${nodeId}' names virtual gateway '${id.name}', which is not defined in mesh '${id.mesh}'` };
      if (settings.proxyless) return { ok: false, error: `node id '${nodeId}' names a virtual gateway, which only an Envoy can run; a proxyless gRPC client names a virtual node` };
      return { ok: true, config: compileGateway(model, cloudMap, gateway, settings) };
    }
    const node = model.virtualNode(id.mesh, id.name);
    if (!node) return { ok: false, error: `node id '${nodeId}' names virtual node '${id.name}', which is not defined in mesh '${id.mesh}'` };
    return { ok: true, config: settings.proxyless ? compileProxyless(model, cloudMap, node, settings) : compileSidecar(model, cloudMap, node, settings) };
  } catch (err) {
    if (err instanceof UnsupportedFeature) return { ok: false, error: `cannot compile ${nodeId}: ${err.message}` };
    throw err;
  }
}
