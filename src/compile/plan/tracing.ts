// meshd's OpenTelemetry tracing (the mesh's spec.meshd.tracing.openTelemetry): every HTTP listener of
// an Envoy sends its spans to the mesh's collector as the virtual node or virtual gateway it runs for,
// through a cluster added to the proxy's clusters. Proxyless gRPC clients get none (they run no Envoy).
import type { MeshReader } from '../../model/mesh-model';
import { meshOpenTelemetry } from '../../model/mesh';
import type { VirtualNode } from '../../model/virtual-node';
import { EGRESS_CONNECT_TIMEOUT_MS } from '../defaults';
import type { CompileMemo } from '../memo';
import { OTEL_COLLECTOR_CLUSTER } from '../names';
import { ipPreferenceOf, meshIpPreference, type AddressFamilyPlan } from './ip-preference';
import { byName } from './order';
import type { ClusterPlan, ListenerPlan, ProxyPlan, TracingPlan } from './types';

/** The proxy the spans come from. */
export interface TracedProxy {
  readonly kind: 'virtualNode' | 'virtualGateway';
  readonly mesh: string;
  readonly name: string;
}

/**
 * How the proxy looks the collector's name up: as its other clusters do, so a virtual node's own service discovery
 * ipPreference wins over the mesh's (App Mesh's rule); a gateway has only the mesh's.
 */
function addressFamilyOf(model: MeshReader, proxy: TracedProxy, node: VirtualNode | undefined): AddressFamilyPlan {
  return node ? ipPreferenceOf(model, node) : meshIpPreference(model, proxy.mesh);
}

/** The tags every span of the proxy carries: which mesh, and which virtual node or gateway, in App Mesh's words. */
function spanTags(proxy: TracedProxy): TracingPlan['tags'] {
  return [
    { name: 'appmesh.mesh', value: proxy.mesh },
    { name: proxy.kind === 'virtualNode' ? 'appmesh.virtual_node' : 'appmesh.virtual_gateway', value: proxy.name },
  ];
}

function withListenerTracing(listener: ListenerPlan, tracing: TracingPlan): ListenerPlan {
  return listener.kind === 'api' ? listener : { ...listener, tracing };
}

/**
 * The plan with the mesh's OpenTelemetry tracing on every HTTP listener and the collector's cluster, or the plan as it
 * is when the mesh has none. The same lists while the plan's and the mesh are the same objects (memo.whileSame).
 */
export function withTracing(model: MeshReader, proxy: TracedProxy, plan: ProxyPlan, memo: CompileMemo): ProxyPlan {
  const mesh = model.mesh(proxy.mesh);
  const otel = meshOpenTelemetry(mesh);
  if (!otel) return plan;
  const key = `tracing\0${proxy.kind}\0${proxy.mesh}\0${proxy.name}`;
  // The virtual node too: its own ipPreference decides the collector's lookup.
  const node = proxy.kind === 'virtualNode' ? model.virtualNode(proxy.mesh, proxy.name) : undefined;
  const traced = memo.whileSame(key, [plan.listeners, plan.clusters, mesh, node], () => {
    const tracing: TracingPlan = {
      kind: 'openTelemetry',
      collectorCluster: OTEL_COLLECTOR_CLUSTER,
      serviceName: proxy.name,
      // A percentage to four decimals (0.07 → 7, not 7.000000000000001).
      randomSamplingPercent: Math.round(otel.samplingRate * 1_000_000) / 10_000,
      tags: spanTags(proxy),
    };
    const { host, port, ip } = otel.collector;
    const collector: ClusterPlan = {
      name: OTEL_COLLECTOR_CLUSTER,
      // Every address the name resolves to (a headless service of several collectors shares the spans).
      discovery: ip
        ? { kind: 'static', address: host, port }
        : {
            kind: 'dns',
            hostname: host,
            port,
            resolution: 'strict',
            lookupFamily: addressFamilyOf(model, proxy, node).dnsLookupFamily,
          },
      connectTimeoutMs: EGRESS_CONNECT_TIMEOUT_MS,
      limits: {},
      // OTLP/gRPC.
      upstreamProtocol: 'http2',
    };
    return {
      listeners: plan.listeners.map((l) => withListenerTracing(l, tracing)),
      clusters: [...plan.clusters.filter((c) => c.name !== OTEL_COLLECTOR_CLUSTER), collector].sort(byName),
    };
  });
  return { ...plan, ...traced };
}
