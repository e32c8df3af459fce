// What the compiler emits must be configuration Envoy accepts: every virtual node and virtual
// gateway of the example meshes and of every golden case, rendered as a static bootstrap,
// through `envoy --mode validate` (run from the project root, where the golden TLS cases'
// certificate paths point).
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { loadMesh } from '../../src/load/mesh-source';
import { describeWithEnvoy, envoyValidate } from '../helpers/envoy';
import { GOLDEN_DIR, goldenCases } from '../helpers/golden';
import { QUICKSTART_MESH } from '../helpers/mesh-text';
import { MESHD_BIN } from '../helpers/processes';

const MESHES = [
  QUICKSTART_MESH,
  path.resolve(__dirname, '../fixtures/skeleton-features.yaml'),
  ...goldenCases().map((c) => path.join(GOLDEN_DIR, c, 'in.yaml')),
];

function nodeIds(mesh: string): string[] {
  const result = loadMesh([mesh]);
  if (!result.ok) throw new Error(`${mesh} is not valid`);
  return [
    ...result.model.virtualNodes().map((n) => `mesh/${n.mesh}/virtualNode/${n.name}`),
    ...result.model.virtualGateways().map((g) => `mesh/${g.mesh}/virtualGateway/${g.name}`),
  ];
}

describeWithEnvoy('rendered configuration in a real Envoy', (envoyBin) => {
  const cases = MESHES.flatMap((mesh) =>
    nodeIds(mesh).map((node) => [path.relative(path.resolve(__dirname, '../..'), mesh), node, mesh] as const),
  );

  it.each(cases)('%s: %s passes envoy --mode validate', (_name, node, mesh) => {
    const yaml = execFileSync(process.execPath, [MESHD_BIN, 'render', '--mesh', mesh, '--node', node, '--static'], {
      encoding: 'utf8',
    });
    const result = envoyValidate(envoyBin, yaml);
    expect(result.ok ? 'OK' : result.output).toBe('OK');
  });
});
