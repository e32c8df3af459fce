// The new readers (CloudFormation templates, terraform show -json, the RE2 port) against hostile
// files of ordinary size: `meshd validate` must answer each with precise findings (file:line:col),
// never a stack trace or an "internal error", and must not hang. Time is bounded only generously
// (a hang is minutes; each of these took 7 s to over a minute before its fix).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { MESHD_BIN, tmpDir, tmpFile } from '../helpers/processes';

/** A generous bound: validate of each file here takes well under a second once fixed. */
const HANG_MS = 10_000;

function validate(file: string, ...args: string[]): { status: number | null; out: string; lines: string[] } {
  const r = spawnSync(process.execPath, [MESHD_BIN, 'validate', file, ...args], { encoding: 'utf8', timeout: HANG_MS, maxBuffer: 64 * 1024 * 1024 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.signal) throw new Error(`meshd validate ${path.basename(file)} did not finish within ${HANG_MS} ms (killed by ${r.signal})`);
  return { status: r.status, out, lines: out.split('\n').filter((l) => l !== '') };
}

function expectNoCrash(out: string): void {
  expect(out).not.toMatch(/internal error|\n\s+at .*:\d+:\d+\)?/);
}

/** A native mesh with one route per regex (header matches), the way a user would write them. */
function meshWithHeaderRegexes(regexes: string[]): string {
  const head = [
    'kind: Mesh\nname: m\n',
    'kind: VirtualNode\nmesh: m\nname: n\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { dns: { hostname: n.local } }\n',
    'kind: VirtualRouter\nmesh: m\nname: r\nspec: { listeners: [{ portMapping: { port: 8080, protocol: http } }] }\n',
  ];
  const routes = regexes.map(
    (rx, i) =>
      `kind: Route\nmesh: m\nvirtualRouter: r\nname: rt${i}\nspec:\n  priority: ${i}\n  httpRoute:\n    match: { prefix: /, headers: [{ name: x, match: { regex: '${rx}' } }] }\n    action: { weightedTargets: [{ virtualNode: n, weight: 1 }] }\n`,
  );
  return [...head, ...routes].join('---\n');
}

/** `unit` repeated (joined by `sep`) as often as fits App Mesh's 255 characters. */
function fill(unit: string, sep = ''): string {
  let s = unit;
  while ((s + sep + unit).length <= 255) s += sep + unit;
  return s;
}

describe('class: RE2 port on hostile regexes of at most 255 characters', () => {
  it('coalesced repetitions nested thousands deep are refused as too large, not a stack overflow', () => {
    // '[a-z]{2,1000}' x 19 coalesces into one repetition 19,000 deep: 'internal error: Maximum call stack size exceeded' before.
    const file = tmpFile('re2-deep.yaml', meshWithHeaderRegexes([fill('[a-z]{2,1000}'), fill('.{0,1000}')]));
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(lines).toEqual(
      expect.arrayContaining([expect.stringMatching(/^.*re2-deep\.yaml:\d+:\d+: error: Route\/r\/rt0: is too large for Envoy's regex engine \(RE2\): pattern too large - compile failed \(its repetitions nest too deeply\) \(spec\.httpRoute\.match\.headers\[0\]\.match\.regex\)$/)]),
    );
    expect(lines.filter((l) => / error: /.test(l))).toHaveLength(2);
  });

  it("alternations of long counted repetitions get a size without RE2's quadratic flatten walk", () => {
    // '[a-z]{2,1000}|' x 19 (251 characters) took 6.6 s each to flatten exactly: three routes, 20 s.
    const regexes = [fill('[a-z]{2,1000}', '|'), fill('(?:|a){0,1000}'), fill('(?:a*|b){0,1000}')];
    const file = tmpFile('re2-flatten.yaml', meshWithHeaderRegexes(regexes));
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    const errors = lines.filter((l) => / error: /.test(l));
    expect(errors).toHaveLength(3);
    for (const e of errors) expect(e).toMatch(/: error: Route\/r\/rt\d: compiles to an RE2 program of size at least \d{5}, over the 1000 App Mesh's Envoy accepts .*Envoy would refuse it \(spec\.httpRoute\.match\.headers\[0\]\.match\.regex\)$/);
  });
});

describe('class: one finding per item of a long list (locating each finding scanned every path rule)', () => {
  it('terraform show -json: 8,000 listener blocks with a wrong protocol are 8,000 located findings', () => {
    // 4,000 blocks took 18 s, 15,000 (825 KB) over a minute: each finding scanned the resource's ~10 rules per block.
    const listener = { port_mapping: [{ port: 8080, protocol: 'bad' }] };
    const state = {
      format_version: '1.0',
      terraform_version: '1.6.0',
      values: {
        root_module: {
          resources: [
            { address: 'aws_appmesh_mesh.m', mode: 'managed', type: 'aws_appmesh_mesh', name: 'm', values: { name: 'm', spec: [] } },
            { address: 'aws_appmesh_virtual_node.n', mode: 'managed', type: 'aws_appmesh_virtual_node', name: 'n', values: { name: 'n', mesh_name: 'm', spec: [{ listener: Array(8000).fill(listener) }] } },
          ],
        },
      },
    };
    const file = tmpFile('listeners.json', JSON.stringify(state, null, 1));
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(lines).toHaveLength(8000);
    expect(lines[7999]).toMatch(/listeners\.json:\d+:\d+: error: VirtualNode\/n: must be one of http, http2, grpc, tcp, got "bad" \(aws_appmesh_virtual_node\.n\.spec\[0\]\.listener\[7999\]\.port_mapping\[0\]\.protocol\)$/);
  });

  it('CloudFormation: 40,000 list items after a left-out one (a path rule each) with a finding each', () => {
    // The template's own locate scanned every rule, and every function-made path, per finding.
    const items = '        - 1\n'.repeat(40000);
    const template = `Resources:\n  Mesh:\n    Type: AWS::AppMesh::Mesh\n    Properties:\n      MeshName: m\n  N:\n    Type: AWS::AppMesh::VirtualNode\n    Properties:\n      MeshName: m\n      VirtualNodeName: n\n      Spec:\n        Listeners:\n        - !Ref AWS::NoValue\n${items}`;
    const file = tmpFile('listeners.yaml', template);
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(lines).toHaveLength(40000);
    expect(lines[39999]).toBe(`${file}:40013:11: error: VirtualNode/n: must be a mapping, got 1 (Resources.N.Properties.Spec.Listeners[40000])`);
  });
});

// Used by later classes.
void tmpDir;
