// The Kubernetes API client against a local HTTPS server playing the API server, honest and hostile: paths,
// paging, Status errors, oversized and malformed answers, a watch fed in fragments, its ERROR 410, an overlong
// line and a stall; and the kubeconfig and service-account readers on good and bad files.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { createCertificateAuthority, issueCertificate } from '../helpers/certs';
import { tmpDir, waitFor } from '../helpers/processes';
import { Informer } from '../../src/k8s/informer';
import { APP_MESH_TYPES, KubeError, LEASES, NAMESPACES, PODS, type KubeObject } from '../../src/k8s/kube-api';
import {
  DEFAULT_WATCH_IDLE_MS,
  KubeConfigError,
  TOKEN_REFRESH_MS,
  createKubeClient,
  loadKubeConfig,
  type KubeClientOptions,
} from '../../src/k8s/kube-client';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

const dir = tmpDir('kube-client-');
const ca = createCertificateAuthority(dir, 'kube-ca');
const serverCert = issueCertificate(ca, dir, 'apiserver', ['localhost']);
const otherCa = createCertificateAuthority(dir, 'other-ca');

let server: https.Server;
let handler: Handler = (_req, res) => res.end('{}');
let url = '';
const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

beforeAll(async () => {
  server = https.createServer(
    { cert: fs.readFileSync(serverCert.certFile), key: fs.readFileSync(serverCert.keyFile) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        handler(req, res, body);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://localhost:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  seen.length = 0;
});

function writeKubeconfig(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function goodKubeconfig(server = url, caFile = ca.certFile): string {
  return writeKubeconfig(
    `good-${Math.random().toString(36).slice(2)}.yaml`,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: dev',
      'clusters:',
      '- name: local',
      '  cluster:',
      `    server: ${server}`,
      `    certificate-authority: ${path.basename(caFile)}`,
      'users:',
      '- name: meshd',
      '  user:',
      '    token: secret-token',
      'contexts:',
      '- name: dev',
      '  context: {cluster: local, user: meshd, namespace: meshd-system}',
      '',
    ].join('\n'),
  );
}

function client(options: KubeClientOptions = {}) {
  return createKubeClient(loadKubeConfig({ kubeconfig: goodKubeconfig(), env: {} }), options);
}

const json = (res: http.ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const cm = (name: string, rv: string, namespace = 'default'): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace, resourceVersion: rv },
});

describe('kubeconfig', () => {
  it('reads the current context: server, CA file relative to the kubeconfig, token, namespace', () => {
    const conn = loadKubeConfig({ kubeconfig: goodKubeconfig(), env: {} });
    expect(conn.server).toBe(url);
    expect(conn.namespace).toBe('meshd-system');
    expect(conn.token()).toBe('secret-token');
    expect(conn.ca?.toString()).toBe(fs.readFileSync(ca.certFile, 'utf8'));
    expect(conn.insecureSkipTlsVerify).toBe(false);
  });

  it('reads KUBECONFIG (its first path) when no file is given', () => {
    const file = goodKubeconfig();
    const conn = loadKubeConfig({ env: { KUBECONFIG: `${file}${path.delimiter}/nonexistent` } });
    expect(conn.source).toBe(file);
  });

  it('reads inline -data fields, a client certificate and a tokenFile', () => {
    const tokenFile = path.join(dir, 'user-token');
    fs.writeFileSync(tokenFile, 'from-file\n');
    const b64 = (f: string) => fs.readFileSync(f).toString('base64');
    const file = writeKubeconfig(
      'data.yaml',
      [
        'current-context: c',
        'clusters: [{name: k, cluster: {server: "https://10.0.0.1:6443", certificate-authority-data: ' +
          `${b64(ca.certFile)}}}]`,
        `users: [{name: u, user: {tokenFile: user-token, client-certificate-data: ${b64(serverCert.certFile)}, ` +
          `client-key-data: ${b64(serverCert.keyFile)}}}]`,
        'contexts: [{name: c, context: {cluster: k, user: u}}]',
      ].join('\n'),
    );
    const conn = loadKubeConfig({ kubeconfig: file, env: {} });
    expect(conn.server).toBe('https://10.0.0.1:6443');
    expect(conn.token()).toBe('from-file');
    expect(conn.cert?.toString()).toBe(fs.readFileSync(serverCert.certFile, 'utf8'));
    expect(conn.key?.toString()).toBe(fs.readFileSync(serverCert.keyFile, 'utf8'));
    expect(conn.namespace).toBeUndefined();
  });

  it.each([
    [
      'exec credential plugins',
      'users: [{name: u, user: {exec: {command: aws}}}]',
      /user "u" uses an exec credential plugin/,
    ],
    ['auth-provider', 'users: [{name: u, user: {auth-provider: {name: gcp}}}]', /user "u" uses an auth-provider/],
    ['a missing user', 'users: []', /context "c" names user "u", which users lacks/],
  ])('refuses %s with one sentence naming the file and the field', (_what, users, message) => {
    const file = writeKubeconfig(
      `bad-${Math.random().toString(36).slice(2)}.yaml`,
      [
        'current-context: c',
        'clusters: [{name: k, cluster: {server: "https://h:1"}}]',
        users,
        'contexts: [{name: c, context: {cluster: k, user: u}}]',
      ].join('\n'),
    );
    expect(() => loadKubeConfig({ kubeconfig: file, env: {} })).toThrow(KubeConfigError);
    expect(() => loadKubeConfig({ kubeconfig: file, env: {} })).toThrow(message);
    expect(() => loadKubeConfig({ kubeconfig: file, env: {} })).toThrow(file);
  });

  it('names the file and field of other bad kubeconfigs', () => {
    const cases: [string, RegExp][] = [
      ['clusters: [}', /is not valid YAML/],
      ['- a\n- b', /is not a YAML map/],
      ['clusters: []', /current-context is not set/],
      ['current-context: nope\ncontexts: []', /current-context names context "nope", which contexts lacks/],
      [
        'current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\nclusters: [{name: k, cluster: {server: "ftp://x"}}]',
        /cluster "k".server must be an https:\/\/ URL/,
      ],
      [
        'current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n' +
          'clusters: [{name: k, cluster: {server: "https://x", certificate-authority: missing.crt}}]',
        /cluster "k".certificate-authority of .* cannot be read: ENOENT/,
      ],
    ];
    for (const [text, message] of cases) {
      const file = writeKubeconfig(`bad-${Math.random().toString(36).slice(2)}.yaml`, text);
      let error: unknown;
      try {
        loadKubeConfig({ kubeconfig: file, env: {} });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(KubeConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toContain(file);
    }
    expect(() => loadKubeConfig({ kubeconfig: path.join(dir, 'absent.yaml'), env: {} })).toThrow(
      /The kubeconfig .*absent.yaml cannot be read: ENOENT/,
    );
    expect(() => loadKubeConfig({ env: {} })).toThrow(/No Kubernetes API to connect to/);
  });

  it('runs in a pod from the service account, reading a rotated token again after a minute', () => {
    const sa = tmpDir('sa-');
    fs.writeFileSync(path.join(sa, 'token'), 'first');
    fs.copyFileSync(ca.certFile, path.join(sa, 'ca.crt'));
    fs.writeFileSync(path.join(sa, 'namespace'), 'meshd\n');
    const now = jest.spyOn(Date, 'now');
    try {
      now.mockReturnValue(1_000_000);
      const conn = loadKubeConfig({
        env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
        serviceAccountDir: sa,
      });
      expect(conn.server).toBe('https://10.96.0.1:443');
      expect(conn.namespace).toBe('meshd');
      expect(conn.source).toBe('in-cluster');
      expect(conn.token()).toBe('first');
      fs.writeFileSync(path.join(sa, 'token'), 'second');
      now.mockReturnValue(1_000_000 + TOKEN_REFRESH_MS - 1);
      expect(conn.token()).toBe('first');
      now.mockReturnValue(1_000_000 + TOKEN_REFRESH_MS);
      expect(conn.token()).toBe('second');
      fs.rmSync(path.join(sa, 'token'));
      now.mockReturnValue(1_000_000 + 3 * TOKEN_REFRESH_MS);
      expect(conn.token()).toBe('second');
    } finally {
      now.mockRestore();
    }
    expect(() =>
      loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, serviceAccountDir: path.join(dir, 'none') }),
    ).toThrow(/token file of the service account: .*token cannot be read: ENOENT/);
  });
});

describe('requests', () => {
  it('sends the token and builds core, group, namespaced and cluster-scoped paths', async () => {
    handler = (_req, res) => json(res, 200, { metadata: { name: 'x', resourceVersion: '1' } });
    const c = client();
    await c.get(PODS, 'prod', 'web-1');
    await c.get(NAMESPACES, undefined, 'prod');
    await c.get(APP_MESH_TYPES.Mesh, 'ignored', 'm');
    await c.get(APP_MESH_TYPES.VirtualNode, 'prod', 'a b');
    expect(seen.map((s) => s.url)).toEqual([
      '/api/v1/namespaces/prod/pods/web-1',
      '/api/v1/namespaces/prod',
      '/apis/appmesh.k8s.aws/v1beta2/meshes/m',
      '/apis/appmesh.k8s.aws/v1beta2/namespaces/prod/virtualnodes/a%20b',
    ]);
    expect(seen[0].headers.authorization).toBe('Bearer secret-token');
  });

  it('answers undefined for a 404 get, and a KubeError with the Status message otherwise', async () => {
    handler = (req, res) =>
      req.url?.endsWith('/absent')
        ? json(res, 404, { kind: 'Status', code: 404, reason: 'NotFound', message: 'pods "absent" not found' })
        : json(res, 403, { kind: 'Status', code: 403, reason: 'Forbidden', message: 'pods "x" is forbidden: no' });
    const c = client();
    await expect(c.get(PODS, 'p', 'absent')).resolves.toBeUndefined();
    const err = await c.get(PODS, 'p', 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({ status: 403, reason: 'Forbidden', message: 'pods "x" is forbidden: no' });
    await expect(c.delete(PODS, 'p', 'absent')).rejects.toMatchObject({ status: 404, reason: 'NotFound' });
  });

  it('lists every page through continue, with apiVersion and kind on each item', async () => {
    handler = (req, res) => {
      const q = new URL(req.url ?? '', 'https://x').searchParams;
      if (!q.get('continue')) {
        json(res, 200, { metadata: { continue: 'page2', resourceVersion: '10' }, items: [cm('a', '5'), cm('b', '6')] });
      } else
        json(res, 200, {
          metadata: { resourceVersion: '11' },
          items: [{ metadata: { name: 'c', resourceVersion: '7' } }],
        });
    };
    const listed = await client().list(
      { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
      {
        namespace: 'default',
        labelSelector: 'app=x',
        limit: 2,
      },
    );
    expect(listed.items.map((i) => i.metadata.name)).toEqual(['a', 'b', 'c']);
    expect(listed.items[2]).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap' });
    expect(listed.resourceVersion).toBe('11');
    expect(seen.map((s) => s.url)).toEqual([
      '/api/v1/namespaces/default/configmaps?labelSelector=app%3Dx&limit=2',
      '/api/v1/namespaces/default/configmaps?labelSelector=app%3Dx&limit=2&continue=page2',
    ]);
  });

  it('refuses a list that never ends (the same continue token again)', async () => {
    handler = (_req, res) => json(res, 200, { metadata: { continue: 'again', resourceVersion: '1' }, items: [] });
    await expect(client().list(PODS)).rejects.toMatchObject({
      status: 0,
      message: expect.stringMatching(/the list does not end/),
    });
    expect(seen).toHaveLength(2);
  });

  it('skips a listed item without metadata.name (counted) instead of failing the whole list', async () => {
    handler = (_req, res) =>
      json(res, 200, { metadata: { resourceVersion: '9' }, items: [cm('a', '5'), { metadata: {} }, cm('b', '6')] });
    const c = client();
    const listed = await c.list(PODS);
    expect(listed.items.map((i) => i.metadata.name)).toEqual(['a', 'b']);
    expect(c.malformed).toBe(1);
  });

  it('refuses a list whose pages add up to more than maxListBytes', async () => {
    let n = 0;
    handler = (_req, res) => {
      n++;
      json(res, 200, { metadata: { continue: `p${n}`, resourceVersion: '1' }, items: [cm('x'.repeat(900), '1')] });
    };
    const err = await client({ maxListBytes: 5000 })
      .list(PODS)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({
      status: 0,
      message:
        'GET /api/v1/pods: the list exceeds 5000 bytes across its pages; list fewer objects (a namespace or a label selector) or raise maxListBytes',
    });
    console.log(`list refused after ${seen.length} pages of about 1 KB (maxListBytes 5000)`);
    expect(seen.length).toBeLessThan(10);
  });

  it('refuses an answer cut before its end', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"metadata": {"name": "x"');
      setTimeout(() => res.destroy(), 20);
    };
    await expect(client().get(PODS, 'p', 'x')).rejects.toMatchObject({
      status: 0,
      message: expect.stringMatching(/closed the answer early|cannot reach the Kubernetes API/),
    });
  });

  it('sends each patch type with its media type, and the status subresource', async () => {
    handler = (_req, res) => json(res, 200, { metadata: { name: 'r', resourceVersion: '2' } });
    const c = client();
    await c.patch(APP_MESH_TYPES.VirtualRouter, 'prod', 'r', [{ op: 'replace', path: '/spec/x', value: 1 }], 'json');
    await c.patch(APP_MESH_TYPES.VirtualNode, 'prod', 'n', { status: { x: 1 } }, 'merge', 'status');
    await c.replace(LEASES, 'meshd', 'l', { metadata: { name: 'l', resourceVersion: '1' } });
    await c.create(LEASES, 'meshd', { metadata: { name: 'l' } });
    expect(seen.map((s) => [s.method, s.url, s.headers['content-type']])).toEqual([
      ['PATCH', '/apis/appmesh.k8s.aws/v1beta2/namespaces/prod/virtualrouters/r', 'application/json-patch+json'],
      ['PATCH', '/apis/appmesh.k8s.aws/v1beta2/namespaces/prod/virtualnodes/n/status', 'application/merge-patch+json'],
      ['PUT', '/apis/coordination.k8s.io/v1/namespaces/meshd/leases/l', 'application/json'],
      ['POST', '/apis/coordination.k8s.io/v1/namespaces/meshd/leases', 'application/json'],
    ]);
    expect(JSON.parse(seen[0].body)).toEqual([{ op: 'replace', path: '/spec/x', value: 1 }]);
  });

  it('refuses an oversized body, malformed JSON, an object without metadata, and a stalled answer', async () => {
    const big = JSON.stringify({ metadata: { name: 'x' }, data: 'x'.repeat(100_000) });
    handler = (req, res) => {
      if (req.url?.endsWith('/big')) json(res, 200, JSON.parse(big));
      else if (req.url?.endsWith('/garbage')) res.end('{"metadata": {"name": ');
      else if (req.url?.endsWith('/nometa')) json(res, 200, { kind: 'Pod' });
      else if (req.url?.endsWith('/array')) json(res, 200, [1, 2]);
      // '/stall': never answers.
    };
    const c = client({ maxResponseBytes: 10_000, requestTimeoutMs: 300 });
    await expect(c.get(PODS, 'p', 'big')).rejects.toMatchObject({
      status: 0,
      message: expect.stringMatching(/exceeds 10000 bytes/),
    });
    await expect(c.get(PODS, 'p', 'garbage')).rejects.toMatchObject({
      message: expect.stringMatching(/malformed JSON/),
    });
    await expect(c.get(PODS, 'p', 'nometa')).rejects.toMatchObject({
      message: expect.stringMatching(/without metadata.name/),
    });
    await expect(c.get(PODS, 'p', 'array')).rejects.toMatchObject({ message: expect.stringMatching(/not an object/) });
    await expect(c.list(PODS)).rejects.toBeInstanceOf(KubeError);
    const began = Date.now();
    await expect(c.get(PODS, 'p', 'stall')).rejects.toMatchObject({
      status: 0,
      message: expect.stringMatching(/did not answer within 300 ms/),
    });
    console.log(`stalled request abandoned after ${Date.now() - began} ms (timeout 300 ms)`);
  });

  it('refuses a server whose certificate the kubeconfig CA did not sign (status 0, never a throw)', async () => {
    const conn = loadKubeConfig({ kubeconfig: goodKubeconfig(url, otherCa.certFile), env: {} });
    const err = await createKubeClient(conn)
      .get(PODS, 'p', 'x')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect((err as KubeError).status).toBe(0);
    expect((err as KubeError).message).toMatch(/cannot reach the Kubernetes API at https:\/\/localhost:\d+: /);
  });
});

describe('watch', () => {
  const CM = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true };
  const line = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`;

  async function watchEvents(
    serve: (res: http.ServerResponse) => void,
    options: KubeClientOptions = {},
    signal = new AbortController().signal,
  ): Promise<{ events: [string, string][]; error?: KubeError }> {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      serve(res);
    };
    const events: [string, string][] = [];
    try {
      await client(options).watch(
        CM,
        { namespace: 'default', resourceVersion: '100', timeoutSeconds: 0 },
        (type, object) => events.push([type, object.metadata.resourceVersion ?? '']),
        signal,
      );
      return { events };
    } catch (err) {
      return { events, error: err as KubeError };
    }
  }

  it('parses events split across chunks, bookmarks included, and resolves when the server ends the stream', async () => {
    const text =
      line('ADDED', cm('a', '101')) +
      line('MODIFIED', cm('a', '102')) +
      line('BOOKMARK', { metadata: { resourceVersion: '105' } }) +
      line('DELETED', cm('a', '106'));
    const result = await watchEvents((res) => {
      // One byte short of each event, then the rest: every line arrives in pieces.
      let at = 0;
      const send = () => {
        if (at >= text.length) return res.end();
        const next = Math.min(text.length, at + 7);
        res.write(text.slice(at, next));
        at = next;
        setTimeout(send, 1);
      };
      send();
    });
    expect(result.error).toBeUndefined();
    expect(result.events).toEqual([
      ['ADDED', '101'],
      ['MODIFIED', '102'],
      ['BOOKMARK', '105'],
      ['DELETED', '106'],
    ]);
    const q = new URL(seen[0].url, 'https://x').searchParams;
    expect(seen[0].url.split('?')[0]).toBe('/api/v1/namespaces/default/configmaps');
    expect(Object.fromEntries(q)).toEqual({
      watch: '1',
      resourceVersion: '100',
      allowWatchBookmarks: 'true',
      timeoutSeconds: '0',
    });
  });

  it('rejects on an ERROR event with its Status: 410 Expired', async () => {
    const result = await watchEvents((res) => {
      res.write(line('ADDED', cm('a', '101')));
      res.write(
        line('ERROR', {
          kind: 'Status',
          status: 'Failure',
          code: 410,
          reason: 'Expired',
          message: 'too old resource version: 100 (200)',
        }),
      );
    });
    expect(result.events).toEqual([['ADDED', '101']]);
    expect(result.error).toBeInstanceOf(KubeError);
    expect(result.error).toMatchObject({
      status: 410,
      reason: 'Expired',
      message: 'too old resource version: 100 (200)',
    });
  });

  it('skips an event whose object has no metadata.name, counts it, logs once, and advances past its version', async () => {
    const logs: string[] = [];
    const c = client({ log: (m) => logs.push(m) });
    const events: [string, string][] = [];
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        line('ADDED', cm('a', '101')) +
          line('ADDED', { kind: 'x', metadata: { resourceVersion: '102' } }) +
          line('MODIFIED', { kind: 'x' }) +
          line('BOOKMARK', { metadata: {} }) +
          line('MODIFIED', cm('a', '104')),
      );
    };
    await c.watch(
      CM,
      { namespace: 'default', resourceVersion: '100' },
      (type, object) => events.push([type, object.metadata.resourceVersion ?? '']),
      new AbortController().signal,
    );
    expect(events).toEqual([
      ['ADDED', '101'],
      ['BOOKMARK', '102'],
      ['MODIFIED', '104'],
    ]);
    expect(c.malformed).toBe(3);
    expect(logs).toEqual([
      "watch /api/v1/namespaces/default/configmaps: the Kubernetes API sent a ADDED event without the object's " +
        'metadata.name; skipped it (1 malformed objects skipped so far)',
    ]);
  });

  it('lets an informer sync and follow past a malformed listed item and a malformed watch event', async () => {
    let watches = 0;
    handler = (req, res) => {
      const q = new URL(req.url ?? '', 'https://x').searchParams;
      if (q.get('watch') !== '1') {
        json(res, 200, { metadata: { resourceVersion: '100' }, items: [cm('a', '90'), { metadata: { uid: 'x' } }] });
        return;
      }
      watches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      if (q.get('resourceVersion') === '100') {
        res.write(line('ADDED', { metadata: { resourceVersion: '101' } }) + line('ADDED', cm('b', '102')));
      }
      // Then silent: the watch stays open until the informer stops.
    };
    const c = client();
    const informer = new Informer<KubeObject>(c, CM, {
      namespace: 'default',
      log: { info: () => undefined, warn: () => undefined },
    });
    try {
      informer.start();
      await informer.synced();
      await waitFor('b', () => informer.get('default', 'b'));
      expect(informer.items().map((o) => o.metadata.name)).toEqual(['a', 'b']);
      expect(informer.resourceVersion).toBe('102');
      expect(c.malformed).toBe(2);
      expect(watches).toBe(1);
    } finally {
      informer.stop();
    }
  });

  it('rejects a malformed line, an unknown event type and an overlong line, after the good events', async () => {
    let result = await watchEvents((res) => res.write(line('ADDED', cm('a', '101')) + '{"type": "ADDED", "obj\n'));
    expect(result.events).toEqual([['ADDED', '101']]);
    expect(result.error).toMatchObject({ status: 0, message: expect.stringMatching(/malformed watch event/) });

    result = await watchEvents((res) => res.write(line('SURPRISE', cm('a', '1'))));
    expect(result.error).toMatchObject({ message: expect.stringMatching(/unknown type "SURPRISE"/) });

    result = await watchEvents(
      (res) => {
        res.write(line('ADDED', cm('a', '101')));
        // 64 KiB without a newline, in pieces, and the server would go on.
        for (let i = 0; i < 16; i++) res.write('x'.repeat(4096));
      },
      { maxWatchLineBytes: 8192 },
    );
    expect(result.events).toEqual([['ADDED', '101']]);
    expect(result.error).toMatchObject({ status: 0, message: expect.stringMatching(/longer than 8192 bytes/) });
  });

  it('rejects a non-2xx watch with its Status', async () => {
    handler = (_req, res) => json(res, 410, { kind: 'Status', code: 410, reason: 'Gone', message: 'gone' });
    const err = await client()
      .watch(CM, { resourceVersion: '1' }, () => undefined, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 410, reason: 'Gone' });
  });

  it('gives up on a silent watch after watchIdleMs (120 s by default), well before its server-side timeout', async () => {
    expect(DEFAULT_WATCH_IDLE_MS).toBe(120_000);
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(line('ADDED', cm('a', '101')));
    };
    const began = Date.now();
    const err = await client({ watchIdleMs: 300 })
      .watch(CM, { resourceVersion: '100', timeoutSeconds: 300 }, () => undefined, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 0, message: expect.stringMatching(/no byte from the Kubernetes API/) });
    console.log(`silent watch (timeoutSeconds 300) dropped after ${Date.now() - began} ms (watchIdleMs 300)`);
  });

  it('turns TCP keepalive on for the connection of a watch, which outlives any request', async () => {
    const spy = jest.spyOn(net.Socket.prototype, 'setKeepAlive');
    try {
      handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(line('ADDED', cm('a', '101')));
      };
      const abort = new AbortController();
      await client().watch(CM, { resourceVersion: '100' }, () => abort.abort(), abort.signal);
      // While the watch was open: the agent's own keepalive call comes only when a socket returns to its pool.
      expect(spy).toHaveBeenCalledWith(true, 30_000);
    } finally {
      spy.mockRestore();
    }
  });

  it('gives up on a watch that sends nothing for timeoutSeconds plus the grace', async () => {
    const began = Date.now();
    const result = await watchEvents((res) => res.write(line('ADDED', cm('a', '101'))), { watchIdleGraceMs: 300 });
    expect(result.events).toEqual([['ADDED', '101']]);
    expect(result.error).toMatchObject({
      status: 0,
      message: expect.stringMatching(/no byte from the Kubernetes API/),
    });
    console.log(`silent watch dropped after ${Date.now() - began} ms (idle bound 300 ms)`);
  });

  it('keeps a watch that sends something within each idle bound, however long it lasts', async () => {
    const result = await watchEvents(
      (res) => {
        let n = 0;
        const beat = setInterval(() => {
          n++;
          if (n > 8) {
            clearInterval(beat);
            res.end();
          } else res.write(line('BOOKMARK', { metadata: { resourceVersion: String(100 + n) } }));
        }, 100);
      },
      { watchIdleGraceMs: 300 },
    );
    expect(result.error).toBeUndefined();
    expect(result.events).toHaveLength(8);
  });

  it('resolves when the signal aborts, and a handler that throws ends the watch with an error', async () => {
    const abort = new AbortController();
    const pending = watchEvents(
      (res) => {
        res.write(line('ADDED', cm('a', '101')));
        setTimeout(() => abort.abort(), 50);
      },
      {},
      abort.signal,
    );
    await expect(pending).resolves.toEqual({ events: [['ADDED', '101']] });

    handler = (_req, res) => {
      res.writeHead(200);
      res.write(line('ADDED', cm('a', '101')));
    };
    const err = await client()
      .watch(
        CM,
        { resourceVersion: '1' },
        () => {
          throw new Error('boom');
        },
        new AbortController().signal,
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 0, message: expect.stringMatching(/handler failed: boom/) });
  });
});
