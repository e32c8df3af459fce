// `meshd bootstrap` renders what a real Envoy accepts, from flags or App Mesh's env vars.
import { execFileSync, spawnSync } from 'node:child_process';
import { parse } from 'yaml';
import { describeWithEnvoy, envoyValidate } from '../helpers/envoy';
import { MESHD_BIN } from '../helpers/processes';

function bootstrap(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('APPMESH_') && !k.startsWith('ENVOY_') && k !== 'MESHD_XDS_ADDRESS'));
  const r = spawnSync(process.execPath, [MESHD_BIN, 'bootstrap', ...args], { encoding: 'utf8', env: { ...cleanEnv, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('meshd bootstrap', () => {
  it('points Envoy at meshd over ADS with the node id and cluster', () => {
    const out = bootstrap(['--node', 'mesh/apps/virtualNode/front', '--xds-address', 'meshd.local:18000']);
    expect(out.status).toBe(0);
    const doc = parse(out.stdout);
    expect(doc.node).toEqual({
      id: 'mesh/apps/virtualNode/front',
      cluster: 'mesh/apps/virtualNode/front',
      metadata: { APPMESH_ENVOY_INGRESS_PORT: '15000', APPMESH_ENVOY_EGRESS_PORT: '15001' },
    });
    expect(doc.dynamic_resources.ads_config.grpc_services).toEqual([{ envoy_grpc: { cluster_name: 'meshd_xds' } }]);
    expect(doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({
      address: 'meshd.local',
      port_value: 18000,
    });
    expect(doc.admin.address.socket_address).toEqual({ address: '0.0.0.0', port_value: 9901 });
  });

  it("reads App Mesh's environment variables when no flags are given", () => {
    const out = bootstrap([], {
      APPMESH_RESOURCE_ARN: 'arn:aws:appmesh:us-east-1:111122223333:mesh/apps/virtualNode/front',
      APPMESH_VIRTUAL_NODE_NAME: 'mesh/apps/virtualNode/ignored',
      APPMESH_VIRTUAL_NODE_CLUSTER: 'front-cluster',
      ENVOY_ADMIN_ACCESS_PORT: '9902',
      MESHD_XDS_ADDRESS: '10.0.0.5:18000',
    });
    expect(out.status).toBe(0);
    const doc = parse(out.stdout);
    expect(doc.node.id).toBe('arn:aws:appmesh:us-east-1:111122223333:mesh/apps/virtualNode/front');
    expect(doc.node.cluster).toBe('front-cluster');
    expect(doc.admin.address.socket_address.port_value).toBe(9902);
  });

  it('explains a missing or malformed node id in one line, without a stack trace', () => {
    const none = bootstrap([]);
    expect(none.status).toBe(2);
    expect(none.stderr).toBe('meshd bootstrap: no node id: pass --node mesh/<mesh>/virtualNode/<name> or set APPMESH_VIRTUAL_NODE_NAME\n');
    const bad = bootstrap(['--node', 'front']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^meshd bootstrap: node id 'front' is not of the form mesh\/<mesh>\/virtualNode\/<name>.*\n$/);
    const badAddress = bootstrap(['--node', 'mesh/a/virtualNode/b', '--xds-address', 'nohostport']);
    expect(badAddress.stderr).toBe("meshd bootstrap: --xds-address must be host:port, got 'nohostport'\n");
  });
});

describeWithEnvoy('meshd bootstrap with a real Envoy', (envoyBin) => {
  it('renders a bootstrap that `envoy --mode validate` accepts', () => {
    const yaml = execFileSync(process.execPath, [MESHD_BIN, 'bootstrap', '--node', 'mesh/apps/virtualNode/front'], { encoding: 'utf8' });
    const result = envoyValidate(envoyBin, yaml);
    expect(result.output).toContain('OK');
    expect(result.ok).toBe(true);
  });
});
