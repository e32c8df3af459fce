// A real meshd server (MeshServer, in this process) that has served a mesh: an ADS client took
// its clusters (a push, an ACK, then a NACK), and DogStatsD lines as Envoy's sink sends them
// (response counts and upstream_rq_time) came in over UDP. Its /metrics then has a series for
// every metric a dashboard reads. What the metrics tests scrape.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { MeshServer } from '../../src/control/mesh-server';
import { TypeUrl } from '../../src/xds/type-urls';
import { AdsTestClient } from './ads-client';
import { QUICKSTART_MESH } from './mesh-text';
import { tmpDir, waitFor } from './processes';
import { sample, sendUdp } from './series';

export { sample };

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

export const FRONT = { id: 'mesh/apps/virtualNode/front', cluster: 'front' };

/** A node added to the quickstart mesh, so that a test can remove it again. */
export const EXTRA_NODE = 'extra';
const EXTRA_YAML = `---\nkind: VirtualNode\nmesh: apps\nname: ${EXTRA_NODE}\nspec:\n  listeners: [{ portMapping: { port: 9089, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }\n`;

export interface LiveMeshd {
  readonly server: MeshServer;
  readonly adminPort: number;
  readonly statsdPort: number;
  /** GET /metrics: status, content type and body. */
  scrape(): Promise<{ status: number; contentType: string; body: string }>;
  /** Sends one DogStatsD datagram to meshd and waits until meshd has counted it. */
  sendStatsd(text: string): Promise<void>;
  /** Rewrites the mesh without the extra node and reloads it. */
  removeExtraNode(): void;
  /** Rewrites the mesh with the extra node again and reloads it. */
  addExtraNode(): void;
  close(): Promise<void>;
}

export function get(port: number, pathName: string): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathName, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body }),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${pathName} timed out`)));
    req.on('error', reject);
  });
}

/** Envoy's DogStatsD lines for `count` responses of class `cls` from a node's egress cluster. */
export function responsesLine(node: string, port: number, count: number, cls = 2): string {
  return `envoy.cluster.upstream_rq_xx:${count}|c|#envoy.response_code_class:${cls},envoy.cluster_name:cds_egress_apps_${node}_http_${port}`;
}

/** Envoy's DogStatsD timer line for one request's duration (ms) to a node. */
export function durationLine(node: string, port: number, ms: number): string {
  return `envoy.cluster.upstream_rq_time:${ms}|ms|#envoy.cluster_name:cds_egress_apps_${node}_http_${port}`;
}

/** Starts meshd on the quickstart mesh (plus EXTRA_NODE) and drives xDS and DogStatsD traffic through it. */
export async function startLiveMeshd(): Promise<LiveMeshd> {
  const dir = tmpDir('metrics-live-');
  const meshFile = path.join(dir, 'mesh.yaml');
  const quickstart = fs.readFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), 'utf8');
  fs.writeFileSync(meshFile, `${quickstart}${EXTRA_YAML}`);
  const server = await MeshServer.open({
    paths: [dir],
    log: quiet,
    watch: { debounceMs: 50 },
    cloudMap: { statePath: path.join(dir, 'cloud-map.json') },
    rollouts: { statePath: path.join(dir, 'rollouts.json') },
  });
  let client: AdsTestClient | undefined;
  try {
    await server.start();
    const { adminPort, statsd } = server.listening;
    const scrape = () => get(adminPort, '/metrics');
    // xDS: CDS pushed and ACKed (a push, its latency), then a later push NACKed.
    client = new AdsTestClient(server.listening.xdsPort);
    client.send({ node: FRONT, type_url: TypeUrl.Cluster });
    const clusters = await client.next();
    client.ack(clusters, FRONT);
    client.send({ node: FRONT, type_url: TypeUrl.Listener });
    const listeners = await client.next();
    client.send({
      node: FRONT,
      type_url: TypeUrl.Listener,
      response_nonce: listeners.nonce,
      error_detail: { code: 3, message: 'rejected by the metrics test' },
    });
    await waitFor('the NACK to be counted', async () =>
      sample((await scrape()).body, 'meshd_xds_nacks_total{type="LDS",protocol="sotw"}') === 1 ? true : undefined,
    );
    let datagrams = 0;
    const sendStatsd = async (text: string) => {
      datagrams++;
      await sendUdp(statsd.port, text);
      await waitFor('the datagram to be counted', async () =>
        (sample((await scrape()).body, 'meshd_statsd_datagrams_received_total') ?? 0) >= datagrams ? true : undefined,
      );
    };
    const open = client;
    return {
      server,
      adminPort,
      statsdPort: statsd.port,
      scrape,
      sendStatsd,
      addExtraNode: () => {
        fs.writeFileSync(meshFile, `${quickstart}${EXTRA_YAML}`);
        server.reload('the metrics test added a node again');
      },
      removeExtraNode: () => {
        fs.writeFileSync(meshFile, quickstart);
        server.reload('the metrics test removed a node');
      },
      close: async () => {
        open.close();
        await server.close();
      },
    };
  } catch (err) {
    client?.close();
    await server.close();
    throw err;
  }
}
