// The walking skeleton end to end, on real processes: meshd serving a mesh file, a real
// Envoy bootstrapped by `meshd bootstrap`, two upstream apps on loopback. Editing the YAML
// must move live traffic; broken YAML must not.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeWithEnvoy, startEnvoy, type RunningEnvoy } from '../helpers/envoy';
import {
  freePort,
  httpGet,
  MESHD_BIN,
  startMeshd,
  startNamedUpstream,
  tmpDir,
  waitFor,
  type RunningProcess,
} from '../helpers/processes';

const NODE_ID = 'mesh/demo/virtualNode/client';
const SERVICE = 'backend.demo.local';
const EGRESS_PORT = 15001; // App Mesh's egress port, as the issue asks

function meshYaml(v1Port: number, v2Port: number, v1Weight: number, v2Weight: number): string {
  return `kind: Mesh
name: demo
---
kind: VirtualNode
mesh: demo
name: client
spec:
  backends: [{ virtualService: { virtualServiceName: ${SERVICE} } }]
---
kind: VirtualNode
mesh: demo
name: backend-v1
spec:
  listeners: [{ portMapping: { port: ${v1Port}, protocol: http } }]
  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }
---
kind: VirtualNode
mesh: demo
name: backend-v2
spec:
  listeners: [{ portMapping: { port: ${v2Port}, protocol: http } }]
  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }
---
kind: VirtualRouter
mesh: demo
name: backend
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
---
kind: Route
mesh: demo
virtualRouter: backend
name: split
spec:
  httpRoute:
    match: { prefix: / }
    action:
      weightedTargets:
        - { virtualNode: backend-v1, weight: ${v1Weight} }
        - { virtualNode: backend-v2, weight: ${v2Weight} }
---
kind: VirtualService
mesh: demo
name: ${SERVICE}
spec:
  provider: { virtualRouter: { virtualRouterName: backend } }
`;
}

async function countAnswers(n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const { status, body } = await httpGet(EGRESS_PORT, SERVICE);
    const key = status === 200 ? body : `HTTP ${status}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

describeWithEnvoy('skeleton: mesh YAML → meshd → real Envoy', (envoyBin) => {
  let v1: Awaited<ReturnType<typeof startNamedUpstream>>;
  let v2: Awaited<ReturnType<typeof startNamedUpstream>>;
  let meshd: RunningProcess;
  let envoy: RunningEnvoy;
  let meshFile: string;
  const writeMesh = (v1Weight: number, v2Weight: number) =>
    fs.writeFileSync(meshFile, meshYaml(v1.port, v2.port, v1Weight, v2Weight));

  beforeAll(async () => {
    v1 = await startNamedUpstream('v1');
    v2 = await startNamedUpstream('v2');
    meshFile = path.join(tmpDir(), 'mesh.yaml');
    writeMesh(100, 0);
    const xdsPort = await freePort();
    meshd = startMeshd([
      'serve',
      '--mesh',
      meshFile,
      '--log-level',
      'debug',
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      String(await freePort()),
    ]);
    await waitFor('meshd to start serving', () => (meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined));

    const adminPort = await freePort();
    const bootstrap = execFileSync(
      process.execPath,
      [
        MESHD_BIN,
        'bootstrap',
        '--node',
        NODE_ID,
        '--xds-address',
        `127.0.0.1:${xdsPort}`,
        '--admin-address',
        '127.0.0.1',
        '--admin-port',
        String(adminPort),
      ],
      {
        encoding: 'utf8',
      },
    );
    envoy = startEnvoy(envoyBin, bootstrap, adminPort);
    await waitFor(
      'Envoy to route to the virtual service',
      async () => ((await httpGet(EGRESS_PORT, SERVICE).catch(() => undefined))?.status === 200 ? true : undefined),
      30000,
    );
  });

  afterAll(async () => {
    await envoy?.stop();
    await meshd?.stop();
    await v1?.close();
    await v2?.close();
  });

  it('sends 100% of requests to v1 when the route says 100/0', async () => {
    expect(await countAnswers(50)).toEqual({ v1: 50 });
  });

  it('moves all new requests to v2 when the file is rewritten to 0/100', async () => {
    const written = Date.now();
    writeMesh(0, 100);
    await waitFor(
      'the first v2 answer',
      async () => ((await httpGet(EGRESS_PORT, SERVICE)).body === 'v2' ? true : undefined),
      10000,
      0,
    );
    const elapsed = Date.now() - written;
    process.stdout.write(`propagation: file write → first v2 answer from Envoy: ${elapsed} ms\n`);
    expect(await countAnswers(50)).toEqual({ v2: 50 });
  });

  it('splits a 50/50 route within ±10 percentage points over 400 requests', async () => {
    const logBefore = meshd.stderr().length;
    writeMesh(50, 50);
    await waitFor('Envoy to ACK the 50/50 route', () =>
      /mesh reloaded[^]*ACKed RDS version/.test(meshd.stderr().slice(logBefore)) ? true : undefined,
    );
    const counts = await countAnswers(400);
    expect((counts.v1 ?? 0) + (counts.v2 ?? 0)).toBe(400);
    expect(counts.v1! / 400).toBeGreaterThanOrEqual(0.4);
    expect(counts.v1! / 400).toBeLessThanOrEqual(0.6);
  });

  it('keeps the last good targets when the YAML breaks, and resumes once it is fixed', async () => {
    writeMesh(0, 100);
    await waitFor('traffic on v2', async () => ((await countAnswers(20)).v2 === 20 ? true : undefined));
    const errorsBefore = meshd.stderr().length;
    // Would send everything to v1, but line 2 breaks the YAML.
    fs.writeFileSync(meshFile, meshYaml(v1.port, v2.port, 100, 0).replace('name: demo\n', 'name: demo: broken\n'));
    const logged = await waitFor('meshd to report the broken file', () => {
      const line = meshd
        .stderr()
        .slice(errorsBefore)
        .split('\n')
        .find((l) => l.includes(' error ') && l.includes(meshFile));
      return line;
    });
    expect(logged).toContain(`${meshFile}:2:`);
    // the level says error; the finding does not say it again
    expect(logged).toMatch(/ error +\S+:2:\d+: invalid YAML/);
    await waitFor('meshd to say the last good mesh keeps serving', () =>
      meshd.stderr().slice(errorsBefore).includes('the last good mesh keeps serving') ? true : undefined,
    );
    expect(await countAnswers(50)).toEqual({ v2: 50 });

    writeMesh(100, 0);
    await waitFor(
      'traffic back on v1 after the fix',
      async () => ((await httpGet(EGRESS_PORT, SERVICE)).body === 'v1' ? true : undefined),
      10000,
      0,
    );
    expect(await countAnswers(20)).toEqual({ v1: 20 });
  });

  it("logs the proxy's connection and each version it ACKed", () => {
    const log = meshd.stderr();
    expect(log).toContain(`proxy ${NODE_ID} connected (sotw stream`);
    expect(log).toMatch(new RegExp(`proxy ${NODE_ID} ACKed CDS version [0-9a-f]{16}`));
    expect(log).toMatch(new RegExp(`proxy ${NODE_ID} ACKed LDS version [0-9a-f]{16}`));
    expect(log).toMatch(new RegExp(`proxy ${NODE_ID} ACKed RDS version [0-9a-f]{16}`));
    expect(log).not.toMatch(/NACKed/);
  });
});
