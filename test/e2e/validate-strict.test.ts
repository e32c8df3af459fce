// `meshd validate` on a Kubernetes manifest with a field its CRD does not know: a warning and
// exit 0, as the API server would prune it; with --strict an error and exit 1, as
// `kubectl --validate=strict` refuses it.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { meshFolder } from '../helpers/mesh-text';
import { MESHD_BIN } from '../helpers/processes';

function meshd(...args: string[]) {
  const r = spawnSync(process.execPath, [MESHD_BIN, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const MANIFESTS = [
  'apiVersion: appmesh.k8s.aws/v1beta2\nkind: Mesh\nmetadata: { name: apps }\nspec: {}\n',
  [
    'apiVersion: appmesh.k8s.aws/v1beta2',
    'kind: VirtualNode',
    'metadata: { name: front, namespace: howto }',
    'spec:',
    '  backends: []',
    '  backendDefaults:',
    '    clientPolicy:',
    '      tls:',
    '        mode: STRICT',
    '        validation: { trust: { sds: { secretName: "spiffe://howto.aws" } } }',
    '',
  ].join('\n'),
].join('---\n');

describe('meshd validate and Kubernetes fields the API server would prune', () => {
  const dir = meshFolder({ 'front.yaml': MANIFESTS });
  const file = path.join(dir, 'front.yaml');
  const message =
    "VirtualNode/front_howto: unknown field 'mode'; expected one of: enforce, ports, certificate, validation; Kubernetes would prune it";

  it('plain validate: one warning line naming the field, exit 0', () => {
    expect(meshd('validate', dir)).toEqual({
      status: 0,
      stdout: `${file}:14:15: warning: ${message}, so meshd ignores it (spec.backendDefaults.clientPolicy.tls.mode)\n1 file(s), 2 resource(s): valid\n`,
      stderr: '',
    });
  });

  it('validate --strict: the same field is an error, exit 1', () => {
    expect(meshd('validate', '--strict', dir)).toEqual({
      status: 1,
      stdout: `${file}:14:15: error: ${message}, and --strict refuses it (spec.backendDefaults.clientPolicy.tls.mode)\n`,
      stderr: '',
    });
  });

  it.each(['validate', 'render', 'serve'])('%s --help describes --strict', (command) => {
    const out = meshd(command, '--help');
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/--strict\s+refuse fields of Kubernetes manifests/);
  });
});
