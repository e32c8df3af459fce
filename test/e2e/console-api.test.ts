// The web console's endpoints on a real `meshd serve` of the colorapp example: the graph
// (/v1/mesh), a resource's details, the last load's findings (/v1/problems) after a broken
// save and after the fix, the event stream announcing both, and the console's files under /ui/.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { TypeUrl } from '../../src/xds/type-urls';
import { AdsTestClient } from '../helpers/ads-client';
import { freePort, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';

const COLORAPP = path.resolve(__dirname, '../../examples/colorapp/mesh');
const BUILT_CONSOLE = path.resolve(__dirname, '../../dist/console/index.html');

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(port: number, pathName: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathName, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${pathName} timed out`)));
  });
}

/** A request with a body; resolves with the status and body (never rejects on HTTP errors). */
function send(port: number, method: string, target: string, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: target,
        agent: false,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** An open GET /v1/events: the events received so far, parsed. */
function events(port: number): Promise<{ seen: { event: string; data: unknown }[]; close(): void }> {
  return new Promise((resolve, reject) => {
    const seen: { event: string; data: unknown }[] = [];
    const req = http.get({ host: '127.0.0.1', port, path: '/v1/events', agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET /v1/events: HTTP ${res.statusCode}`));
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buffer += d;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event !== undefined && data !== undefined) seen.push({ event, data: JSON.parse(data) });
        }
      });
      resolve({ seen, close: () => req.destroy() });
    });
    req.on('error', () => undefined);
  });
}

describe('the web console API of a running meshd (colorapp)', () => {
  let server: RunningProcess;
  let port: number;
  let meshDir: string;
  let xdsPort: number;

  beforeAll(async () => {
    meshDir = tmpDir('meshd-console-api-');
    for (const f of fs.readdirSync(COLORAPP)) fs.copyFileSync(path.join(COLORAPP, f), path.join(meshDir, f));
    xdsPort = await freePort();
    port = await freePort();
    server = startMeshd([
      'serve',
      '--mesh',
      meshDir,
      '--xds-address',
      '127.0.0.1',
      '--xds-port',
      String(xdsPort),
      '--admin-port',
      String(port),
      '--cloud-map-state',
      path.join(tmpDir('meshd-console-cm-'), 'cloud-map.json'),
    ]);
    await waitFor('meshd to start', () => (server.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
  });

  afterAll(async () => {
    expect(await server.stop()).toBe(0);
    expect(server.stderr()).not.toMatch(/\n\s+at /);
    fs.rmSync(meshDir, { recursive: true, force: true });
  });

  it('the banner names the console', () => {
    expect(server.stdout()).toContain(`console:         http://127.0.0.1:${port}/ui/`);
  });

  it('GET /v1/mesh: the graph of the mesh served, with its generation and hash', async () => {
    const answer = await get(port, '/v1/mesh');
    expect(answer.status).toBe(200);
    const mesh = JSON.parse(answer.body) as {
      generation: number;
      meshHash: string;
      nodes: { id: string; origin: string; source: string }[];
      edges: { id: string; kind: string; weight?: number; percent?: number }[];
    };
    expect(mesh.generation).toBe(1);
    expect(mesh.meshHash).toMatch(/^[0-9a-f]{8,}$/);
    expect(mesh.nodes).toHaveLength(7);
    expect(mesh.nodes.every((n) => n.origin === 'file')).toBe(true);
    expect(mesh.nodes.find((n) => n.id === 'colorapp/VirtualNode/front')!.source).toBe(
      `${path.join(meshDir, 'nodes.yaml')}:4:1`,
    );
    expect(
      mesh.edges.find((e) => e.id === 'colorapp/Route/color/color-split->colorapp/VirtualNode/color-blue'),
    ).toMatchObject({ kind: 'route-target', weight: 100, percent: 100 });
  });

  it("GET /v1/mesh/resources/<id>: a node's YAML, its Envoy configuration and (none yet) proxies; 404 otherwise", async () => {
    const answer = await get(port, `/v1/mesh/resources/colorapp/VirtualNode/front`);
    expect(answer.status).toBe(200);
    const details = JSON.parse(answer.body) as Record<string, unknown>;
    expect(details).toMatchObject({ id: 'colorapp/VirtualNode/front', kind: 'VirtualNode', origin: 'file' });
    expect(details.yaml).toMatch(/^kind: VirtualNode\nmesh: colorapp\nname: front\nspec:\n/);
    const config = JSON.parse((await get(port, '/v1/config/mesh%2Fcolorapp%2FvirtualNode%2Ffront')).body) as unknown;
    expect(details.envoy).toEqual(config);
    expect(details.proxies).toEqual([]);
    const route = JSON.parse((await get(port, '/v1/mesh/resources/colorapp/Route/color/color-split')).body) as {
      envoy: unknown;
      yaml: string;
    };
    expect(route.envoy).toBeNull();
    expect(route.yaml).toContain('virtualRouter: color');
    const missing = await get(port, '/v1/mesh/resources/colorapp/VirtualNode/nope');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toEqual({ error: expect.stringContaining('colorapp/VirtualNode/nope') });
  });

  it('a broken save: /v1/problems holds its error and the stream says problems; the fix: a new mesh, no problems', async () => {
    const before = JSON.parse((await get(port, '/v1/problems')).body) as { generation: number; valid: boolean };
    expect(before.valid).toBe(true);
    const routeFile = path.join(meshDir, 'color-route.yaml');
    const good = fs.readFileSync(routeFile, 'utf8');
    // Weights that do not add up to 100: a percent computed against a fixed 100 would show 1, not 10.
    const fixedText = good.replace('weight: 100 }', 'weight: 9 }').replace('weight: 0 }', 'weight: 1 }');
    const stream = await events(port);
    try {
      await waitFor('hello', () => stream.seen.find((e) => e.event === 'hello'));
      expect(stream.seen[0]).toEqual({ event: 'hello', data: { mesh: 1, problems: before.generation, fleet: false } });

      fs.writeFileSync(routeFile, good.replace('weight: 100 }', 'weight: 500 }'));
      const problemsEvent = await waitFor('a problems event', () => stream.seen.find((e) => e.event === 'problems'));
      expect(problemsEvent.data).toEqual({ generation: before.generation + 1 });
      const broken = JSON.parse((await get(port, '/v1/problems')).body) as {
        generation: number;
        valid: boolean;
        checkedAt: string;
        problems: { severity: string; file: string; line: number; resource: string; text: string }[];
      };
      expect(broken.generation).toBe(before.generation + 1);
      expect(broken.valid).toBe(false);
      expect(Date.parse(broken.checkedAt)).not.toBeNaN();
      const error = broken.problems.find((p) => p.severity === 'error')!;
      expect(error).toMatchObject({ file: routeFile, resource: 'Route/color/color-split' });
      expect(error.text).toMatch(new RegExp(`^${routeFile}:${error.line}:\\d+: error: Route/color/color-split: `));
      // The last good mesh keeps serving: no mesh event, the same generation.
      expect(stream.seen.some((e) => e.event === 'mesh')).toBe(false);

      fs.writeFileSync(routeFile, fixedText);
      const meshEvent = await waitFor('a mesh event', () => stream.seen.find((e) => e.event === 'mesh'));
      expect(meshEvent.data).toEqual({ generation: 2 });
      await waitFor('a second problems event', () =>
        stream.seen.filter((e) => e.event === 'problems').length >= 2 ? true : undefined,
      );
      const fixed = JSON.parse((await get(port, '/v1/problems')).body) as { generation: number; valid: boolean };
      expect(fixed).toMatchObject({ generation: before.generation + 2, valid: true });
      const mesh = JSON.parse((await get(port, '/v1/mesh')).body) as {
        generation: number;
        edges: { to: string; weight?: number; percent?: number }[];
      };
      expect(mesh.generation).toBe(2);
      expect(mesh.edges.find((e) => e.to === 'colorapp/VirtualNode/color-green')).toMatchObject({
        weight: 1,
        percent: 10,
      });
      expect(mesh.edges.find((e) => e.to === 'colorapp/VirtualNode/color-blue')).toMatchObject({
        weight: 9,
        percent: 90,
      });
      // Telemetry arrives every second while someone listens.
      await waitFor('a telemetry event', () => stream.seen.find((e) => e.event === 'telemetry'));
    } finally {
      stream.close();
      // A failure above must not leave the mesh broken for the tests after this one: they start from the fix.
      if (fs.readFileSync(routeFile, 'utf8') !== fixedText) fs.writeFileSync(routeFile, fixedText);
    }
  });

  it("a proxy that connects: a proxies event, and it is listed with the node's and the router's details", async () => {
    const stream = await events(port);
    const front = new AdsTestClient(xdsPort);
    const blue = new AdsTestClient(xdsPort);
    try {
      await waitFor('hello', () => stream.seen.find((e) => e.event === 'hello'));
      front.send({ node: { id: 'mesh/colorapp/virtualNode/front', cluster: 'front' }, type_url: TypeUrl.Cluster });
      blue.send({ node: { id: 'mesh/colorapp/virtualNode/color-blue', cluster: 'b' }, type_url: TypeUrl.Cluster });
      await front.next();
      await waitFor('a proxies event', () => stream.seen.find((e) => e.event === 'proxies'));
      const node = JSON.parse((await get(port, '/v1/mesh/resources/colorapp/VirtualNode/front')).body) as {
        proxies: { nodeId: string }[];
      };
      expect(node.proxies.map((p) => p.nodeId)).toEqual(['mesh/colorapp/virtualNode/front']);
      // A router, its route and its service are served by the proxies whose configuration reads them: front calls
      // the color service; color-blue, connected too, calls nobody.
      for (const id of ['VirtualRouter/color', 'Route/color/color-split', 'VirtualService/color.colorapp.local']) {
        const details = JSON.parse((await get(port, `/v1/mesh/resources/colorapp/${id}`)).body) as {
          proxies: { nodeId: string }[];
        };
        expect([id, details.proxies.map((p) => p.nodeId)]).toEqual([id, ['mesh/colorapp/virtualNode/front']]);
      }
    } finally {
      front.close();
      blue.close();
      stream.close();
    }
  });

  it('a virtual node created through the App Mesh API: origin api, a new mesh and a new load', async () => {
    const before = JSON.parse((await get(port, '/v1/problems')).body) as { generation: number };
    const meshBefore = JSON.parse((await get(port, '/v1/mesh')).body) as { generation: number };
    const created = await send(
      port,
      'PUT',
      '/v20190125/meshes/colorapp/virtualNodes',
      JSON.stringify({
        virtualNodeName: 'from-api',
        spec: {
          listeners: [{ portMapping: { port: 9083, protocol: 'http' } }],
          serviceDiscovery: { dns: { hostname: 'from-api' } },
        },
      }),
    );
    expect(created.status).toBe(200);
    const mesh = await waitFor('the API node in /v1/mesh', async () => {
      const m = JSON.parse((await get(port, '/v1/mesh')).body) as {
        generation: number;
        nodes: { id: string; origin: string; source: string }[];
      };
      return m.nodes.some((n) => n.id === 'colorapp/VirtualNode/from-api') ? m : undefined;
    });
    expect(mesh.generation).toBe(meshBefore.generation + 1);
    const node = mesh.nodes.find((n) => n.id === 'colorapp/VirtualNode/from-api')!;
    expect(node.origin).toBe('api');
    expect(node.source).toContain('.meshd-api');
    expect(mesh.nodes.find((n) => n.id === 'colorapp/VirtualNode/front')!.origin).toBe('file');
    const problems = JSON.parse((await get(port, '/v1/problems')).body) as { generation: number; valid: boolean };
    expect(problems).toMatchObject({ generation: before.generation + 1, valid: true });
  });

  it('/ui redirects to /ui/, which serves the built console (or says it is not built)', async () => {
    const redirect = await get(port, '/ui');
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('/ui/');
    const index = await get(port, '/ui/');
    if (fs.existsSync(BUILT_CONSOLE)) {
      expect(index.status).toBe(200);
      expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(index.headers['content-security-policy']).toContain("script-src 'self'");
      expect(index.headers['x-content-type-options']).toBe('nosniff');
      expect(index.body).toBe(fs.readFileSync(BUILT_CONSOLE, 'utf8'));
    } else {
      expect(index.status).toBe(503);
      expect(JSON.parse(index.body)).toEqual({ error: 'the console is not built: run npm run build' });
    }
    const outside = await get(port, '/ui/..%2F..%2Fpackage.json');
    expect(outside.status).toBe(fs.existsSync(BUILT_CONSOLE) ? 404 : 503);
  });
});
