// Golden tests, one case per compiled feature: test/golden/<case>/in.yaml → for each virtual
// node, out/<node>.{listeners,routes,clusters,endpoints}.yaml, and for each virtual gateway,
// out/gateway.<gateway>.{listeners,routes,clusters,endpoints}.yaml, exactly as meshd would
// serve them (encoded to protobuf and decoded back), in the form `meshd render` and Envoy's
// /config_dump print them (canonical proto3 JSON as YAML, src/xds/proto-json.ts: "1s", bare
// wrapped numbers, default values left out); and the plan each proxy's resources are
// translated from (src/compile/plan/types.ts), plan/<node>.yaml and plan/gateway.<gateway>.yaml.
// Regenerate with MESHD_UPDATE_GOLDEN=1 and review the diff: out/ is the change in what Envoy
// gets, plan/ the change in what meshd decided (an out/ change without a plan/ change is a
// translation change). Refused where CI is set.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { compileProxy, planProxy } from '../../src/compile';
import { offlineRegistry } from '../../src/control/offline-registry';
import { renderProxyConfig, toEnvoyYaml } from '../../src/control/render';
import { loadMesh } from '../../src/load/mesh-source';
import { GOLDEN_DIR, goldenCases, goldenUpdateRequested } from '../helpers/golden';

const UPDATE = goldenUpdateRequested();
const SETTINGS = { ingressPort: 15000, egressPort: 15001 };

/** Every file a case's nodes and gateways compile to, by folder (out, plan) and file name. */
function render(caseName: string): Record<'out' | 'plan', Map<string, string>> {
  const loaded = loadMesh([path.join(GOLDEN_DIR, caseName, 'in.yaml')]);
  if (!loaded.ok)
    throw new Error(`${caseName}/in.yaml is not valid:\n${loaded.problems.map((p) => p.message).join('\n')}`);
  // Cloud Map instances come from the case's CloudMapService documents.
  const cloudMap = offlineRegistry(loaded.cloudMapSeeds);
  if (!cloudMap.ok) throw new Error(`${caseName}/in.yaml: ${cloudMap.problems.map((p) => p.message).join('\n')}`);
  const proxies = [
    ...loaded.model.virtualNodes().map((n) => ({ id: `mesh/${n.mesh}/virtualNode/${n.name}`, file: n.name })),
    ...loaded.model
      .virtualGateways()
      .map((g) => ({ id: `mesh/${g.mesh}/virtualGateway/${g.name}`, file: `gateway.${g.name}` })),
  ];
  const files = new Map<string, string>();
  const plans = new Map<string, string>();
  for (const { id, file } of proxies) {
    const result = compileProxy(loaded.model, cloudMap.registry, id, SETTINGS);
    if (!result.ok) throw new Error(result.error);
    for (const [section, resources] of Object.entries(renderProxyConfig(result.config))) {
      const name = `${file}.${section}.yaml`;
      if (files.has(name)) throw new Error(`${caseName}: two proxies render ${name}`);
      if (resources.length > 0) files.set(name, toEnvoyYaml(resources));
    }
    const planned = planProxy(loaded.model, cloudMap.registry, id, SETTINGS);
    if (!planned.ok) throw new Error(planned.error);
    plans.set(`${file}.yaml`, stringify(planned.plan, { aliasDuplicateObjects: false }));
  }
  return { out: files, plan: plans };
}

describe('golden: mesh in → Envoy resources out', () => {
  it.each(goldenCases())('%s', (caseName) => {
    const rendered = render(caseName);
    for (const folder of ['out', 'plan'] as const) {
      const dir = path.join(GOLDEN_DIR, caseName, folder);
      const actual = rendered[folder];
      if (UPDATE) {
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir, { recursive: true });
        for (const [file, text] of actual) fs.writeFileSync(path.join(dir, file), text);
      }
      const expectedFiles = fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
      expect(expectedFiles).toEqual([...actual.keys()].sort());
      for (const [file, text] of actual)
        expect(`${folder}/${file}:\n${text}`).toBe(
          `${folder}/${file}:\n${fs.readFileSync(path.join(dir, file), 'utf8')}`,
        );
    }
  });
});
