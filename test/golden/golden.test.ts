// Golden tests, one case per compiled feature: test/golden/<case>/in.yaml → for each virtual
// node, out/<node>.{listeners,routes,clusters,endpoints}.yaml, exactly as meshd would serve
// them (encoded to protobuf and decoded back). Regenerate with MESHD_UPDATE_GOLDEN=1 and
// review the diff: it is the change in what Envoy gets.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileProxy } from '../../src/compile';
import { offlineRegistry } from '../../src/control/offline-registry';
import { renderProxyConfig, toEnvoyYaml } from '../../src/control/render';
import { loadMesh } from '../../src/load/mesh-source';
import { GOLDEN_DIR, goldenCases } from '../helpers/golden';

const UPDATE = process.env.MESHD_UPDATE_GOLDEN === '1';
const SETTINGS = { ingressPort: 15000, egressPort: 15001 };

/** Every file a case's nodes compile to, by file name. */
function render(caseName: string): Map<string, string> {
  const loaded = loadMesh([path.join(GOLDEN_DIR, caseName, 'in.yaml')]);
  if (!loaded.ok) throw new Error(`${caseName}/in.yaml is not valid:\n${loaded.problems.map((p) => p.message).join('\n')}`);
  // Cloud Map instances come from the case's CloudMapService documents.
  const cloudMap = offlineRegistry(loaded.cloudMapSeeds);
  if (!cloudMap.ok) throw new Error(`${caseName}/in.yaml: ${cloudMap.problems.map((p) => p.message).join('\n')}`);
  const files = new Map<string, string>();
  for (const node of loaded.model.virtualNodes()) {
    const result = compileProxy(loaded.model, cloudMap.registry, `mesh/${node.mesh}/virtualNode/${node.name}`, SETTINGS);
    if (!result.ok) throw new Error(result.error);
    for (const [section, resources] of Object.entries(renderProxyConfig(result.config))) {
      if (resources.length > 0) files.set(`${node.name}.${section}.yaml`, toEnvoyYaml(resources));
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
