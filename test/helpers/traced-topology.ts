// The gateway → front → color topology the tracing e2e tests share: real Envoys for a virtual
// gateway and the sidecars of front and color, each in a network namespace on one bridge network
// (App Mesh's capture rules in the sidecars' namespaces), fed by a real meshd over ADS, with a
// trace receiver listening on the bridge's root-namespace address under a host name each
// namespace's hosts file maps to it. color runs the netns fixture app; front runs a forwarding
// app that calls color for every request (passing on whatever trace headers it was written for).
//
// What differs between the tests is an option: the receiver, the mesh's spec (a tracing
// extension or none), the bootstrap variables each Envoy starts with, and the forwarding app.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  createBridgeNetwork,
  createNetns,
  readableTmpDir,
  removeReadableTmpDirs,
  type BridgeNetwork,
  type Netns,
} from './netns';
import { waitFor } from './processes';
import {
  APP_JS,
  request,
  startMeshdForNetns,
  startSidecarInNetns,
  type HttpResult,
  type MeshdForNetns,
  type NsSidecar,
} from './sidecars';

/** The Envoys' drain time (seconds): connections of a replaced listener are closed this long after an update. */
export const LISTENER_DRAIN_S = 1;

/** Waits until every connection of a listener replaced just now has been closed (LISTENER_DRAIN_S, and a margin). */
export const afterListenerDrain = (): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, LISTENER_DRAIN_S * 1000 + 1000));

export const TOPOLOGY_APP_PORT = 8080;
export const TOPOLOGY_GATEWAY_PORT = 8088;

/** The three Envoys of the topology, in the order `sidecars` holds them. */
export type TopologyNode = 'gateway' | 'front' | 'color';
export const TOPOLOGY_NODES: readonly TopologyNode[] = ['gateway', 'front', 'color'];

/**
 * The mesh: front (a backend of color), color, their virtual services, and a virtual gateway
 * routing everything to front. `meshSpec` is the Mesh's `spec:` block (e.g. `spec: {}\n`).
 */
export function topologyMeshYaml(mesh: string, ips: { front: string; color: string }, meshSpec: string): string {
  return `kind: Mesh
name: ${mesh}
${meshSpec}---
kind: VirtualNode
mesh: ${mesh}
name: front
spec:
  listeners: [{ portMapping: { port: ${TOPOLOGY_APP_PORT}, protocol: http } }]
  serviceDiscovery: { dns: { hostname: ${ips.front} } }
  backends: [{ virtualService: { virtualServiceName: color.${mesh}.local } }]
---
kind: VirtualService
mesh: ${mesh}
name: front.${mesh}.local
spec: { provider: { virtualNode: { virtualNodeName: front } } }
---
kind: VirtualNode
mesh: ${mesh}
name: color
spec:
  listeners: [{ portMapping: { port: ${TOPOLOGY_APP_PORT}, protocol: http } }]
  serviceDiscovery: { dns: { hostname: ${ips.color} } }
---
kind: VirtualService
mesh: ${mesh}
name: color.${mesh}.local
spec: { provider: { virtualNode: { virtualNodeName: color } } }
---
kind: VirtualGateway
mesh: ${mesh}
name: gateway
spec:
  listeners: [{ portMapping: { port: ${TOPOLOGY_GATEWAY_PORT}, protocol: http } }]
---
kind: GatewayRoute
mesh: ${mesh}
virtualGateway: gateway
name: to-front
spec:
  httpRoute:
    match: { prefix: / }
    action: { target: { virtualService: { virtualServiceName: front.${mesh}.local } } }
`;
}

export interface TracedTopologyOptions<R extends { port: number; close(): Promise<void> }> {
  envoyBin: string;
  mesh: string;
  /** The receiver's host name in every namespace's hosts file. */
  collectorHost: string;
  /** Starts the trace receiver on the given (bridge) address. */
  startReceiver: (host: string) => Promise<R>;
  /** The Mesh's `spec:` block, once the receiver listens (default `spec: {}`). */
  meshSpec?: (receiver: R) => string;
  /** front's app: a script file, or its source (written to a readable temp file). */
  forwardingApp: { file: string } | { source: string };
  /** The bootstrap variables of one node's Envoy (App Mesh's, as a task definition would set them). */
  bootstrapEnv?: (node: TopologyNode, receiver: R) => Readonly<Record<string, string>> | undefined;
}

/**
 * The topology, built by `start` and torn down by `stop` (which undoes whatever `start` got to, so
 * a failed `beforeAll` leaves nothing running). Fields are set once `start` has resolved.
 */
export class TracedTopology<R extends { port: number; close(): Promise<void> }> {
  bridge!: BridgeNetwork;
  readonly namespaces: Netns[] = [];
  gatewayNs!: Netns;
  frontNs!: Netns;
  colorNs!: Netns;
  meshd!: MeshdForNetns;
  meshFile!: string;
  receiver!: R;
  /** gateway, front, color. */
  readonly sidecars: NsSidecar[] = [];

  constructor(private readonly opts: TracedTopologyOptions<R>) {}

  ips(): { front: string; color: string } {
    return { front: this.frontNs.nsIp, color: this.colorNs.nsIp };
  }

  /** The mesh file's text for a Mesh spec (write it to `meshFile` to hot-reload meshd). */
  meshYaml(meshSpec: string): string {
    return topologyMeshYaml(this.opts.mesh, this.ips(), meshSpec);
  }

  /** One request from the test (outside the mesh) to the gateway's listener. */
  throughGateway(pathName: string): Promise<HttpResult> {
    return request({ host: this.gatewayNs.nsIp, port: TOPOLOGY_GATEWAY_PORT, path: pathName, timeoutMs: 15000 });
  }

  async start(): Promise<void> {
    const { envoyBin, mesh, collectorHost } = this.opts;
    this.bridge = await createBridgeNetwork();
    for (let i = 0; i < 3; i++) this.namespaces.push(await createNetns({ bridge: this.bridge }));
    [this.gatewayNs, this.frontNs, this.colorNs] = this.namespaces as [Netns, Netns, Netns];
    this.receiver = await this.opts.startReceiver(this.bridge.hostIp);
    for (const ns of this.namespaces) ns.setHosts({ [collectorHost]: this.bridge.hostIp });

    const dir = readableTmpDir();
    this.meshFile = path.join(dir, 'mesh.yaml');
    fs.writeFileSync(this.meshFile, this.meshYaml(this.opts.meshSpec?.(this.receiver) ?? 'spec: {}\n'));
    let appFile: string;
    if ('file' in this.opts.forwardingApp) appFile = this.opts.forwardingApp.file;
    else {
      appFile = path.join(dir, 'forwarding-app.js');
      fs.writeFileSync(appFile, this.opts.forwardingApp.source, { mode: 0o644 });
    }
    this.meshd = await startMeshdForNetns(this.meshFile);

    // color: the netns fixture app, answering `color:8080`.
    this.colorNs.installAppMeshRules({ appPorts: [TOPOLOGY_APP_PORT] });
    const colorApp = this.colorNs.spawn(process.execPath, [APP_JS, 'color', '9000', String(TOPOLOGY_APP_PORT)]);
    await colorApp.waitForOutput('app color listening');
    // front: calls color.<mesh>.local (at color's address: front's egress capture takes it to its sidecar).
    this.frontNs.installAppMeshRules({ appPorts: [TOPOLOGY_APP_PORT] });
    const frontApp = this.frontNs.spawn(process.execPath, [
      appFile,
      'front',
      String(TOPOLOGY_APP_PORT),
      this.colorNs.nsIp,
      String(TOPOLOGY_APP_PORT),
      `color.${mesh}.local`,
    ]);
    await frontApp.waitForOutput('app front listening');

    const nodeIds: Record<TopologyNode, string> = {
      gateway: `mesh/${mesh}/virtualGateway/gateway`,
      front: `mesh/${mesh}/virtualNode/front`,
      color: `mesh/${mesh}/virtualNode/color`,
    };
    const nsOf: Record<TopologyNode, Netns> = { gateway: this.gatewayNs, front: this.frontNs, color: this.colorNs };
    const started = await Promise.all(
      TOPOLOGY_NODES.map((node) => {
        const bootstrapEnv = this.opts.bootstrapEnv?.(node, this.receiver);
        return startSidecarInNetns(nsOf[node], envoyBin, nodeIds[node], this.meshd.xdsPort, {
          concurrency: 1,
          // A listener update drains the old listener's connections; Envoy's default (gradual, over 10 minutes) lets
          // kept-alive connections between the Envoys carry the old configuration, tracer and sampling rate included,
          // long after an update. Closing them within a second lets a test wait for the new configuration to be the
          // only one in use (afterListenerDrain).
          envoyArgs: ['--drain-strategy', 'immediate', '--drain-time-s', String(LISTENER_DRAIN_S)],
          ...(bootstrapEnv ? { bootstrapEnv } : {}),
        });
      }),
    );
    this.sidecars.push(...started);
    await waitFor(
      'a request through gateway → front → color to succeed',
      async () => {
        const r = await this.throughGateway('/warm-up').catch(() => undefined);
        return r?.status === 200 ? r : undefined;
      },
      30000,
      200,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.sidecars.map((s) => s.stop()));
    for (const ns of this.namespaces) await ns.destroy();
    await this.bridge?.destroy();
    await this.meshd?.stop();
    await this.receiver?.close();
    removeReadableTmpDirs();
  }
}
