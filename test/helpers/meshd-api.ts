// A real `bin/meshd serve` process with the App Mesh API on its admin port, for the e2e tests that
// drive it with @aws-sdk/client-app-mesh or raw HTTP: free ports, a temp mesh folder, its own state
// files (kept across restarts, as a deployment keeps them), SDK clients, a raw request, a SIGKILL
// restart on the same ports and folder, and every file the store keeps, byte for byte.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { AppMeshClient } from '@aws-sdk/client-app-mesh';
import { freePort, getOk, startMeshd, tmpDir, waitFor, type RunningProcess } from './processes';

// The SDK plays a user's client; its notice that its versions from 2027 on need Node 22 is not about meshd.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export interface RawAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The body parsed as JSON ({} when empty). */
  readonly body: Record<string, unknown>;
  readonly text: string;
}

export interface ApiMeshd {
  /** The folder given to --mesh (the user's files; the API's folder is <dir>/.meshd-api). */
  readonly meshDir: string;
  readonly apiDir: string;
  /** Where meshd keeps its state (rollouts, file-defined resources' metadata, Cloud Map). */
  readonly stateDir: string;
  readonly xdsPort: number;
  readonly adminPort: number;
  /** http://127.0.0.1:<admin port>: the SDK's endpoint. */
  readonly url: string;
  /** The meshd process serving now (a new one after restart). */
  readonly process: RunningProcess;
  /** An SDK client with its own connections; `credentials` default to any key (loopback accepts any). */
  client(credentials?: { accessKeyId: string; secretAccessKey: string }): AppMeshClient;
  /** A raw request with the target exactly as given (node:http, no normalisation). */
  request(method: string, target: string, body?: string | Buffer, headers?: Record<string, string>): Promise<RawAnswer>;
  /** meshd's admin API: GET a path as text. */
  admin(pathAndQuery: string): Promise<string>;
  /** Kills meshd (SIGKILL by default) and starts it again on the same folder, state and ports. */
  restart(signal?: NodeJS.Signals): Promise<void>;
  /** meshd's stderr (all processes so far), for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

export interface ApiMeshdOptions {
  /** The user's mesh files: file name → text, written into the mesh folder. */
  readonly files: Record<string, string>;
  /** More `meshd serve` flags. */
  readonly args?: readonly string[];
}

export async function startApiMeshd(options: ApiMeshdOptions): Promise<ApiMeshd> {
  const root = tmpDir('api-meshd-');
  const meshDir = path.join(root, 'mesh');
  const stateDir = path.join(root, 'state');
  fs.mkdirSync(meshDir);
  fs.mkdirSync(stateDir);
  for (const [name, text] of Object.entries(options.files)) fs.writeFileSync(path.join(meshDir, name), text);
  const xdsPort = await freePort();
  const adminPort = await freePort();
  const args = [
    'serve',
    '--mesh',
    meshDir,
    '--xds-address',
    '127.0.0.1',
    '--xds-port',
    String(xdsPort),
    '--admin-port',
    String(adminPort),
    '--cloud-map-state',
    path.join(stateDir, 'cloud-map.json'),
    '--rollout-state',
    path.join(stateDir, 'rollouts.json'),
    ...(options.args ?? []),
  ];
  let meshd = startMeshd(args);
  let earlier = '';
  const serving = () =>
    waitFor('meshd to serve', () => {
      if (meshd.child.exitCode !== null) throw new Error(`meshd exited (${meshd.child.exitCode}):\n${meshd.stderr()}`);
      return meshd.stdout().includes('xDS (ADS gRPC)') ? true : undefined;
    });
  await serving();
  const url = `http://127.0.0.1:${adminPort}`;
  const clients: AppMeshClient[] = [];
  return {
    meshDir,
    apiDir: path.join(meshDir, '.meshd-api'),
    stateDir,
    xdsPort,
    adminPort,
    url,
    get process() {
      return meshd;
    },
    client(credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'any' }) {
      const client = new AppMeshClient({ endpoint: url, region: 'us-east-1', credentials, maxAttempts: 1 });
      clients.push(client);
      return client;
    },
    request: (method, target, body, headers = {}) => rawRequest(adminPort, method, target, body, headers),
    admin: (p) => getOk(adminPort, p),
    async restart(signal = 'SIGKILL') {
      const old = meshd;
      if (old.child.exitCode === null && old.child.signalCode === null) {
        const exited = new Promise<void>((resolve) => old.child.once('exit', () => resolve()));
        old.child.kill(signal);
        await exited;
      }
      earlier += `${old.stderr()}--- meshd ${signal} and started again ---\n`;
      meshd = startMeshd(args);
      await serving();
    },
    logs: () => (earlier + meshd.stderr()).slice(-8000),
    async stop() {
      for (const c of clients) c.destroy();
      await meshd.stop();
    },
  };
}

function rawRequest(
  port: number,
  method: string,
  target: string,
  body: string | Buffer | undefined,
  headers: Record<string, string>,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: target,
        method,
        agent: false,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Record<string, unknown> = {};
          try {
            parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            parsed = { unparsed: text };
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, text });
        });
      },
    );
    // meshd may answer (413) and close before the whole body is sent: the answer still arrives.
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends `If-Match: "<version>"` with one command (App Mesh's optimistic check; the SDK has no member for it). */
export function withIfMatch<C extends { middlewareStack: object }>(command: C, version: number): C {
  type Args = { request: { headers: Record<string, string> } };
  (command.middlewareStack as { add: (m: unknown, o: unknown) => void }).add(
    (next: (args: Args) => Promise<unknown>) => (args: Args) => {
      args.request.headers['if-match'] = `"${version}"`;
      return next(args);
    },
    { step: 'build', name: 'meshdTestIfMatch' },
  );
  return command;
}

/** Every file under the folders, with its bytes, by path: what the store keeps. */
export function filesUnder(...dirs: string[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) {
        out.set(`${full}/`, Buffer.alloc(0));
        walk(full);
      } else out.set(full, fs.readFileSync(full));
    }
  };
  for (const d of dirs) if (fs.existsSync(d)) walk(d);
  return out;
}

/** The differences between two filesUnder() results, as lines ([] when byte-identical). */
export function fileDifferences(before: Map<string, Buffer>, after: Map<string, Buffer>): string[] {
  const out: string[] = [];
  for (const [f, bytes] of before) {
    const now = after.get(f);
    if (!now) out.push(`removed: ${f}`);
    else if (!now.equals(bytes)) out.push(`changed: ${f}`);
  }
  for (const f of after.keys()) if (!before.has(f)) out.push(`added: ${f}`);
  return out;
}
