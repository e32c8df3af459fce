// App Mesh's transparent mode on real processes: an app in its own network namespace calls
// http://<virtual service>:<port>/ with no proxy settings; App Mesh's iptables rules send the
// connection to the Envoy sidecar (uid 1337, exempt from capture) on 15001, and the mesh —
// not DNS — decides where it goes. The virtual service names resolve to TEST-NET-2 addresses
// where nothing answers, so a request that is not routed by the sidecar cannot succeed.
// Upstream apps run in the root namespace on the veth's host address.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { createNetns, describeWithNetns, readableTmpDir, removeReadableTmpDirs, type Netns } from '../helpers/netns';
import {
  nsHttpGet,
  nsTcpRead,
  startMeshdForNetns,
  startSidecarInNetns,
  tally,
  type MeshdForNetns,
  type NsSidecar,
} from '../helpers/sidecars';
import { waitFor } from '../helpers/processes';

const MESH = 'transparent';
const CLIENT_NODE = `mesh/${MESH}/virtualNode/client`;
const HTTP_SERVICE = 'backend.demo.local';
const TCP_SERVICE = 'ledger.demo.local';
const OUTSIDE_HOST = 'outside.example';
// Where the app's resolver sends the virtual service names: nothing listens there.
const HTTP_SERVICE_IP = '198.51.100.10';
const TCP_SERVICE_IP = '198.51.100.11';
const TCP_ROUTER_PORT = 7000;

interface Listening {
  port: number;
  close(): Promise<void>;
}

async function httpServer(name: string, host: string): Promise<Listening> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

/** A TCP server that writes its name to every connection and closes it. */
async function tcpServer(name: string, host: string): Promise<Listening> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => (sockets.forEach((s) => s.destroy()), server.close(() => resolve()))),
  };
}

interface Ports {
  v1: number;
  v2: number;
  ledger: number;
  router: number;
}

function meshYaml(
  hostIp: string,
  ports: Ports,
  weights: [number, number],
  egressFilter: 'DROP_ALL' | 'ALLOW_ALL',
): string {
  return `kind: Mesh
name: ${MESH}
spec: { egressFilter: { type: ${egressFilter} } }
---
kind: VirtualNode
mesh: ${MESH}
name: client
spec:
  backends:
    - virtualService: { virtualServiceName: ${HTTP_SERVICE} }
    - virtualService: { virtualServiceName: ${TCP_SERVICE} }
---
kind: VirtualNode
mesh: ${MESH}
name: backend-v1
spec:
  listeners: [{ portMapping: { port: ${ports.v1}, protocol: http } }]
  serviceDiscovery: { dns: { hostname: ${hostIp} } }
---
kind: VirtualNode
mesh: ${MESH}
name: backend-v2
spec:
  listeners: [{ portMapping: { port: ${ports.v2}, protocol: http } }]
  serviceDiscovery: { dns: { hostname: ${hostIp} } }
---
kind: VirtualRouter
mesh: ${MESH}
name: backend
spec:
  listeners: [{ portMapping: { port: ${ports.router}, protocol: http } }]
---
kind: Route
mesh: ${MESH}
virtualRouter: backend
name: split
spec:
  httpRoute:
    match: { prefix: / }
    action:
      weightedTargets:
        - { virtualNode: backend-v1, weight: ${weights[0]} }
        - { virtualNode: backend-v2, weight: ${weights[1]} }
---
kind: VirtualService
mesh: ${MESH}
name: ${HTTP_SERVICE}
spec: { provider: { virtualRouter: { virtualRouterName: backend } } }
---
kind: VirtualNode
mesh: ${MESH}
name: ledger
spec:
  listeners: [{ portMapping: { port: ${ports.ledger}, protocol: tcp } }]
  serviceDiscovery: { dns: { hostname: ${hostIp} } }
---
kind: VirtualRouter
mesh: ${MESH}
name: ledger
spec:
  listeners: [{ portMapping: { port: ${TCP_ROUTER_PORT}, protocol: tcp } }]
---
kind: Route
mesh: ${MESH}
virtualRouter: ledger
name: all
spec:
  tcpRoute:
    action: { weightedTargets: [{ virtualNode: ledger, weight: 1 }] }
---
kind: VirtualService
mesh: ${MESH}
name: ${TCP_SERVICE}
spec: { provider: { virtualRouter: { virtualRouterName: ledger } } }
`;
}

describeWithNetns(
  'transparent mode: iptables capture → Envoy sidecar in a namespace → the mesh decides',
  (envoyBin) => {
    let ns: Netns;
    let meshd: MeshdForNetns;
    let sidecar: NsSidecar;
    let meshFile: string;
    let ports: Ports;
    let outsidePort: number;
    const servers: Listening[] = [];
    const writeMesh = (weights: [number, number], egressFilter: 'DROP_ALL' | 'ALLOW_ALL' = 'DROP_ALL') =>
      fs.writeFileSync(meshFile, meshYaml(ns.hostIp, ports, weights, egressFilter));
    const httpService = (p = '/') => `http://${HTTP_SERVICE}:${ports.router}${p}`;

    beforeAll(async () => {
      ns = await createNetns();
      ns.setHosts({ [HTTP_SERVICE]: HTTP_SERVICE_IP, [TCP_SERVICE]: TCP_SERVICE_IP, [OUTSIDE_HOST]: ns.hostIp });
      const v1 = await httpServer('v1', ns.hostIp);
      const v2 = await httpServer('v2', ns.hostIp);
      const ledger = await tcpServer('ledger', ns.hostIp);
      // Something outside the mesh on the host: on a port nobody declared, and on the port the
      // virtual router listens on (so the router's port carries mesh and non-mesh traffic).
      const outside = await httpServer('outside', ns.hostIp);
      const outsideOnRouterPort = await httpServer('outside', ns.hostIp);
      servers.push(v1, v2, ledger, outside, outsideOnRouterPort);
      ports = { v1: v1.port, v2: v2.port, ledger: ledger.port, router: outsideOnRouterPort.port };
      outsidePort = outside.port;

      meshFile = path.join(readableTmpDir(), 'mesh.yaml');
      writeMesh([0, 100]);
      meshd = await startMeshdForNetns(meshFile);
      ns.installAppMeshRules({ appPorts: [] }); // the client node has no listeners: egress capture only
      sidecar = await startSidecarInNetns(ns, envoyBin, CLIENT_NODE, meshd.xdsPort);
      let last: unknown;
      await waitFor(
        'the sidecar to route the virtual service',
        async () => {
          const [r] = await nsHttpGet(ns, httpService());
          last = r;
          return r?.status === 200 ? true : undefined;
        },
        30000,
        200,
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}\nlast client result: ${JSON.stringify(last)}\nsidecar log tail:\n${sidecar.logs().slice(-3000)}`,
        );
      });
    });

    afterAll(async () => {
      await ns?.destroy(); // stops the sidecar too
      await meshd?.stop();
      await Promise.all(servers.map((s) => s.close()));
      removeReadableTmpDirs();
    });

    it('installs App Mesh’s capture rules in the namespace', () => {
      const rules = ns.natRules();
      expect(rules).toContain('-A OUTPUT -p tcp -m addrtype ! --dst-type LOCAL -j APPMESH_EGRESS');
      expect(rules).toContain('-A APPMESH_EGRESS -m owner --uid-owner 1337 -j RETURN');
      expect(rules).toContain('-A APPMESH_EGRESS -p tcp -j REDIRECT --to-ports 15001');
    });

    it('routes a plain GET of http://<virtual service>:<port>/ by the mesh’s weights (0/100 → v2), not by DNS', async () => {
      expect(tally(await nsHttpGet(ns, httpService(), 20))).toEqual({ v2: 20 });
    });

    it('follows a weight change in the mesh file (100/0 → v1)', async () => {
      writeMesh([100, 0]);
      await waitFor(
        'the first v1 answer',
        async () => ((await nsHttpGet(ns, httpService()))[0]?.body === 'v1' ? true : undefined),
        15000,
        100,
      );
      expect(tally(await nsHttpGet(ns, httpService(), 20))).toEqual({ v1: 20 });
    });

    it('carries a TCP virtual service (tcpRoute) reached by name and port to its target', async () => {
      expect(tally(await nsTcpRead(ns, TCP_SERVICE, TCP_ROUTER_PORT, 5))).toEqual({ ledger: 5 });
    });

    describe('egress filter DROP_ALL (the default)', () => {
      it('the outside server is reachable from the namespace when the capture is bypassed (uid 1337)', async () => {
        // Without this, the refusals below could be a network problem rather than the mesh.
        expect(tally(await nsHttpGet(ns, `http://${OUTSIDE_HOST}:${outsidePort}/`, 1, { asProxyUser: true }))).toEqual({
          outside: 1,
        });
        expect(tally(await nsHttpGet(ns, `http://${OUTSIDE_HOST}:${ports.router}/`, 1, { asProxyUser: true }))).toEqual(
          { outside: 1 },
        );
      });

      it('refuses a connection to an undeclared port (no answer from the outside server)', async () => {
        const results = await nsHttpGet(ns, `http://${OUTSIDE_HOST}:${outsidePort}/`, 3);
        for (const r of results) {
          expect(r.body).not.toBe('outside');
          expect(r.error).toBeDefined();
        }
      });

      it('answers 404 for an undeclared host on a declared port', async () => {
        expect(tally(await nsHttpGet(ns, `http://${OUTSIDE_HOST}:${ports.router}/`, 3))).toEqual({ 'HTTP 404': 3 });
      });
    });

    describe('egress filter ALLOW_ALL', () => {
      beforeAll(async () => {
        writeMesh([100, 0], 'ALLOW_ALL');
        await waitFor(
          'the undeclared port to pass through',
          async () =>
            (await nsHttpGet(ns, `http://${OUTSIDE_HOST}:${outsidePort}/`))[0]?.body === 'outside' ? true : undefined,
          15000,
          200,
        );
      });

      it('passes a connection to an undeclared port through to its original destination', async () => {
        expect(tally(await nsHttpGet(ns, `http://${OUTSIDE_HOST}:${outsidePort}/`, 5))).toEqual({ outside: 5 });
      });

      it('passes an undeclared host on a declared port through to its original destination', async () => {
        expect(tally(await nsHttpGet(ns, `http://${OUTSIDE_HOST}:${ports.router}/`, 5))).toEqual({ outside: 5 });
      });

      it('still routes the virtual services by the mesh', async () => {
        expect(tally(await nsHttpGet(ns, httpService(), 10))).toEqual({ v1: 10 });
        expect(tally(await nsTcpRead(ns, TCP_SERVICE, TCP_ROUTER_PORT, 3))).toEqual({ ledger: 3 });
      });

      it('refuses the undeclared port again once the mesh is back to DROP_ALL', async () => {
        writeMesh([100, 0], 'DROP_ALL');
        await waitFor(
          'the undeclared port to be refused again',
          async () =>
            (await nsHttpGet(ns, `http://${OUTSIDE_HOST}:${outsidePort}/`))[0]?.error !== undefined ? true : undefined,
          15000,
          200,
        );
        expect(tally(await nsHttpGet(ns, httpService(), 5))).toEqual({ v1: 5 });
      });
    });
  },
);
