// meshd's admin API beyond /v1/proxies, against a real `meshd serve`: readiness follows the
// mesh's validity, /metrics counts reloads, pushes and NACKs and times a change's delivery,
// and --log-format json writes one JSON object per event with the node id on stream events.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { TypeUrl } from '../../src/xds/type-urls';
import { AdsTestClient } from '../helpers/ads-client';
import { meshFolder, QUICKSTART_MESH } from '../helpers/mesh-text';
import { freePort, startMeshd, waitFor, type RunningProcess } from '../helpers/processes';

const FRONT = { id: 'mesh/apps/virtualNode/front', cluster: 'front' };
const QUICKSTART = fs.readFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), 'utf8');

function get(port: number, pathName: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathName, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
      })
      .on('error', reject);
  });
}

/** The value of one series in Prometheus text, e.g. `meshd_mesh_reloads_total{result="ok"}`. */
function metric(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('admin API: readiness, metrics and JSON logs of a running meshd', () => {
  let meshd: RunningProcess;
  let adminPort: number;
  let client: AdsTestClient;
  let meshFile: string;

  beforeAll(async () => {
    meshFile = path.join(meshFolder({ 'mesh.yaml': 'kind: Mesh\nname: [broken\n' }), 'mesh.yaml');
    const xdsPort = await freePort();
    adminPort = await freePort();
    meshd = startMeshd([
      'serve',
      '--mesh',
      meshFile,
      '--log-format',
      'json',
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      String(adminPort),
    ]);
    await waitFor('meshd to start', () => (meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
    client = new AdsTestClient(xdsPort);
  });

  afterAll(async () => {
    client.close();
    await meshd.stop();
  });

  it('is live but not ready while the mesh is invalid, and ready once it is fixed', async () => {
    expect(await get(adminPort, '/healthz')).toMatchObject({ status: 200 });
    expect(await get(adminPort, '/readyz')).toMatchObject({
      status: 503,
      body: 'not ready: no valid mesh loaded yet\n',
    });
    fs.writeFileSync(meshFile, QUICKSTART);
    await waitFor('/readyz to turn 200', async () =>
      (await get(adminPort, '/readyz')).status === 200 ? true : undefined,
    );
    const m = await get(adminPort, '/metrics');
    expect(m.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(metric(m.body, 'meshd_mesh_reloads_total{result="error"}')).toBe(1);
    expect(metric(m.body, 'meshd_mesh_reloads_total{result="ok"}')).toBe(1);
  });

  it('counts streams, pushes and NACKs, and times a change from the file write to the last ACK', async () => {
    const names = ['rds_egress_http_15001'];
    client.send({ node: FRONT, type_url: TypeUrl.Route, resource_names: names });
    const first = await client.next();
    client.ack(first, FRONT, names);
    let m = (await get(adminPort, '/metrics')).body;
    expect(metric(m, 'meshd_xds_connected_streams{protocol="sotw",client="other"}')).toBe(1);
    expect(metric(m, 'meshd_xds_pushes_total{type="RDS",protocol="sotw"}')).toBe(1);
    expect(metric(m, 'meshd_xds_push_latency_seconds_count')).toBe(0);

    fs.writeFileSync(
      meshFile,
      QUICKSTART.replace('{ virtualNode: color-blue, weight: 100 }', '{ virtualNode: color-blue, weight: 50 }').replace(
        '{ virtualNode: color-green, weight: 0 }',
        '{ virtualNode: color-green, weight: 50 }',
      ),
    );
    const second = await client.next(5000);
    expect(second.version_info).not.toBe(first.version_info);
    client.ack(second, FRONT, names);
    await waitFor('the delivery to be timed', async () =>
      metric((await get(adminPort, '/metrics')).body, 'meshd_xds_push_latency_seconds_count') === 1 ? true : undefined,
    );
    m = (await get(adminPort, '/metrics')).body;
    expect(metric(m, 'meshd_xds_pushes_total{type="RDS",protocol="sotw"}')).toBe(2);
    expect(metric(m, 'meshd_xds_push_latency_seconds_bucket{le="+Inf"}')).toBe(1);
    expect(metric(m, 'meshd_xds_resource_types{type="RDS",state="SYNCED"}')).toBe(1);

    fs.writeFileSync(
      meshFile,
      QUICKSTART.replace('{ virtualNode: color-blue, weight: 100 }', '{ virtualNode: color-blue, weight: 10 }').replace(
        '{ virtualNode: color-green, weight: 0 }',
        '{ virtualNode: color-green, weight: 90 }',
      ),
    );
    const third = await client.next(5000);
    client.send({
      node: FRONT,
      type_url: TypeUrl.Route,
      resource_names: names,
      response_nonce: third.nonce,
      error_detail: { code: 3, message: 'rejected by test' },
    });
    await waitFor('the NACK to be counted', async () =>
      metric((await get(adminPort, '/metrics')).body, 'meshd_xds_nacks_total{type="RDS",protocol="sotw"}') === 1
        ? true
        : undefined,
    );
    m = (await get(adminPort, '/metrics')).body;
    expect(metric(m, 'meshd_xds_resource_types{type="RDS",state="NACKED"}')).toBe(1);
  });

  it('writes JSON log lines, each an object with a level and a message, and the node id on stream events', () => {
    const lines = meshd.stderr().trim().split('\n');
    const events = lines.map((l) => JSON.parse(l) as { level: string; msg: string; node?: string; time: string });
    expect(
      events.every((e) => typeof e.level === 'string' && typeof e.msg === 'string' && typeof e.time === 'string'),
    ).toBe(true);
    const connected = events.find((e) => e.msg.includes('connected'));
    expect(connected).toMatchObject({ level: 'info', node: FRONT.id });
    expect(events.find((e) => e.msg.includes('NACKed'))).toMatchObject({
      level: 'warn',
      node: FRONT.id,
      error: 'rejected by test',
    });
    // A finding's severity is the level; the message does not say it again.
    expect(
      events.some((e) => e.level === 'error' && /mesh\.yaml:\d+:\d+: /.test(e.msg) && !e.msg.includes('error:')),
    ).toBe(true);
  });
});
