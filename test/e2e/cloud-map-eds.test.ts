// A backend found through Cloud Map becomes an EDS cluster served over the same ADS stream.
// Until the local Cloud Map registry exists (issue 7) its assignment is empty: Envoy must
// accept and ACK it, warm the cluster, and answer 503 "no healthy upstream" for that service
// while the other backends keep working.
import { describeWithEnvoy } from '../helpers/envoy';
import { answeredBy, startSidecar, targetNodeYaml, type Sidecar } from '../helpers/sidecar-harness';
import { startHttpUpstream, type HttpUpstream } from '../helpers/upstreams';

const MESH = 'cm';
const NODE_ID = `mesh/${MESH}/virtualNode/client`;

function meshYaml(dnsPort: number): string {
  return [
    `kind: Mesh\nname: ${MESH}\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: client\nspec:\n  backends:\n    - virtualService: { virtualServiceName: orders.cm.local }\n    - virtualService: { virtualServiceName: users.cm.local }\n`,
    `kind: VirtualNode\nmesh: ${MESH}\nname: orders\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { awsCloudMap: { namespaceName: cm.local, serviceName: orders } }\n`,
    targetNodeYaml(MESH, 'users', dnsPort),
    `kind: VirtualService\nmesh: ${MESH}\nname: orders.cm.local\nspec: { provider: { virtualNode: { virtualNodeName: orders } } }\n`,
    `kind: VirtualService\nmesh: ${MESH}\nname: users.cm.local\nspec: { provider: { virtualNode: { virtualNodeName: users } } }\n`,
  ].join('---\n');
}

describeWithEnvoy('Cloud Map discovery as EDS over ADS (empty until the registry arrives)', (envoyBin) => {
  let users: HttpUpstream;
  let sidecar: Sidecar;

  beforeAll(async () => {
    users = await startHttpUpstream('users');
    sidecar = await startSidecar({ envoyBin, meshYaml: meshYaml(users.port), nodeId: NODE_ID, ready: { host: 'users.cm.local' } });
  }, 60000);

  afterAll(async () => {
    await sidecar?.stop();
    await users?.close();
  });

  it('Envoy ACKs the endpoints meshd sends for the Cloud Map cluster', async () => {
    expect((await sidecar.proxyStatus())?.EDS?.state).toBe('SYNCED');
  });

  it('answers 503 for the Cloud Map service, which has no endpoints yet, and keeps the DNS one working', async () => {
    const orders = await sidecar.request('orders.cm.local');
    expect(orders.status).toBe(503);
    expect(orders.body).toBe('no healthy upstream');
    expect(answeredBy(await sidecar.request('users.cm.local'))).toBe('users');
  });

  it('shows the cluster in Envoy with an accepted endpoint update and no hosts', async () => {
    expect(await sidecar.stat('cluster.cds_egress_cm_orders_http_8080.update_success')).toBeGreaterThan(0);
    expect(await sidecar.stat('cluster.cds_egress_cm_orders_http_8080.membership_total')).toBe(0);
  });
});
