// `meshd serve`'s Kubernetes-mode flags, through the real binary: the flags that only mean something with
// --kubernetes are refused without it (and a plain serve is not disturbed by their defaults), --store and
// --kubernetes exclude each other, and a kubeconfig that cannot be used stops the start with its reason.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MESHD_BIN, tmpDir } from '../helpers/processes';

const QUICKSTART_MESH = path.resolve(__dirname, '../../examples/quickstart/mesh');

function serve(args: string[]): { status: number | null; stderr: string } {
  const dir = tmpDir('serve-k8s-flags-');
  const r = spawnSync(
    process.execPath,
    [MESHD_BIN, 'serve', '--api-dir', path.join(dir, 'api'), '--cloud-map-state', path.join(dir, 'cm.json'), ...args],
    {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, MESHD_ROLLOUT_STATE: path.join(dir, 'r.json'), KUBECONFIG: '' },
    },
  );
  return { status: r.status, stderr: r.stderr };
}

describe('meshd serve --kubernetes flags', () => {
  it.each([
    [['--webhook-port', '9443'], '--webhook-port needs --kubernetes'],
    [['--kubernetes-endpoints'], '--kubernetes-endpoints needs --kubernetes'],
    [['--kubernetes-namespace', 'meshd'], '--kubernetes-namespace needs --kubernetes'],
  ])('refuses %j without --kubernetes', (flags, message) => {
    const r = serve(['--mesh', QUICKSTART_MESH, ...flags]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it('refuses --kubernetes with --store, and a namespace that is not a Kubernetes name', () => {
    const store = serve(['--kubernetes', '--store', 'postgres://meshd@db/meshd']);
    expect(store.status).toBe(2);
    expect(store.stderr).toContain('cannot be combined with --kubernetes');
    const ns = serve(['--kubernetes', '--kubernetes-namespace', 'Not_A_Name']);
    expect(ns.status).toBe(2);
    expect(ns.stderr).toContain("--kubernetes-namespace must be a Kubernetes namespace name, got 'Not_A_Name'");
  });

  it('stops with the reason when the kubeconfig cannot be used, without a stack trace', () => {
    const dir = tmpDir('serve-k8s-kubeconfig-');
    const file = path.join(dir, 'config');
    fs.writeFileSync(file, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    const r = serve([
      '--kubernetes',
      '--kubeconfig',
      file,
      '--xds-port',
      '0',
      '--admin-port',
      '0',
      '--statsd-port',
      '0',
    ]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cannot start: kubernetes:');
    expect(r.stderr).toContain(file);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
