// The Kubernetes API client meshd uses: a KubeClient (kube-api.ts) over node:https, and the connection it
// talks over, read from a kubeconfig file or from the pod's service account.
//
// Why not @kubernetes/client-node: its 1.x/2.x releases are ESM-only (meshd and jest are CommonJS) and 0.x
// depends on the deprecated `request` package. meshd needs seven verbs, list paging and a watch stream, so a
// small client over node:https is less code to trust than either; no new dependency (YAML: the `yaml` package
// meshd already uses).
//
// Everything the API server answers is treated as hostile: bodies are bounded (64 MiB), watch lines are bounded
// (16 MiB), calls time out (30 s), a silent watch is dropped, and a malformed answer becomes a KubeError: no
// method throws synchronously and no answer can crash the process.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  KubeError,
  type KubeClient,
  type KubeObject,
  type ListOptions,
  type ListResult,
  type PatchType,
  type ResourceType,
  type WatchEventType,
  type WatchOptions,
} from './kube-api';

/** A kubeconfig or the service account could not be read: one sentence naming the file and the field. */
export class KubeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeConfigError';
  }
}

/** Where the API server is and how to authenticate to it. */
export interface KubeConnection {
  /** The API server's URL, e.g. `https://10.96.0.1:443` (no trailing slash). */
  readonly server: string;
  /** The in-cluster namespace (service account's `namespace` file), or the kubeconfig context's; else undefined. */
  readonly namespace: string | undefined;
  /** What the connection was read from: a kubeconfig file's path, or `in-cluster`. */
  readonly source: string;
  /** PEM of the CA(s) the server's certificate must chain to; undefined: the system's roots. */
  readonly ca: Buffer | undefined;
  readonly insecureSkipTlsVerify: boolean;
  /** Client certificate and key (PEM), for certificate authentication. */
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  /** The bearer token to send now (a token file is read again every minute: bound tokens rotate). */
  token(): string | undefined;
}

export interface LoadKubeConfigOptions {
  /** A kubeconfig file (`--kubeconfig`); else `KUBECONFIG` (its first path); else the pod's service account. */
  readonly kubeconfig?: string;
  /** The context to use; the file's `current-context` by default. */
  readonly context?: string;
  /** The environment to read KUBECONFIG, KUBERNETES_SERVICE_HOST/PORT and HOME from (process.env by default). */
  readonly env?: NodeJS.ProcessEnv;
  /** The service account's folder (tests); `/var/run/secrets/kubernetes.io/serviceaccount` by default. */
  readonly serviceAccountDir?: string;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** How often a token file is read again. */
export const TOKEN_REFRESH_MS = 60_000;
const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;

/** The connection from a kubeconfig file, KUBECONFIG, or the pod's service account (in that order). */
export function loadKubeConfig(options: LoadKubeConfigOptions = {}): KubeConnection {
  const env = options.env ?? process.env;
  if (options.kubeconfig) return fromKubeconfig(path.resolve(options.kubeconfig), options.context);
  const fromEnv = (env.KUBECONFIG ?? '')
    .split(path.delimiter)
    .map((p) => p.trim())
    .find((p) => p !== '');
  if (fromEnv) return fromKubeconfig(path.resolve(fromEnv), options.context);
  if (env.KUBERNETES_SERVICE_HOST) return inCluster(env, options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  const home = env.HOME ? path.join(env.HOME, '.kube', 'config') : undefined;
  if (home && fs.existsSync(home)) return fromKubeconfig(home, options.context);
  throw new KubeConfigError(
    'No Kubernetes API to connect to: pass --kubeconfig, set KUBECONFIG, or run meshd in a pod ' +
      '(KUBERNETES_SERVICE_HOST is not set).',
  );
}

function readConfigFile(file: string, what: string): Buffer {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw new KubeConfigError(`${what} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}.`);
  }
  if (!stat.isFile()) throw new KubeConfigError(`${what} ${file} is not a file.`);
  if (stat.size > MAX_CONFIG_FILE_BYTES) throw new KubeConfigError(`${what} ${file} is larger than 4 MiB.`);
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new KubeConfigError(`${what} ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}.`);
  }
}

/** A token read from a file, read again when older than TOKEN_REFRESH_MS (a failed read keeps the last one). */
function tokenFromFile(file: string, source: string, field: string): () => string | undefined {
  const read = (): string => readConfigFile(file, `${field} of ${source}:`).toString('utf8').trim();
  let token = read();
  let readAt = Date.now();
  return () => {
    if (Date.now() - readAt >= TOKEN_REFRESH_MS) {
      readAt = Date.now();
      try {
        token = read();
      } catch {
        // Keep the last token: the kubelet replaces the file atomically, a failure is transient.
      }
    }
    return token === '' ? undefined : token;
  };
}

function inCluster(env: NodeJS.ProcessEnv, dir: string): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  if (!/^\d+$/.test(port)) {
    throw new KubeConfigError(`KUBERNETES_SERVICE_PORT is not a port number (${JSON.stringify(port.slice(0, 40))}).`);
  }
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const tokenFile = path.join(dir, 'token');
  const token = tokenFromFile(tokenFile, 'the service account', 'token file');
  const ca = readConfigFile(path.join(dir, 'ca.crt'), 'The service account CA file');
  let namespace: string | undefined;
  const nsFile = path.join(dir, 'namespace');
  if (fs.existsSync(nsFile))
    namespace = readConfigFile(nsFile, 'The namespace file').toString('utf8').trim() || undefined;
  return {
    server,
    namespace,
    source: 'in-cluster',
    ca,
    insecureSkipTlsVerify: false,
    cert: undefined,
    key: undefined,
    token,
  };
}

type Yaml = Record<string, unknown>;
const isRecord = (v: unknown): v is Yaml => typeof v === 'object' && v !== null && !Array.isArray(v);

function namedEntry(file: string, doc: Yaml, list: string, name: string, field: string): Yaml {
  const entries = doc[list];
  if (entries !== undefined && !Array.isArray(entries)) throw new KubeConfigError(`${file}: ${list} is not a list.`);
  const entry = (entries ?? []).find((e) => isRecord(e) && e.name === name) as Yaml | undefined;
  if (!entry) throw new KubeConfigError(`${file}: ${field} names ${list.slice(0, -1)} "${name}", which ${list} lacks.`);
  const body = entry[list.slice(0, -1)];
  if (!isRecord(body)) throw new KubeConfigError(`${file}: ${list} "${name}" has no ${list.slice(0, -1)} map.`);
  return body;
}

function fromKubeconfig(file: string, contextName: string | undefined): KubeConnection {
  const text = readConfigFile(file, 'The kubeconfig').toString('utf8');
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    const first = String((err as Error).message).split('\n')[0];
    throw new KubeConfigError(`The kubeconfig ${file} is not valid YAML: ${first}`);
  }
  if (!isRecord(doc)) throw new KubeConfigError(`The kubeconfig ${file} is not a YAML map.`);
  const dir = path.dirname(file);
  const str = (owner: Yaml, field: string, where: string): string | undefined => {
    const v = owner[field];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new KubeConfigError(`${file}: ${where}.${field} is not a string.`);
    return v;
  };
  const current = contextName ?? str(doc, 'current-context', 'the file');
  if (!current) {
    throw new KubeConfigError(
      `${file}: current-context is not set; name a context or set one (kubectl config use-context).`,
    );
  }
  const context = namedEntry(file, doc, 'contexts', current, contextName ? 'the requested context' : 'current-context');
  const where = `context "${current}"`;
  const clusterName = str(context, 'cluster', where);
  if (!clusterName) throw new KubeConfigError(`${file}: ${where} names no cluster.`);
  const cluster = namedEntry(file, doc, 'clusters', clusterName, `${where}`);
  const cw = `cluster "${clusterName}"`;
  const server = str(cluster, 'server', cw);
  if (!server) throw new KubeConfigError(`${file}: ${cw} has no server.`);
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new KubeConfigError(`${file}: ${cw}.server is not a URL (${JSON.stringify(server.slice(0, 80))}).`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new KubeConfigError(`${file}: ${cw}.server must be an https:// URL, not ${url.protocol}.`);
  }
  const fileOrData = (owner: Yaml, field: string, where: string): Buffer | undefined => {
    const data = str(owner, `${field}-data`, where);
    if (data !== undefined) {
      const bytes = Buffer.from(data, 'base64');
      if (bytes.length === 0) throw new KubeConfigError(`${file}: ${where}.${field}-data is not base64.`);
      return bytes;
    }
    const named = str(owner, field, where);
    if (named === undefined) return undefined;
    return readConfigFile(path.resolve(dir, named), `${where}.${field} of ${file}:`);
  };
  const ca = fileOrData(cluster, 'certificate-authority', cw);
  const insecure = cluster['insecure-skip-tls-verify'] === true;

  let token: () => string | undefined = () => undefined;
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  const userName = str(context, 'user', where);
  if (userName) {
    const user = namedEntry(file, doc, 'users', userName, where);
    const uw = `user "${userName}"`;
    if (user.exec !== undefined && user.exec !== null) {
      throw new KubeConfigError(
        `${file}: ${uw} uses an exec credential plugin, which meshd does not run; give it a token, tokenFile or client certificate.`,
      );
    }
    if (user['auth-provider'] !== undefined && user['auth-provider'] !== null) {
      throw new KubeConfigError(
        `${file}: ${uw} uses an auth-provider, which meshd does not support; give it a token, tokenFile or client certificate.`,
      );
    }
    if (user.username !== undefined || user.password !== undefined) {
      throw new KubeConfigError(
        `${file}: ${uw} uses basic authentication (username/password), which meshd does not support.`,
      );
    }
    const literal = str(user, 'token', uw);
    const tokenFile = str(user, 'tokenFile', uw);
    if (literal !== undefined) token = () => literal;
    else if (tokenFile !== undefined)
      token = tokenFromFile(path.resolve(dir, tokenFile), `${uw} of ${file}`, 'tokenFile');
    cert = fileOrData(user, 'client-certificate', uw);
    key = fileOrData(user, 'client-key', uw);
    if ((cert === undefined) !== (key === undefined)) {
      throw new KubeConfigError(
        `${file}: ${uw} has a client certificate without its key, or a key without its certificate.`,
      );
    }
  }
  const namespace = str(context, 'namespace', where);
  return {
    server: url.toString().replace(/\/+$/, ''),
    namespace,
    source: file,
    ca,
    insecureSkipTlsVerify: insecure,
    cert,
    key,
    token,
  };
}

export interface KubeClientOptions {
  /** Non-watch calls are abandoned after this long (30 s). */
  readonly requestTimeoutMs?: number;
  /** An answer's body larger than this is refused (64 MiB). */
  readonly maxResponseBytes?: number;
  /** A watch event line longer than this ends the watch with an error (16 MiB). */
  readonly maxWatchLineBytes?: number;
  /** A watch with no byte for timeoutSeconds plus this long is abandoned (60 s), unless watchIdleMs is shorter. */
  readonly watchIdleGraceMs?: number;
  /**
   * A watch with no byte for this long is abandoned (120 s): watches ask for bookmarks, which the API server sends
   * about every minute, so a silent connection is a dead one.
   */
  readonly watchIdleMs?: number;
  /** A list whose pages add up to more bytes than this is refused (256 MiB). */
  readonly maxListBytes?: number;
  /** Where a skipped malformed object is reported (at most one line a minute); nowhere by default. */
  readonly log?: (message: string) => void;
}

/** What the client counted: objects it skipped because they lacked metadata.name. */
export interface KubeClientStats {
  /** Listed items and watch events skipped because their object had no metadata.name. */
  readonly malformed: number;
}

const MIB = 1024 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * MIB;
export const DEFAULT_MAX_WATCH_LINE_BYTES = 16 * MIB;
export const DEFAULT_WATCH_IDLE_MS = 120_000;
export const DEFAULT_MAX_LIST_BYTES = 256 * MIB;
/** TCP keepalive probes start after this long without traffic on a connection. */
const KEEPALIVE_DELAY_MS = 30_000;
/** A skipped malformed object is logged at most this often. */
const MALFORMED_LOG_INTERVAL_MS = 60_000;
/** The watch's server-side timeout when the caller gives none. */
export const DEFAULT_WATCH_TIMEOUT_SECONDS = 300;
const DEFAULT_LIST_LIMIT = 500;
/** A list of more pages than this is refused (at 500 a page: five million objects). */
const MAX_LIST_PAGES = 10_000;
/** A non-2xx answer's body is read up to this much (its Status object). */
const MAX_ERROR_BODY_BYTES = MIB;
const MAX_MESSAGE_CHARS = 1024;

/** The URL path of a type's collection (namespace given and the type namespaced) or of one object. */
export function resourcePath(type: ResourceType, namespace: string | undefined, name?: string): string {
  const base = type.group === '' ? `/api/${type.version}` : `/apis/${type.group}/${type.version}`;
  const ns = type.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const obj = name !== undefined ? `/${encodeURIComponent(name)}` : '';
  return `${base}${ns}/${type.plural}${obj}`;
}

const clip = (s: string): string => (s.length > MAX_MESSAGE_CHARS ? `${s.slice(0, MAX_MESSAGE_CHARS)}…` : s);

/** The KubeError for a non-2xx answer: its Status object's message and reason when it has them. */
function statusError(code: number, body: Buffer, what: string): KubeError {
  let message: string | undefined;
  let reason: string | undefined;
  try {
    const status = JSON.parse(body.toString('utf8')) as unknown;
    if (isRecord(status)) {
      if (typeof status.message === 'string' && status.message !== '') message = status.message;
      if (typeof status.reason === 'string' && status.reason !== '') reason = status.reason;
    }
  } catch {
    // Not a Status object (a proxy's HTML page, say): the HTTP status says enough.
  }
  return new KubeError(clip(message ?? `${what}: HTTP ${code}`), code, reason);
}

/** The KubeError of a watch's ERROR event (a Status object). */
function watchStatusError(object: unknown): KubeError {
  const status = isRecord(object) ? object : {};
  const code = typeof status.code === 'number' && Number.isInteger(status.code) ? status.code : 0;
  const message = typeof status.message === 'string' && status.message !== '' ? status.message : 'the watch failed';
  const reason = typeof status.reason === 'string' && status.reason !== '' ? status.reason : undefined;
  return new KubeError(clip(message), code, reason);
}

function isKubeObject(v: unknown): v is KubeObject {
  return isRecord(v) && isRecord(v.metadata) && typeof v.metadata.name === 'string';
}

interface Answer {
  readonly status: number;
  readonly body: Buffer;
}

class HttpsKubeClient implements KubeClient, KubeClientStats {
  private readonly base: URL;
  private malformed_ = 0;
  private malformedLoggedAt = -Infinity;
  private readonly watchIdleMs: number;
  private readonly maxListBytes: number;
  private readonly agent: http.Agent;
  private readonly requestTimeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly maxWatchLineBytes: number;
  private readonly watchIdleGraceMs: number;

  constructor(
    private readonly connection: KubeConnection,
    private readonly options: KubeClientOptions,
  ) {
    this.base = new URL(connection.server);
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.maxWatchLineBytes = options.maxWatchLineBytes ?? DEFAULT_MAX_WATCH_LINE_BYTES;
    this.watchIdleGraceMs = options.watchIdleGraceMs ?? 60_000;
    this.watchIdleMs = options.watchIdleMs ?? DEFAULT_WATCH_IDLE_MS;
    this.maxListBytes = options.maxListBytes ?? DEFAULT_MAX_LIST_BYTES;
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({
            keepAlive: true,
            ca: connection.ca,
            cert: connection.cert,
            key: connection.key,
            rejectUnauthorized: !connection.insecureSkipTlsVerify,
          })
        : new http.Agent({ keepAlive: true });
  }

  get malformed(): number {
    return this.malformed_;
  }

  /** Counts an object skipped for lacking metadata.name, and says so (at most once a minute). */
  private skipMalformed(message: string): void {
    this.malformed_++;
    const now = Date.now();
    if (now - this.malformedLoggedAt < MALFORMED_LOG_INTERVAL_MS) return;
    this.malformedLoggedAt = now;
    try {
      this.options.log?.(`${message}; skipped it (${this.malformed_} malformed objects skipped so far)`);
    } catch {
      // A logger that throws must not end a list or a watch.
    }
  }

  private open(method: string, pathAndQuery: string, contentType?: string): http.ClientRequest {
    const headers: http.OutgoingHttpHeaders = { accept: 'application/json', 'user-agent': 'meshd' };
    if (contentType) headers['content-type'] = contentType;
    const token = this.connection.token();
    if (token) headers.authorization = `Bearer ${token}`;
    const basePath = this.base.pathname === '/' ? '' : this.base.pathname.replace(/\/+$/, '');
    const options: https.RequestOptions = {
      method,
      host: this.base.hostname.replace(/^\[|\]$/g, ''),
      port: this.base.port || (this.base.protocol === 'https:' ? 443 : 80),
      path: basePath + pathAndQuery,
      headers,
      agent: this.agent,
    };
    const req = this.base.protocol === 'https:' ? https.request(options) : http.request(options);
    // A peer that vanished without a FIN or RST (a node lost, a NAT entry dropped) is noticed by the kernel.
    req.on('socket', (socket) => socket.setKeepAlive(true, KEEPALIVE_DELAY_MS));
    return req;
  }

  /** One bounded, timed call: its status and body. Transport failures are KubeErrors with status 0. */
  private call(method: string, pathAndQuery: string, body?: unknown, contentType?: string): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const what = `${method} ${pathAndQuery.split('?')[0]}`;
      let settled = false;
      let req: http.ClientRequest | undefined;
      const fail = (err: KubeError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req?.destroy();
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new KubeError(`${what}: the Kubernetes API did not answer within ${this.requestTimeoutMs} ms`, 0)),
        this.requestTimeoutMs,
      );
      try {
        const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
        req = this.open(method, pathAndQuery, payload ? (contentType ?? 'application/json') : undefined);
        if (payload) req.setHeader('content-length', payload.length);
        req.on('error', (err) => fail(transportError(this.connection.server, what, err)));
        req.on('response', (res) => {
          const status = res.statusCode ?? 0;
          const limit = status >= 200 && status < 300 ? this.maxResponseBytes : MAX_ERROR_BODY_BYTES;
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > limit) {
              fail(new KubeError(`${what}: the Kubernetes API's answer exceeds ${limit} bytes`, 0));
              return;
            }
            chunks.push(chunk);
          });
          res.on('error', (err) => fail(transportError(this.connection.server, what, err)));
          res.on('aborted', () => fail(new KubeError(`${what}: the Kubernetes API closed the answer early`, 0)));
          res.on('close', () => {
            if (!res.complete) fail(new KubeError(`${what}: the Kubernetes API closed the answer early`, 0));
          });
          res.on('end', () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve({ status, body: Buffer.concat(chunks) });
          });
        });
        req.end(payload);
      } catch (err) {
        fail(new KubeError(`${what}: ${(err as Error).message}`, 0));
      }
    });
  }

  /** A 2xx answer's JSON object, else the KubeError of its Status. */
  private async json(method: string, pathAndQuery: string, body?: unknown, contentType?: string): Promise<Yaml> {
    return this.parse(method, pathAndQuery, await this.call(method, pathAndQuery, body, contentType));
  }

  private parse(method: string, pathAndQuery: string, answer: Answer): Yaml {
    const what = `${method} ${pathAndQuery.split('?')[0]}`;
    if (answer.status < 200 || answer.status >= 300) throw statusError(answer.status, answer.body, what);
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.body.toString('utf8'));
    } catch {
      throw new KubeError(`${what}: the Kubernetes API answered malformed JSON (HTTP ${answer.status})`, answer.status);
    }
    if (!isRecord(parsed))
      throw new KubeError(`${what}: the Kubernetes API answered JSON that is not an object`, answer.status);
    return parsed;
  }

  private async object<T extends KubeObject>(
    method: string,
    pathAndQuery: string,
    body?: unknown,
    contentType?: string,
  ): Promise<T> {
    const parsed = await this.json(method, pathAndQuery, body, contentType);
    if (!isKubeObject(parsed)) {
      throw new KubeError(
        `${method} ${pathAndQuery.split('?')[0]}: the Kubernetes API answered an object without metadata.name`,
        0,
      );
    }
    return parsed as T;
  }

  async get<T extends KubeObject = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
  ): Promise<T | undefined> {
    try {
      return await this.object<T>('GET', resourcePath(type, namespace, name));
    } catch (err) {
      if (err instanceof KubeError && err.status === 404) return undefined;
      throw err;
    }
  }

  async list<T extends KubeObject = KubeObject>(type: ResourceType, options: ListOptions = {}): Promise<ListResult<T>> {
    const collection = resourcePath(type, options.namespace);
    const limit = options.limit ?? DEFAULT_LIST_LIMIT;
    const items: T[] = [];
    let cont: string | undefined;
    let restarted = false;
    let pages = 0;
    let bytes = 0;
    for (;;) {
      const query = new URLSearchParams();
      if (options.labelSelector) query.set('labelSelector', options.labelSelector);
      if (options.fieldSelector) query.set('fieldSelector', options.fieldSelector);
      if (limit > 0) query.set('limit', String(limit));
      if (cont) query.set('continue', cont);
      let page: Yaml;
      try {
        const pathAndQuery = `${collection}?${query.toString()}`;
        const answer = await this.call('GET', pathAndQuery);
        bytes += answer.body.length;
        if (bytes > this.maxListBytes) {
          throw new KubeError(
            `GET ${collection}: the list exceeds ${this.maxListBytes} bytes across its pages; ` +
              'list fewer objects (a namespace or a label selector) or raise maxListBytes',
            0,
          );
        }
        page = this.parse('GET', pathAndQuery, answer);
      } catch (err) {
        // A continue token that expired mid-list (410): list again from the start, once.
        if (err instanceof KubeError && err.status === 410 && cont !== undefined && !restarted) {
          restarted = true;
          items.length = 0;
          cont = undefined;
          pages = 0;
          bytes = 0;
          continue;
        }
        throw err;
      }
      const pageItems = page.items ?? [];
      if (!Array.isArray(pageItems)) throw new KubeError(`GET ${collection}: the list's items is not an array`, 0);
      for (const item of pageItems) {
        if (!isKubeObject(item)) {
          this.skipMalformed(`GET ${collection}: the Kubernetes API listed an item without metadata.name`);
          continue;
        }
        // A list's items carry no apiVersion/kind; give them theirs, as a watch's objects have.
        items.push({
          apiVersion: type.group === '' ? type.version : `${type.group}/${type.version}`,
          kind: type.kind,
          ...item,
        } as unknown as T);
      }
      const meta = isRecord(page.metadata) ? page.metadata : {};
      const next = typeof meta.continue === 'string' && meta.continue !== '' ? meta.continue : undefined;
      if (next === undefined) {
        const rv = typeof meta.resourceVersion === 'string' ? meta.resourceVersion : '';
        if (rv === '') throw new KubeError(`GET ${collection}: the list has no metadata.resourceVersion`, 0);
        return { items, resourceVersion: rv };
      }
      // A server that never stops paging (the same token again, or endless pages) is refused, not followed forever.
      if (next === cont || ++pages >= MAX_LIST_PAGES) {
        throw new KubeError(
          `GET ${collection}: the list does not end (page ${pages}, continue token repeated or endless)`,
          0,
        );
      }
      cont = next;
    }
  }

  watch<T extends KubeObject = KubeObject>(
    type: ResourceType,
    options: WatchOptions,
    onEvent: (type: WatchEventType, object: T) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const collection = resourcePath(type, options.namespace);
      const what = `watch ${collection}`;
      const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_WATCH_TIMEOUT_SECONDS;
      const idleMs = Math.min(this.watchIdleMs, timeoutSeconds * 1000 + this.watchIdleGraceMs);
      let settled = false;
      let req: http.ClientRequest | undefined;
      let idle: NodeJS.Timeout | undefined;
      const finish = (err?: KubeError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(idle);
        signal.removeEventListener('abort', onAbort);
        req?.destroy();
        if (err) reject(err);
        else resolve();
      };
      const onAbort = (): void => finish();
      const touch = (): void => {
        clearTimeout(idle);
        idle = setTimeout(
          () => finish(new KubeError(`${what}: no byte from the Kubernetes API for ${Math.round(idleMs / 1000)} s`, 0)),
          idleMs,
        );
      };
      if (signal.aborted) {
        resolve();
        return;
      }
      signal.addEventListener('abort', onAbort);
      try {
        const query = new URLSearchParams({
          watch: '1',
          resourceVersion: options.resourceVersion,
          allowWatchBookmarks: 'true',
          timeoutSeconds: String(timeoutSeconds),
        });
        if (options.labelSelector) query.set('labelSelector', options.labelSelector);
        if (options.fieldSelector) query.set('fieldSelector', options.fieldSelector);
        req = this.open('GET', `${collection}?${query.toString()}`);
        touch();
        req.on('error', (err) => finish(transportError(this.connection.server, what, err)));
        req.on('response', (res) => {
          touch();
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (chunk: Buffer) => {
              size += chunk.length;
              if (size <= MAX_ERROR_BODY_BYTES) chunks.push(chunk);
            });
            res.on('end', () => finish(statusError(status, Buffer.concat(chunks), what)));
            res.on('error', () => finish(statusError(status, Buffer.concat(chunks), what)));
            return;
          }
          options.onOpen?.();
          const lines = new LineSplitter(this.maxWatchLineBytes);
          res.on('data', (chunk: Buffer) => {
            if (settled) return;
            touch();
            const split = lines.push(chunk);
            for (const line of split.lines) {
              if (settled) return;
              const err = this.event(line, what, onEvent);
              if (err) return finish(err);
            }
            if (split.overflow) {
              finish(new KubeError(`${what}: a watch event is longer than ${this.maxWatchLineBytes} bytes`, 0));
            }
          });
          res.on('error', (err) => finish(transportError(this.connection.server, what, err)));
          res.on('aborted', () => finish(new KubeError(`${what}: the Kubernetes API cut the watch`, 0)));
          res.on('close', () => {
            if (!res.complete) finish(new KubeError(`${what}: the Kubernetes API cut the watch`, 0));
          });
          res.on('end', () => {
            // A last line without its newline is still an event.
            const rest = lines.rest();
            if (rest.length > 0) {
              const err = this.event(rest, what, onEvent);
              if (err) return finish(err);
            }
            finish();
          });
        });
        req.end();
      } catch (err) {
        finish(new KubeError(`${what}: ${(err as Error).message}`, 0));
      }
    });
  }

  /** Parses and delivers one watch line; answers the error that ends the watch, if any. */
  private event<T extends KubeObject>(
    line: Buffer,
    what: string,
    onEvent: (type: WatchEventType, object: T) => void,
  ): KubeError | undefined {
    const text = line.toString('utf8').trim();
    if (text === '') return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return new KubeError(`${what}: the Kubernetes API sent a malformed watch event`, 0);
    }
    if (!isRecord(parsed) || typeof parsed.type !== 'string') {
      return new KubeError(`${what}: the Kubernetes API sent a watch event without a type`, 0);
    }
    const type = parsed.type;
    if (type === 'ERROR') return watchStatusError(parsed.object);
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED' && type !== 'BOOKMARK') {
      return new KubeError(
        `${what}: the Kubernetes API sent a watch event of unknown type ${JSON.stringify(type.slice(0, 40))}`,
        0,
      );
    }
    const object = parsed.object;
    const rv =
      isRecord(object) && isRecord(object.metadata) && typeof object.metadata.resourceVersion === 'string'
        ? object.metadata.resourceVersion
        : undefined;
    let deliver: [WatchEventType, unknown] = [type, object];
    if (type === 'BOOKMARK' ? rv === undefined : !isKubeObject(object)) {
      // One bad object must not stall the watch (resumed from the same version, it would fail again forever): skip
      // it, and still advance past its version (as a bookmark) when it has one.
      const field = type === 'BOOKMARK' ? 'metadata.resourceVersion' : 'metadata.name';
      this.skipMalformed(`${what}: the Kubernetes API sent a ${type} event without the object's ${field}`);
      if (type === 'BOOKMARK' || rv === undefined) return undefined;
      deliver = ['BOOKMARK', { metadata: { resourceVersion: rv } }];
    }
    try {
      onEvent(deliver[0], deliver[1] as T);
    } catch (err) {
      return new KubeError(`${what}: the watch's handler failed: ${(err as Error)?.message ?? String(err)}`, 0);
    }
    return undefined;
  }

  create<T extends KubeObject = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    body: KubeObject,
  ): Promise<T> {
    return this.object<T>('POST', resourcePath(type, namespace), body);
  }

  replace<T extends KubeObject = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
  ): Promise<T> {
    return this.object<T>('PUT', resourcePath(type, namespace, name), body);
  }

  patch<T extends KubeObject = KubeObject>(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    patchType: PatchType,
    subresource?: 'status',
  ): Promise<T> {
    const contentType = patchType === 'json' ? 'application/json-patch+json' : 'application/merge-patch+json';
    const target = resourcePath(type, namespace, name) + (subresource ? `/${subresource}` : '');
    return this.object<T>('PATCH', target, patch, contentType);
  }

  async delete(type: ResourceType, namespace: string | undefined, name: string): Promise<void> {
    const what = `DELETE ${resourcePath(type, namespace, name)}`;
    const answer = await this.call('DELETE', resourcePath(type, namespace, name));
    if (answer.status < 200 || answer.status >= 300) throw statusError(answer.status, answer.body, what);
  }
}

function transportError(server: string, what: string, err: Error): KubeError {
  const code = (err as NodeJS.ErrnoException).code;
  return new KubeError(`${what}: cannot reach the Kubernetes API at ${server}: ${code ?? err.message}`, 0);
}

/** Splits a byte stream into newline-ended lines, refusing a line longer than `max`. */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): { lines: Buffer[]; overflow: boolean } {
    const lines: Buffer[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const part = chunk.subarray(start, nl);
      if (this.pendingBytes + part.length > this.max) return { lines, overflow: true };
      lines.push(this.pending.length > 0 ? Buffer.concat([...this.pending, part]) : part);
      this.pending = [];
      this.pendingBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const tail = chunk.subarray(start);
      this.pending.push(tail);
      this.pendingBytes += tail.length;
    }
    return { lines, overflow: this.pendingBytes > this.max };
  }

  /** What is left after the stream ended (a last line without a newline). */
  rest(): Buffer {
    return Buffer.concat(this.pending);
  }
}

/** A KubeClient over HTTPS to `connection`'s API server. */
export function createKubeClient(
  connection: KubeConnection,
  options: KubeClientOptions = {},
): KubeClient & KubeClientStats {
  return new HttpsKubeClient(connection, options);
}
