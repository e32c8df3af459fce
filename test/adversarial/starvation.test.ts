// Starvation: while one client attacks meshd (floods of hostile admin requests, silent
// connections, junk DogStatsD datagrams, Cloud Map registrations, hostile xDS streams), a
// well-behaved proxy must still get every change. The test edits the mesh a few times under
// each attack and requires the victim's Delta stream to receive each new route; the push
// latencies (file write to the victim's response) are printed as figures, never asserted.
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { adsServiceDefinition } from '../../src/xds/protos';
import { TypeUrl } from '../../src/xds/type-urls';
import { DeltaTestClient } from '../helpers/ads-client';
import { QUICKSTART_MESH, meshFolder } from '../helpers/mesh-text';
import { freePort, startMeshd, waitFor, type RunningProcess } from '../helpers/processes';

const NODE = { id: 'mesh/apps/virtualNode/front', cluster: 'front' };
const QUICKSTART = fs.readFileSync(path.join(QUICKSTART_MESH, 'mesh.yaml'), 'utf8');
const EDITS = 6;

/** The quickstart with the color route's weights set to `blue`/100-`blue`. */
function meshWithWeights(blue: number): string {
  return QUICKSTART.replace(
    '{ virtualNode: color-blue, weight: 100 }',
    `{ virtualNode: color-blue, weight: ${blue} }`,
  ).replace('{ virtualNode: color-green, weight: 0 }', `{ virtualNode: color-green, weight: ${100 - blue} }`);
}

function post(
  port: number,
  pathName: string,
  headers: http.OutgoingHttpHeaders,
  body: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: 'POST', path: pathName, headers, agent: false },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const cloudMap = (port: number, operation: string, input: unknown) =>
  post(
    port,
    '/',
    { 'x-amz-target': `Route53AutoNaming_v20170314.${operation}`, 'content-type': 'application/x-amz-json-1.1' },
    JSON.stringify(input),
  );

/** An attack runs until `stop()`; it never throws (a refused connection is what it expects). */
interface Attack {
  stop(): Promise<void>;
}

/** Runs `step` in `parallel` loops until stopped. */
function loop(parallel: number, step: (i: number) => Promise<unknown>): Attack {
  let running = true;
  let n = 0;
  const loops = Array.from({ length: parallel }, async () => {
    while (running) await step(n++).catch(() => undefined);
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('class: one client starves the others (a real meshd, a victim proxy)', () => {
  let meshd: RunningProcess;
  let adminPort: number;
  let xdsPort: number;
  let statsdPort: number;
  let meshFile: string;
  let victim: DeltaTestClient;
  let blue = 100;
  const figures: string[] = [];

  beforeAll(async () => {
    meshFile = path.join(meshFolder({ 'mesh.yaml': QUICKSTART }), 'mesh.yaml');
    [adminPort, xdsPort, statsdPort] = [await freePort(), await freePort(), await freePort()];
    meshd = startMeshd(
      [
        'serve',
        '--mesh',
        meshFile,
        '--xds-address',
        '127.0.0.1',
        '--xds-port',
        String(xdsPort),
        '--admin-port',
        String(adminPort),
        '--statsd-port',
        String(statsdPort),
        '--debounce-ms',
        '0',
      ],
      { MESHD_CLOUD_MAP_STATE: path.join(path.dirname(meshFile), '..', `cloud-map-${adminPort}.json`) },
    );
    await waitFor('meshd to start', () => (meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
    victim = new DeltaTestClient(xdsPort);
    victim.send({ node: NODE, type_url: TypeUrl.Route, resource_names_subscribe: [] });
    victim.ack(await victim.next(), NODE);
  });

  afterAll(async () => {
    victim.close();
    await meshd.stop();
    // Shown once, as the note's figures: push latency of the victim under each attack.
    process.stdout.write(
      `\nvictim push latency (file write -> Delta RDS response), ${EDITS} edits each:\n${figures.join('\n')}\n`,
    );
  });

  /** Edits the route `EDITS` times; each edit's new route must reach the victim. */
  async function victimGetsEveryEdit(name: string): Promise<void> {
    const latencies: number[] = [];
    for (let i = 0; i < EDITS; i++) {
      blue = blue === 100 ? 50 : blue - 1;
      const started = Date.now();
      fs.writeFileSync(meshFile, meshWithWeights(blue));
      // A generous bound that only a starved meshd misses; the figure is what matters.
      const response = await victim.next(20_000);
      latencies.push(Date.now() - started);
      expect(response.type_url).toBe(TypeUrl.Route);
      expect(JSON.stringify(response.resources)).toBeDefined();
      victim.ack(response, NODE);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(meshd.child.exitCode).toBeNull();
    const sorted = [...latencies].sort((a, b) => a - b);
    figures.push(
      `  ${name.padEnd(44)} median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted[sorted.length - 1]} ms`,
    );
  }

  it('no attack (the baseline)', async () => {
    await victimGetsEveryEdit('no attack');
  });

  it('hostile admin requests (malformed encodings, bad targets, 1 MB bodies), 8 at a time', async () => {
    const big = 'x'.repeat(1024 * 1024 + 1);
    const attack = loop(8, (i) =>
      i % 3 === 0
        ? new Promise((resolve) =>
            http
              .get({ host: '127.0.0.1', port: adminPort, path: '/v1/config/%E0%A4%A', agent: false }, (res) =>
                res.resume().on('end', resolve),
              )
              .on('error', resolve),
          )
        : i % 3 === 1
          ? post(adminPort, '/v1/rollouts', {}, big)
          : post(adminPort, '/', { 'x-amz-target': '__proto__' }, '{"constructor":{"prototype":{}}}'),
    );
    try {
      await victimGetsEveryEdit('hostile admin requests');
    } finally {
      await attack.stop();
    }
  });

  it('2,000 silent admin connections', async () => {
    const sockets = Array.from({ length: 2000 }, () =>
      net.connect(adminPort, '127.0.0.1').on('error', () => undefined),
    );
    try {
      await victimGetsEveryEdit('2,000 silent admin connections');
    } finally {
      sockets.forEach((s) => s.destroy());
    }
  });

  it('junk and poisoned DogStatsD datagrams', async () => {
    const socket = dgram.createSocket('udp4');
    const lines = [
      'envoy.cluster.cds_egress_apps_color_http_8080.upstream_rq_xx:1e308|c|@0.0000001|#envoy.response_code_class:5',
      'x:NaN|c',
      ':::|||',
      `${'a'.repeat(2000)}:1|ms`,
      'envoy.cluster.x.upstream_rq_time:5|h|#' + 't:x,'.repeat(200),
    ];
    const attack = loop(
      4,
      (i) =>
        new Promise((resolve) =>
          socket.send(lines[i % lines.length]!, statsdPort, '127.0.0.1', () => setImmediate(resolve)),
        ),
    );
    try {
      await victimGetsEveryEdit('junk and poisoned DogStatsD datagrams');
    } finally {
      await attack.stop();
      socket.close();
    }
  });

  it('Cloud Map registrations, one after another', async () => {
    await cloudMap(adminPort, 'CreateHttpNamespace', { Name: 'starve' });
    const namespaces = JSON.parse((await cloudMap(adminPort, 'ListNamespaces', {})).body) as {
      Namespaces: { Id: string; Name: string }[];
    };
    const namespaceId = namespaces.Namespaces.find((n) => n.Name === 'starve')!.Id;
    const service = JSON.parse(
      (await cloudMap(adminPort, 'CreateService', { Name: 'svc', NamespaceId: namespaceId })).body,
    ) as { Service: { Id: string } };
    const attack = loop(2, (i) =>
      cloudMap(adminPort, 'RegisterInstance', {
        ServiceId: service.Service.Id,
        InstanceId: `i-${i}`,
        Attributes: {
          AWS_INSTANCE_IPV4: '127.0.0.1',
          AWS_INSTANCE_PORT: String(1000 + (i % 60000)),
          pad: 'p'.repeat(1000),
        },
      }),
    );
    try {
      await victimGetsEveryEdit('Cloud Map registrations');
    } finally {
      await attack.stop();
    }
  });

  it('a SotW stream sending ever new type URLs, and a Delta stream subscribing to ever new names', async () => {
    const Client = grpc.makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');
    const clients: grpc.Client[] = [];
    const attack = loop(2, async (i) => {
      const client = new Client(`127.0.0.1:${xdsPort}`, grpc.credentials.createInsecure());
      clients.push(client);
      const method = i % 2 === 0 ? 'StreamAggregatedResources' : 'DeltaAggregatedResources';
      const call = (client as unknown as Record<string, () => grpc.ClientDuplexStream<object, object>>)[method]!();
      call.on('error', () => undefined);
      call.on('data', () => undefined);
      const ended = new Promise((resolve) => {
        call.on('error', resolve);
        call.on('end', resolve);
        call.on('close', resolve);
      });
      for (let k = 0; k < 5000 && !call.destroyed; k++) {
        const ok =
          method === 'StreamAggregatedResources'
            ? call.write({
                node: { id: `mesh/apps/virtualNode/attacker-${i}` },
                type_url: `type.googleapis.com/attack.T${k}`,
                resource_names: [],
              })
            : call.write({
                node: { id: `mesh/apps/virtualNode/attacker-${i}` },
                type_url: TypeUrl.Cluster,
                resource_names_subscribe: Array.from({ length: 100 }, (_, j) => `name-${k}-${j}`),
              });
        if (!ok) await new Promise((r) => setImmediate(r));
      }
      await Promise.race([ended, new Promise((r) => setTimeout(r, 2000))]);
      call.cancel();
      client.close();
    });
    try {
      await victimGetsEveryEdit('hostile xDS streams (type URLs, names)');
    } finally {
      await attack.stop();
      clients.forEach((c) => c.close());
    }
  });
});
