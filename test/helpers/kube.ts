// A real Kubernetes API for the Kubernetes-mode tests: etcd and kube-apiserver (v1.37.2), built from
// their Go modules by scripts/build-kube-tools into .tools/ (CI builds them before the tests), run on
// loopback in a temp folder. Authentication is a static token file with two users: `admin` (group
// system:masters, every right) and `meshd` (no right until a test grants one through RBAC), so
// meshd's printed ClusterRole is what is tested. There is no kubelet and no controller-manager: pods
// never run and EndpointSlices are not made for you (tests create them as those controllers would),
// and no ServiceAccount controller (tests create a namespace's `default` ServiceAccount before a Pod).
// A watchdog kills both servers and removes the folder when the test process is gone, SIGKILL included.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { describeIfAvailable } from './envoy';
import { openssl } from './certs';
import { freePorts, tmpDir, waitFor } from './processes';

const ROOT = path.resolve(__dirname, '../..');

export interface KubeTools {
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubectl: string;
}

let tools: KubeTools | undefined | null = null;

/** The built binaries, or undefined when scripts/build-kube-tools has not built them (it takes minutes: CI runs it first). */
export function kubeTools(): KubeTools | undefined {
  if (tools !== null) return tools;
  try {
    const out = execFileSync(path.join(ROOT, 'scripts/build-kube-tools'), ['--built'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dir = out.split('\n').pop()!;
    const found = {
      etcd: path.join(dir, 'etcd'),
      kubeApiserver: path.join(dir, 'kube-apiserver'),
      kubectl: path.join(dir, 'kubectl'),
    };
    tools = Object.values(found).every((f) => fs.existsSync(f)) ? found : undefined;
  } catch {
    tools = undefined;
  }
  return tools;
}

export const NO_KUBE =
  'no kube-apiserver and etcd built (run scripts/build-kube-tools: it needs Go and the Go module proxy)';

/** `describe` for suites that need a real API server: skipped without the tools, failed under MESHD_REQUIRE_ENVOY=1. */
export function describeWithKube(name: string, body: () => void): void {
  describeIfAvailable(name, 'a real kube-apiserver', kubeTools() ? undefined : NO_KUBE, body);
}

export type KubeUser = 'admin' | 'meshd';

export interface KubeAnswer {
  readonly status: number;
  readonly body: any;
}

export interface KubeCluster {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** The CA that signed the API server's serving certificate. */
  readonly caFile: string;
  readonly dir: string;
  token(user: KubeUser): string;
  /** Writes a kubeconfig for `user` (a file of its own per call) and answers its path. */
  kubeconfig(user: KubeUser): string;
  /** One HTTPS call, JSON in and out (as admin unless told); never throws on an HTTP status. */
  request(method: string, pathName: string, body?: unknown, user?: KubeUser, contentType?: string): Promise<KubeAnswer>;
  /** Creates (POST) or fails the test with the server's message. */
  create(collectionPath: string, object: unknown): Promise<any>;
  /** kubectl of the same version, as admin unless told; answers stdout, throws with stderr. */
  kubectl(args: readonly string[], user?: KubeUser, input?: string): string;
  /** A namespace with its `default` ServiceAccount (no ServiceAccount controller runs); labels optional. */
  createNamespace(name: string, labels?: Record<string, string>): Promise<void>;
  /** Stops the API server (SIGTERM) and starts it again on the same port and etcd; resolves when it is ready. */
  restartApiServer(options?: { downMs?: number }): Promise<void>;
  stopApiServer(): Promise<void>;
  startApiServer(): Promise<void>;
  close(): Promise<void>;
}

function stop(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/** Kills `pids` and removes `dir` once this process is gone (a detached shell polling for it). */
function watchdog(pids: () => number[], dir: string): { update(): void; stop(): void } {
  let child: ChildProcess | undefined;
  const update = () => {
    child?.kill('SIGKILL');
    const list = pids().join(' ');
    const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${list} 2>/dev/null; rm -rf '${dir}'`;
    child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
    child.unref();
  };
  update();
  return { update, stop: () => child?.kill('SIGKILL') };
}

export async function startKubeCluster(): Promise<KubeCluster> {
  const bins = kubeTools();
  if (!bins) throw new Error(NO_KUBE);
  const dir = tmpDir('meshd-kube-');
  const [etcdClient, etcdPeer, apiPort] = await freePorts(3);
  // The serving certificate, from a CA of the test's own (the API server would make a self-signed one otherwise).
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-subj',
    '/CN=meshd-test-kube-ca',
    '-days',
    '2',
    '-out',
    'ca.crt',
  ]);
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'apiserver.key']);
  fs.writeFileSync(
    path.join(dir, 'apiserver.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n',
  );
  openssl(dir, ['req', '-new', '-key', 'apiserver.key', '-subj', '/CN=kube-apiserver', '-out', 'apiserver.csr']);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'apiserver.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'apiserver.ext',
    '-out',
    'apiserver.crt',
  ]);
  // Service-account tokens are signed with this key (the API server refuses to start without one).
  openssl(dir, ['genrsa', '-out', 'sa.key', '2048']);
  openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
  const tokens: Record<KubeUser, string> = {
    admin: randomBytes(16).toString('hex'),
    meshd: randomBytes(16).toString('hex'),
  };
  fs.writeFileSync(
    path.join(dir, 'tokens.csv'),
    `${tokens.admin},admin,admin-uid,"system:masters"\n${tokens.meshd},meshd,meshd-uid,"meshd-test"\n`,
  );
  const caFile = path.join(dir, 'ca.crt');
  const url = `https://127.0.0.1:${apiPort}`;
  const ca = fs.readFileSync(caFile);

  let etcd: ChildProcess | undefined;
  let apiserver: ChildProcess | undefined;
  const logOf = (name: string) => fs.openSync(path.join(dir, `${name}.log`), 'a');
  const guard = watchdog(() => [etcd?.pid, apiserver?.pid].filter((p): p is number => p !== undefined), dir);

  const request = (
    method: string,
    pathName: string,
    body?: unknown,
    user: KubeUser = 'admin',
    contentType = 'application/json',
  ): Promise<KubeAnswer> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = https.request(
        `${url}${pathName}`,
        {
          method,
          ca,
          headers: {
            authorization: `Bearer ${tokens[user]}`,
            accept: 'application/json',
            ...(data ? { 'content-type': contentType, 'content-length': data.length } : {}),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // not JSON (a plain-text error): kept as text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${pathName}: no answer in 30 s`)));
      req.on('error', reject);
      req.end(data);
    });

  const startEtcd = async () => {
    etcd = spawn(
      bins.etcd,
      [
        '--data-dir',
        path.join(dir, 'etcd'),
        '--listen-client-urls',
        `http://127.0.0.1:${etcdClient}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${etcdPeer}`,
      ],
      { stdio: ['ignore', logOf('etcd'), logOf('etcd')] },
    );
    guard.update();
  };

  const startApiServer = async () => {
    apiserver = spawn(
      bins.kubeApiserver,
      [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        `--bind-address=127.0.0.1`,
        `--secure-port=${apiPort}`,
        `--cert-dir=${path.join(dir, 'certs')}`,
        `--tls-cert-file=${path.join(dir, 'apiserver.crt')}`,
        `--tls-private-key-file=${path.join(dir, 'apiserver.key')}`,
        `--client-ca-file=${caFile}`,
        `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        `--service-account-issuer=https://kubernetes.default.svc`,
        `--service-account-key-file=${path.join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${path.join(dir, 'sa.key')}`,
        '--service-cluster-ip-range=10.96.0.0/16',
        '--advertise-address=127.0.0.1',
        // The kubernetes Service's endpoints would be this loopback address, which validation refuses: not kept.
        '--endpoint-reconciler-type=none',
        '--anonymous-auth=false',
        '--enable-priority-and-fairness=false',
        '--watch-cache=true',
        '--v=0',
      ],
      { stdio: ['ignore', logOf('kube-apiserver'), logOf('kube-apiserver')] },
    );
    guard.update();
    const started = apiserver;
    const outcome = await waitFor(
      'kube-apiserver /readyz',
      async () => {
        if (started.exitCode !== null || started.signalCode !== null) return 'exited';
        try {
          const r = await request('GET', '/readyz');
          return r.status === 200 ? 'ready' : undefined;
        } catch {
          return undefined;
        }
      },
      60_000,
      100,
    );
    if (outcome === 'exited') {
      const log = fs.readFileSync(path.join(dir, 'kube-apiserver.log'), 'utf8').slice(-3000);
      throw new Error(`kube-apiserver exited (${started.exitCode ?? started.signalCode}):\n${log}`);
    }
  };

  try {
    await startEtcd();
    await startApiServer();
  } catch (err) {
    await stop(apiserver);
    await stop(etcd);
    guard.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const kubeconfig = (user: KubeUser) => {
    const file = path.join(dir, `kubeconfig-${user}-${randomBytes(4).toString('hex')}.yaml`);
    fs.writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: test',
        '  cluster:',
        `    server: ${url}`,
        `    certificate-authority: ${caFile}`,
        'users:',
        `- name: ${user}`,
        '  user:',
        `    token: ${tokens[user]}`,
        'contexts:',
        '- name: test',
        '  context:',
        '    cluster: test',
        `    user: ${user}`,
        'current-context: test',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return file;
  };
  const kubeconfigs = new Map<KubeUser, string>();

  const cluster: KubeCluster = {
    url,
    port: apiPort!,
    caFile,
    dir,
    token: (user) => tokens[user],
    kubeconfig,
    request,
    async create(collectionPath, object) {
      const r = await request('POST', collectionPath, object);
      if (r.status >= 300)
        throw new Error(`POST ${collectionPath}: ${r.status} ${JSON.stringify(r.body).slice(0, 2000)}`);
      return r.body;
    },
    kubectl(args, user = 'admin', input) {
      let config = kubeconfigs.get(user);
      if (!config) kubeconfigs.set(user, (config = kubeconfig(user)));
      return execFileSync(bins.kubectl, ['--kubeconfig', config, ...args], {
        encoding: 'utf8',
        input,
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: 60_000,
      });
    },
    async createNamespace(name, labels = {}) {
      await cluster.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
      await cluster.create(`/api/v1/namespaces/${name}/serviceaccounts`, {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'default' },
      });
    },
    async stopApiServer() {
      await stop(apiserver);
    },
    startApiServer,
    async restartApiServer(options = {}) {
      await stop(apiserver);
      if (options.downMs) await new Promise((r) => setTimeout(r, options.downMs));
      await startApiServer();
    },
    async close() {
      await stop(apiserver);
      await stop(etcd);
      guard.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
