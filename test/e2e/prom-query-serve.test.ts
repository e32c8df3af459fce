// `meshd serve --prometheus-url` as a user meets it (the real bin/meshd, no Envoy needed): the
// flag is checked at start without repeating a password it holds, and without it a mesh file
// that declares a rollout with a PromQL metric does not load (an error naming the field), while
// the last good mesh keeps serving and meshd keeps running.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, getOk, startMeshd, tmpDir, waitFor } from '../helpers/processes';

const MESH = fs.readFileSync(path.join(__dirname, '../fixtures/prom-query-shop-mesh.yaml'), 'utf8');

const ROLLOUT = `---
kind: Rollout
mesh: shop
name: ro
spec:
  route: { virtualRouter: r, name: m }
  primary: a
  canary: b
  analysis:
    metrics:
      - name: errors
        thresholdRange: { max: 1 }
        query: sum(rate(x{n="{{ target }}"}[{{ interval }}]))
`;

const ports = async () => [
  '--xds-address',
  '127.0.0.1',
  '--xds-port',
  String(await freePort()),
  '--admin-port',
  String(await freePort()),
];

describe('meshd serve --prometheus-url', () => {
  test('a URL that is not http or https stops the start, and a password in it is not repeated', async () => {
    const file = path.join(tmpDir('prom-serve-'), 'mesh.yaml');
    fs.writeFileSync(file, MESH);
    for (const [url, message] of [
      ['ftp://prom:9090', '--prometheus-url must be an http:// or https:// URL, not ftp'],
      ['http://meshd:s3cret@prom:9090/?x=1', '--prometheus-url must not have a query or fragment'],
      // A % that is not percent-encoding was an internal error (exit 70); it is a usage error (exit 2).
      ['http://meshd:s3cret%zz@prom:9090', '--prometheus-url has a user name or password with a % that is not'],
    ] as const) {
      const server = startMeshd(['serve', '--mesh', file, ...(await ports()), '--prometheus-url', url]);
      const code = await new Promise<number | null>((resolve) => server.child.once('exit', resolve));
      expect(code).toBe(2);
      expect(server.stderr()).toContain(message);
      expect(server.stderr() + server.stdout()).not.toContain('s3cret');
    }
  });

  test('--prometheus-bearer-token-file that others can read stops the start (a usage error naming the flag)', async () => {
    const dir = tmpDir('prom-serve-');
    const file = path.join(dir, 'mesh.yaml');
    fs.writeFileSync(file, MESH);
    const token = path.join(dir, 'token');
    fs.writeFileSync(token, 's3cret-token', { mode: 0o644 });
    fs.chmodSync(token, 0o644);
    const server = startMeshd([
      'serve',
      '--mesh',
      file,
      ...(await ports()),
      '--prometheus-url',
      'http://127.0.0.1:9',
      '--prometheus-bearer-token-file',
      token,
    ]);
    const code = await new Promise<number | null>((resolve) => server.child.once('exit', resolve));
    expect(code).toBe(2);
    expect(server.stderr()).toContain(
      `--prometheus-bearer-token-file: the bearer token file ${token} can be read by others (mode 644): chmod 600 ${token}`,
    );
    expect(server.stderr() + server.stdout()).not.toContain('s3cret-token');
  });

  test('without it, a rollout with a query metric is a load error of that rollout; the last good mesh keeps serving', async () => {
    const file = path.join(tmpDir('prom-serve-'), 'mesh.yaml');
    fs.writeFileSync(file, MESH);
    const args = await ports();
    const adminPort = Number(args[5]);
    const server = startMeshd(['serve', '--mesh', file, ...args]);
    try {
      await waitFor('meshd to start', () => (server.stdout().includes('xDS (ADS gRPC)') ? true : undefined));
      fs.writeFileSync(file, MESH + ROLLOUT);
      await waitFor('the reload to be refused', () =>
        server.stderr().includes('the last good mesh keeps serving') ? true : undefined,
      );
      expect(server.stderr()).toContain(
        `${file}:36:16: Rollout/ro: needs Prometheus, but meshd serve was started without --prometheus-url (docs/prometheus.md) (spec.analysis.metrics[0].query)`,
      );
      expect(server.child.exitCode).toBeNull();
      expect(JSON.parse(await getOk(adminPort, '/v1/rollouts'))).toEqual([]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
