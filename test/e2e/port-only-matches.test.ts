// Matches of only a port, as App Mesh's API and its howto-multiple-listeners walkthrough write
// them (the route and gateway route documents below are that walkthrough's App Mesh CLI JSON),
// on a real Envoy: a gateway with two listeners sends everything on each port (any path, kept
// as sent) to the router listener its route names, whose port-only route picks the node.
import { describeWithEnvoy } from '../helpers/envoy';
import { removeReadableTmpDirs } from '../helpers/netns';
import { freePort } from '../helpers/processes';
import {
  answeredBy,
  httpRequest,
  startSidecar,
  targetNodeYaml,
  type HttpResult,
  type Sidecar,
} from '../helpers/sidecar-harness';
import { startHttpUpstream, type EchoBody, type HttpUpstream } from '../helpers/upstreams';

const MESH = 'multi';
const NODE_ID = `mesh/${MESH}/virtualGateway/teller-gateway`;
const SERVICE = `food.${MESH}.local`;

/** One document of App Mesh CLI JSON (`aws appmesh create-* --cli-input-json`), as a document of the mesh file. */
const cli = (input: object) => `${JSON.stringify({ meshName: MESH, ...input })}\n`;

function meshYaml(gatewayPorts: [number, number], fruit: HttpUpstream, vegetable: HttpUpstream): string {
  return [
    `kind: Mesh\nname: ${MESH}\n`,
    targetNodeYaml(MESH, 'fruit', fruit.port),
    targetNodeYaml(MESH, 'vegetable', vegetable.port),
    cli({
      virtualRouterName: 'food',
      spec: {
        listeners: [
          { portMapping: { port: 3333, protocol: 'http' } },
          { portMapping: { port: 4444, protocol: 'http' } },
        ],
      },
    }),
    cli({ virtualServiceName: SERVICE, spec: { provider: { virtualRouter: { virtualRouterName: 'food' } } } }),
    cli({
      virtualRouterName: 'food',
      routeName: 'fruit-route',
      spec: {
        httpRoute: { action: { weightedTargets: [{ virtualNode: 'fruit', weight: 1 }] }, match: { port: 3333 } },
      },
    }),
    cli({
      virtualRouterName: 'food',
      routeName: 'vegetable-route',
      spec: {
        httpRoute: { action: { weightedTargets: [{ virtualNode: 'vegetable', weight: 1 }] }, match: { port: 4444 } },
      },
    }),
    cli({
      virtualGatewayName: 'teller-gateway',
      spec: { listeners: gatewayPorts.map((port) => ({ portMapping: { port, protocol: 'http' } })) },
    }),
    cli({
      virtualGatewayName: 'teller-gateway',
      gatewayRouteName: 'fruit-gateway-route',
      spec: {
        httpRoute: {
          match: { port: gatewayPorts[0] },
          action: { target: { virtualService: { virtualServiceName: SERVICE }, port: 3333 } },
        },
      },
    }),
    cli({
      virtualGatewayName: 'teller-gateway',
      gatewayRouteName: 'vegetable-gateway-route',
      spec: {
        httpRoute: {
          match: { port: gatewayPorts[1] },
          action: { target: { virtualService: { virtualServiceName: SERVICE }, port: 4444 } },
        },
      },
    }),
  ].join('---\n');
}

function echoed(r: HttpResult): EchoBody {
  if (r.status !== 200) throw new Error(`expected 200, got ${r.status}: ${r.body.slice(0, 300)}`);
  return JSON.parse(r.body) as EchoBody;
}

describeWithEnvoy('port-only matches on a real Envoy', (envoyBin) => {
  let fruit: HttpUpstream;
  let vegetable: HttpUpstream;
  let ports: [number, number];
  let gateway: Sidecar;

  beforeAll(async () => {
    fruit = await startHttpUpstream('fruit');
    vegetable = await startHttpUpstream('vegetable');
    ports = [await freePort(), await freePort()];
    gateway = await startSidecar({
      envoyBin,
      meshYaml: meshYaml(ports, fruit, vegetable),
      nodeId: NODE_ID,
      ready: async () => {
        const answers = await Promise.all(
          ports.map((port) => httpRequest(port, 'teller.example.com', { timeoutMs: 3000 })),
        );
        return answers.every((a) => a.status === 200);
      },
    });
  }, 60000);

  afterAll(async () => {
    await gateway?.stop();
    await fruit?.close();
    await vegetable?.close();
    removeReadableTmpDirs();
  });

  it.each([
    ['/', 0, 'fruit'],
    ['/apple?ripe=1', 0, 'fruit'],
    ['/deep/down/any/path', 0, 'fruit'],
    ['/', 1, 'vegetable'],
    ['/carrot?fresh=yes', 1, 'vegetable'],
    ['/root/and/leaf?x=1&y=2', 1, 'vegetable'],
  ])('GET %s on gateway listener %i reaches %s, path kept', async (path, listener, server) => {
    const answer = await httpRequest(ports[listener]!, 'teller.example.com', { path });
    expect(answeredBy(answer)).toBe(server);
    expect(echoed(answer)).toMatchObject({ server, path, headers: { host: SERVICE } });
  });
});
