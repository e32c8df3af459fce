// Golden tests, one case per compiled feature: test/golden/<case>/in.yaml → for each virtual
// node, out/<node>.{listeners,routes,clusters,endpoints}.yaml, and for each virtual gateway,
// out/gateway.<gateway>.{listeners,routes,clusters,endpoints}.yaml, exactly as meshd would
// serve them (encoded to protobuf and decoded back). Regenerate with MESHD_UPDATE_GOLDEN=1 and
// review the diff: it is the change in what Envoy gets (refused where CI is set).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileProxy } from '../../src/compile';
import { offlineRegistry } from '../../src/control/offline-registry';
import { renderProxyConfig, toEnvoyYaml } from '../../src/control/render';
import { loadMesh } from '../../src/load/mesh-source';
import { GOLDEN_DIR, goldenCases, goldenUpdateRequested } from '../helpers/golden';

const UPDATE = goldenUpdateRequested();
const SETTINGS = { ingressPort: 15000, egressPort: 15001 };

/** Every file a case's nodes and gateways compile to, by file name. */
function render(caseName: string): Map<string, string> {
  const loaded = loadMesh([path.join(GOLDEN_DIR, caseName, 'in.yaml')]);
  if (!loaded.ok) throw new Error(`${caseName}/in.yaml is not valid:\n${loaded.problems.map((p) => p.message).join('\n')}`);
  // Cloud Map instances come from the case's CloudMapService documents.
  const cloudMap = offlineRegistry(loaded.cloudMapSeeds);
  if (!cloudMap.ok) throw new Error(`${caseName}/in.yaml: ${cloudMap.problems.map((p) => p.message).join('\n')}`);
  const proxies = [
    ...loaded.model.virtualNodes().map((n) => ({ id: `mesh/${n.mesh}/virtualNode/${n.name}`, file: n.name })),
    ...loaded.model.virtualGateways().map((g) => ({ id: `mesh/${g.mesh}/virtualGateway/${g.name}`, file: `gateway.${g.name}` })),
  ];
  const files = new Map<string, string>();
  for (const { id, file } of proxies) {
    const result = compileProxy(loaded.model, cloudMap.registry, id, SETTINGS);
    if (!result.ok) throw new Error(result.error);
    for (const [section, resources] of Object.entries(renderProxyConfig(result.config))) {
      const name = `${file}.${section}.yaml`;
      if (files.has(name)) throw new Error(`${caseName}: two proxies render ${name}`);
      if (resources.length > 0) files.set(name, toEnvoyYaml(resources));
    }
  }
  return files;
}

describe('golden: mesh in → Envoy resources out', () => {
  it.each(goldenCases())('%s', (caseName) => {
    const outDir = path.join(GOLDEN_DIR, caseName, 'out');
    const actual = render(caseName);
    if (UPDATE) {
      fs.rmSync(outDir, { recursive: true, force: true });
      fs.mkdirSync(outDir, { recursive: true });
      for (const [file, text] of actual) fs.writeFileSync(path.join(outDir, file), text);
    }
    const expectedFiles = fs.existsSync(outDir) ? fs.readdirSync(outDir).sort() : [];
    expect(expectedFiles).toEqual([...actual.keys()].sort());
    for (const [file, text] of actual) expect(`${file}:\n${text}`).toBe(`${file}:\n${fs.readFileSync(path.join(outDir, file), 'utf8')}`);
  });
});
