// The real AWS CLI runs a deploy script against a real meshd, unchanged: test/fixtures/app-mesh-cli-script/deploy.sh,
// our own script written the way App Mesh users write theirs (one `aws appmesh create-*` per resource, specs from JSON
// files filled in with jq, each uid printed from --query), shaped like App Mesh's multiple-listeners walkthrough.
// `deploy.sh up` makes 12 resources (a mesh, 2 virtual nodes, a router with 2 port-matched routes, 2 virtual services,
// a gateway with 2 listeners and 3 gateway routes); `deploy.sh down` deletes them in its own order. The only thing
// added is the endpoint, given as AWS_ENDPOINT_URL_APP_MESH (what --endpoint-url does, without editing the script).
// meshd checks every request's SigV4 signature (--api-credentials; the CLI signs with that pair), and a run with a
// wrong secret is refused before anything is made. Between up and down, a real Envoy started as the script's
// gateway carries requests by its listeners and prefixes to stand-in teller apps (when network namespaces can be made;
// they give the fixed ports and DNS names). Skipped without the AWS CLI (1.29.0+, for the endpoint variable) or jq;
// under MESHD_REQUIRE_ENVOY=1 (CI, whose .ci/run installs both) it fails instead.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import {
  AppMeshClient,
  DescribeGatewayRouteCommand,
  DescribeMeshCommand,
  DescribeRouteCommand,
  DescribeVirtualGatewayCommand,
  DescribeVirtualNodeCommand,
  DescribeVirtualRouterCommand,
  DescribeVirtualServiceCommand,
  ListMeshesCommand,
} from '@aws-sdk/client-app-mesh';
import { parse as parseYaml } from 'yaml';
import { findAwsCli, jqMissing, runAwsScript, type AwsCli, type ScriptRun } from '../helpers/aws-cli';
import { describeIfAvailable } from '../helpers/envoy';
import { meshFolder } from '../helpers/mesh-text';
import { createNetns, describeWithNetns, removeReadableTmpDirs, type Netns } from '../helpers/netns';
import { freePort, getOk, MESHD_BIN, startMeshd, tmpDir, waitFor, type RunningProcess } from '../helpers/processes';
import { request, startSidecarInNetns } from '../helpers/sidecars';

// The SDK plays a user's client; its notice that its versions from 2027 on need Node 22 is not about meshd.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const DEPLOY_SH = path.resolve(__dirname, '../fixtures/app-mesh-cli-script/deploy.sh');
// What a team would set for the script.
const MESH = 'multiple-listeners-mesh';
const DOMAIN = 'default.svc.cluster.local';
const REGION = 'us-west-2';
const GATEWAY_NODE = `mesh/${MESH}/virtualGateway/tellergateway-vg`;

type Kind = 'Mesh' | 'VirtualNode' | 'VirtualService' | 'VirtualRouter' | 'Route' | 'VirtualGateway' | 'GatewayRoute';
interface Made {
  kind: Kind;
  name: string;
  parent?: string;
}

/** What `deploy.sh up` makes, in its order. */
const UP: Made[] = [
  { kind: 'Mesh', name: MESH },
  { kind: 'VirtualNode', name: 'colorteller-vn' },
  { kind: 'VirtualService', name: `colorteller.${DOMAIN}` },
  { kind: 'VirtualNode', name: 'foodteller-vn' },
  { kind: 'VirtualRouter', name: 'foodteller-vr' },
  { kind: 'VirtualService', name: `foodteller.${DOMAIN}` },
  { kind: 'Route', name: 'fruit-route', parent: 'foodteller-vr' },
  { kind: 'Route', name: 'vegetable-route', parent: 'foodteller-vr' },
  { kind: 'VirtualGateway', name: 'tellergateway-vg' },
  { kind: 'GatewayRoute', name: 'color-gateway-route', parent: 'tellergateway-vg' },
  { kind: 'GatewayRoute', name: 'fruit-gateway-route', parent: 'tellergateway-vg' },
  { kind: 'GatewayRoute', name: 'vegetable-gateway-route', parent: 'tellergateway-vg' },
];
/** What `deploy.sh down` deletes, in its order (routes before their router, services before what they name). */
const DOWN = [
  'vegetable-gateway-route',
  'fruit-gateway-route',
  'color-gateway-route',
  'tellergateway-vg',
  'vegetable-route',
  'fruit-route',
  `foodteller.${DOMAIN}`,
  'foodteller-vr',
  'foodteller-vn',
  `colorteller.${DOMAIN}`,
  'colorteller-vn',
  MESH,
].map((name) => UP.find((m) => m.name === name)!);

const label = (m: Made) => `${m.kind} ${m.parent ? `${m.parent}/` : ''}${m.name}`;

/** A mesh of the user's own in the folder meshd serves, which the script must leave alone. */
const BYSTANDER = `kind: Mesh
name: bystander
spec: { egressFilter: { type: DROP_ALL } }
---
kind: VirtualNode
mesh: bystander
name: app
spec:
  listeners: [{ portMapping: { port: 8080, protocol: http } }]
  serviceDiscovery: { dns: { hostname: 127.0.0.1 } }
`;

/** The uids the script printed (`created <kind> <label>: <uid>`, from `--query <kind>.metadata.uid --output text`). */
function printedUids(run: ScriptRun): string[] {
  return [...run.stdout.matchAll(/^(?:created|deleted) \S+ \S+: (.*)$/gm)].map((m) => m[1]!);
}

function explain(run: ScriptRun): string {
  return `exit ${run.status}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

/** The API's files under `dir`: each one's resource and the uid in its metadata block. */
function apiFiles(dir: string): { file: string; kind: string; name: string; parent?: string; uid: string }[] {
  if (!fs.existsSync(dir)) return [];
  const out: { file: string; kind: string; name: string; parent?: string; uid: string }[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (/\.ya?ml$/.test(e.name)) {
        const doc = parseYaml(fs.readFileSync(full, 'utf8')) as Record<string, unknown>;
        const parent = (doc.virtualRouter ?? doc.virtualGateway) as string | undefined;
        out.push({
          file: path.relative(dir, full),
          kind: String(doc.kind),
          name: String(doc.name),
          ...(parent !== undefined ? { parent } : {}),
          uid: String((doc.metadata as { uid?: unknown } | undefined)?.uid),
        });
      }
    }
  };
  walk(dir);
  return out.sort((a, b) => (a.file < b.file ? -1 : 1));
}

/** Every (host, port) a node's clusters send to, from the LOGICAL_DNS/STATIC load assignments and the endpoints. */
function upstreams(config: Record<string, unknown[]>): string[] {
  const found = new Set<string>();
  const visit = (la: unknown) => {
    for (const group of (la as { endpoints?: unknown[] } | undefined)?.endpoints ?? [])
      for (const lb of (group as { lb_endpoints?: unknown[] }).lb_endpoints ?? []) {
        const sa = (lb as { endpoint?: { address?: { socket_address?: { address: string; port_value: number } } } })
          .endpoint?.address?.socket_address;
        if (sa) found.add(`${sa.address}:${sa.port_value}`);
      }
  };
  for (const c of config.clusters ?? []) visit((c as { load_assignment?: unknown }).load_assignment);
  for (const e of config.endpoints ?? []) visit(e);
  return [...found].sort();
}

let cli: AwsCli | undefined;
function needs(): string | undefined {
  const found = findAwsCli();
  if (typeof found === 'string') return found;
  cli = found;
  return jqMissing();
}

describeIfAvailable(
  "the AWS CLI runs a team's deploy script (aws appmesh create-*) against meshd, unchanged",
  'the real AWS CLI (1.29.0 or later) and jq',
  needs(),
  () => {
    let meshd: RunningProcess;
    let adminPort: number;
    let xdsPort: number;
    let meshDir: string;
    let apiDir: string;
    let sdk: AppMeshClient;
    let upUids: string[] = [];
    const vars = {
      MESH_NAME: MESH,
      SERVICES_DOMAIN: DOMAIN,
      AWS_DEFAULT_REGION: REGION,
      // The pair meshd is started with (--api-credentials), so each request's SigV4 signature, made by the CLI's own
      // signer, is checked.
      AWS_ACCESS_KEY_ID: 'AKIDDEPLOYSCRIPT',
      AWS_SECRET_ACCESS_KEY: 'deploy-script-secret',
    };
    const run = (action: 'up' | 'down', overrides: Record<string, string> = {}) =>
      runAwsScript(cli!, DEPLOY_SH, [action], {
        endpoint: `http://127.0.0.1:${adminPort}`,
        vars: { ...vars, ...overrides },
        scratch: tmpDir('aws-cli-script-'),
        timeoutMs: 240000,
      });

    const describeUid = async (m: Made): Promise<string | undefined> => {
      const common = { meshName: MESH };
      switch (m.kind) {
        case 'Mesh':
          return (await sdk.send(new DescribeMeshCommand(common))).mesh?.metadata?.uid;
        case 'VirtualNode':
          return (await sdk.send(new DescribeVirtualNodeCommand({ ...common, virtualNodeName: m.name }))).virtualNode
            ?.metadata?.uid;
        case 'VirtualService':
          return (await sdk.send(new DescribeVirtualServiceCommand({ ...common, virtualServiceName: m.name })))
            .virtualService?.metadata?.uid;
        case 'VirtualRouter':
          return (await sdk.send(new DescribeVirtualRouterCommand({ ...common, virtualRouterName: m.name })))
            .virtualRouter?.metadata?.uid;
        case 'Route':
          return (
            await sdk.send(new DescribeRouteCommand({ ...common, virtualRouterName: m.parent, routeName: m.name }))
          ).route?.metadata?.uid;
        case 'VirtualGateway':
          return (await sdk.send(new DescribeVirtualGatewayCommand({ ...common, virtualGatewayName: m.name })))
            .virtualGateway?.metadata?.uid;
        case 'GatewayRoute':
          return (
            await sdk.send(
              new DescribeGatewayRouteCommand({ ...common, virtualGatewayName: m.parent, gatewayRouteName: m.name }),
            )
          ).gatewayRoute?.metadata?.uid;
      }
    };
    const meshNames = async () =>
      ((await sdk.send(new ListMeshesCommand({}))).meshes ?? []).map((m) => m.meshName).sort();
    const gatewayConfig = async () =>
      JSON.parse(await getOk(adminPort, `/v1/config/${encodeURIComponent(GATEWAY_NODE)}`)) as Record<string, unknown[]>;

    beforeAll(async () => {
      meshDir = meshFolder({ 'bystander.yaml': BYSTANDER });
      apiDir = path.join(meshDir, '.meshd-api');
      adminPort = await freePort();
      xdsPort = await freePort();
      // xDS on every address, so the gateway's Envoy in a network namespace reaches it over its veth.
      meshd = startMeshd([
        'serve',
        '--mesh',
        meshDir,
        '--xds-address',
        '0.0.0.0',
        '--xds-port',
        String(xdsPort),
        '--admin-port',
        String(adminPort),
        '--api-credentials',
        `${vars.AWS_ACCESS_KEY_ID}:${vars.AWS_SECRET_ACCESS_KEY}`,
      ]);
      await waitFor(
        'meshd ready',
        () =>
          getOk(adminPort, '/readyz').then(
            () => true,
            () => undefined,
          ),
        30000,
      );
      sdk = new AppMeshClient({
        endpoint: `http://127.0.0.1:${adminPort}`,
        region: REGION,
        credentials: { accessKeyId: vars.AWS_ACCESS_KEY_ID, secretAccessKey: vars.AWS_SECRET_ACCESS_KEY },
        maxAttempts: 1,
      });
    }, 60000);

    afterAll(async () => {
      sdk?.destroy();
      const code = await meshd?.stop();
      if (code !== 0 && code !== null) process.stderr.write(`meshd exited ${code}:\n${meshd.stderr()}\n`);
    });

    it("with a wrong secret deploy.sh up stops at its first command on the CLI's InvalidSignatureException; nothing is made", async () => {
      const refused = await run('up', { AWS_SECRET_ACCESS_KEY: 'not-the-secret' });
      expect(refused.status).toBe(255);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toMatch(
        /An error occurred \(InvalidSignatureException\) when calling the CreateMesh operation/,
      );
      expect(printedUids(refused)).toEqual([]);
      expect(await meshNames()).toEqual(['bystander']);
      expect(apiFiles(apiDir)).toEqual([]);
    }, 120000);

    it('deploy.sh up exits 0, printing the uid of each of the 12 resources it makes; each exists with that uid', async () => {
      const up = await run('up');
      expect({ status: up.status, output: up.status === 0 ? '' : explain(up) }).toEqual({ status: 0, output: '' });
      upUids = printedUids(up);
      // The CLI prints "None" for a uid the answer lacks, and exits 0 all the same.
      expect(upUids).toHaveLength(UP.length);
      for (const uid of upUids) expect(uid).toMatch(/^[0-9a-f-]{8,}$/);
      const described: Record<string, string | undefined> = {};
      for (const m of UP) described[label(m)] = await describeUid(m);
      expect(described).toEqual(Object.fromEntries(UP.map((m, i) => [label(m), upUids[i]])));
      expect(await meshNames()).toEqual(['bystander', MESH]);
    }, 300000);

    it("each resource is one YAML file in the mesh folder's .meshd-api/, holding its uid; the user's file is untouched", () => {
      const files = apiFiles(apiDir);
      expect(files.map(({ kind, name, parent, uid }) => ({ kind, name, parent, uid })).sort(byLabel)).toEqual(
        UP.map((m, i) => ({ kind: m.kind, name: m.name, parent: m.parent, uid: upUids[i] })).sort(byLabel),
      );
      expect(fs.readFileSync(path.join(meshDir, 'bystander.yaml'), 'utf8')).toBe(BYSTANDER);
    });

    it("the gateway's Envoy config (served, and from meshd render of the folder) has the listeners 1111 and 2222, the prefixes and the tellers' ports", async () => {
      const config = await waitFor('the gateway rendered', () => gatewayConfig().catch(() => undefined));
      // `meshd render` of the folder, offline, reads .meshd-api/ after the user's files: the same config as served.
      const offline = JSON.parse(
        execFileSync(
          process.execPath,
          [MESHD_BIN, 'render', '--mesh', meshDir, '--node', GATEWAY_NODE, '--format', 'json'],
          {
            encoding: 'utf8',
          },
        ),
      ) as Record<string, unknown[]>;
      expect(offline).toEqual(config);
      const ports = (config.listeners as { address: { socket_address: { port_value: number } } }[]).map(
        (l) => l.address.socket_address.port_value,
      );
      expect(ports).toEqual(expect.arrayContaining([1111, 2222]));
      const prefixes = (port: number) =>
        (config.routes as { name: string; virtual_hosts: { routes: { match: { prefix?: string } }[] }[] }[])
          .filter((r) => r.name.endsWith(`_${port}`))
          .flatMap((r) => (r.virtual_hosts ?? []).flatMap((v) => (v.routes ?? []).map((x) => x.match.prefix)))
          .sort();
      // fruit- and vegetable-gateway-route match /fruit and /vegetable on 1111; color-gateway-route all of 2222.
      expect(prefixes(1111)).toEqual(['/fruit', '/vegetable']);
      expect(prefixes(2222)).toEqual(['/']);
      // Through the router's port-only routes (3333 -> 5555, 4444 -> 6666) and the color node (7777).
      expect(upstreams(config)).toEqual(
        expect.arrayContaining([
          `colorteller.${DOMAIN}:7777`,
          `foodteller.${DOMAIN}:5555`,
          `foodteller.${DOMAIN}:6666`,
        ]),
      );
    });

    // The script's ports are fixed (listeners 1111 and 2222, tellers on 5555, 6666 and 7777) and its DNS names
    // are cluster names: a network namespace for the gateway's Envoy gives both, with its own /etc/hosts naming the
    // root namespace's end of its veth, where this test plays the teller apps (a team's own are container
    // images): small HTTP servers that answer `teller:<port> <path>`. The namespace has no DNS server; its
    // resolv.conf names a closed local port, so Envoy's IPv6 lookup of a name fails at once and it takes the hosts
    // file's IPv4 address.
    describeWithNetns('traffic through a real Envoy as tellergateway-vg, to stand-in teller apps', (envoyBin) => {
      let ns: Netns;
      const tellers: http.Server[] = [];
      beforeAll(async () => {
        ns = await createNetns();
        ns.setHosts({ [`colorteller.${DOMAIN}`]: ns.hostIp, [`foodteller.${DOMAIN}`]: ns.hostIp });
        fs.writeFileSync(`/etc/netns/${ns.name}/resolv.conf`, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
        for (const port of [5555, 6666, 7777]) {
          const teller = http.createServer((req, res) => res.end(`teller:${port} ${req.url}`));
          await new Promise<void>((resolve, reject) => {
            teller.once('error', reject);
            teller.listen(port, ns.hostIp, resolve);
          });
          tellers.push(teller);
        }
        await startSidecarInNetns(ns, envoyBin, GATEWAY_NODE, xdsPort);
      }, 60000);

      afterAll(async () => {
        await ns?.destroy();
        for (const t of tellers) {
          t.closeAllConnections();
          await new Promise((resolve) => t.close(resolve));
        }
        removeReadableTmpDirs();
      });

      it('1111/fruit reaches the fruit port 5555, 1111/vegetable 6666, anything on 2222 the color port 7777', async () => {
        const get = (port: number, p: string) =>
          request({ host: ns.nsIp, port, path: p }).then(
            (r) => `${r.status} ${r.body}`,
            (err: Error) => err.message,
          );
        await waitFor('the gateway to route /fruit', async () => {
          const answer = await get(1111, '/fruit');
          if (!answer.startsWith('200 ')) throw new Error(`1111/fruit answered ${answer}`);
          return true;
        });
        // A gateway route's prefix is rewritten to '/' by default (App Mesh's rule), so the teller sees the rest.
        expect({
          fruit: await get(1111, '/fruit'),
          vegetable: await get(1111, '/vegetable/beans'),
          color: await get(2222, '/'),
          colorAnyPath: await get(2222, '/any/path'),
          noRoute: (await get(1111, '/meat')).slice(0, 3),
        }).toEqual({
          fruit: '200 teller:5555 /',
          vegetable: '200 teller:6666 /beans',
          color: '200 teller:7777 /',
          colorAnyPath: '200 teller:7777 /any/path',
          noRoute: '404',
        });
      });
    });

    it('deploy.sh down exits 0, printing the same uids; every resource and its file is gone, the bystander stays', async () => {
      const down = await run('down');
      expect({ status: down.status, output: down.status === 0 ? '' : explain(down) }).toEqual({
        status: 0,
        output: '',
      });
      expect(printedUids(down)).toEqual(DOWN.map((m) => upUids[UP.indexOf(m)]));
      expect(await meshNames()).toEqual(['bystander']);
      await expect(sdk.send(new DescribeMeshCommand({ meshName: MESH }))).rejects.toMatchObject({
        name: 'NotFoundException',
      });
      expect(apiFiles(apiDir)).toEqual([]);
      await waitFor('the gateway gone from the served config', () =>
        gatewayConfig().then(
          () => undefined,
          (err: Error) => (/HTTP 404/.test(err.message) ? true : undefined),
        ),
      );
      expect(fs.readFileSync(path.join(meshDir, 'bystander.yaml'), 'utf8')).toBe(BYSTANDER);
    }, 300000);
  },
);

function byLabel(a: { kind: string; name: string }, b: { kind: string; name: string }): number {
  const x = `${a.kind} ${a.name}`;
  const y = `${b.kind} ${b.name}`;
  return x < y ? -1 : x > y ? 1 : 0;
}
