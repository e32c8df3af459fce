// The new readers (CloudFormation templates, terraform show -json, the RE2 port) against hostile
// files of ordinary size: `meshd validate` must answer each with precise findings (file:line:col),
// never a stack trace or an "internal error", and must not hang. Time is bounded only generously
// (a hang is minutes; each of these took 7 s to over a minute before its fix).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MESHD_BIN, tmpFile } from '../helpers/processes';

/** A generous bound: validate of each file here takes well under a second once fixed. */
const HANG_MS = 10_000;

function validate(file: string, ...args: string[]): { status: number | null; out: string; lines: string[] } {
  const r = spawnSync(process.execPath, [MESHD_BIN, 'validate', file, ...args], {
    encoding: 'utf8',
    timeout: HANG_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.signal)
    throw new Error(
      `meshd validate ${path.basename(file)} did not finish within ${HANG_MS} ms (killed by ${r.signal})`,
    );
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
    // '[a-z]{2,1000}' x 19 coalesces into one repetition 19,000 deep:
    // 'internal error: Maximum call stack size exceeded' before.
    const file = tmpFile('re2-deep.yaml', meshWithHeaderRegexes([fill('[a-z]{2,1000}'), fill('.{0,1000}')]));
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^.*re2-deep\.yaml:\d+:\d+: error: Route\/r\/rt0: is too large for Envoy's regex engine \(RE2\): pattern too large - compile failed \(its repetitions nest too deeply\) \(spec\.httpRoute\.match\.headers\[0\]\.match\.regex\)$/,
        ),
      ]),
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
    for (const e of errors)
      expect(e).toMatch(
        /: error: Route\/r\/rt\d: compiles to an RE2 program of size at least \d{5}, over the 1000 App Mesh's Envoy accepts .*Envoy would refuse it \(spec\.httpRoute\.match\.headers\[0\]\.match\.regex\)$/,
      );
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
            {
              address: 'aws_appmesh_mesh.m',
              mode: 'managed',
              type: 'aws_appmesh_mesh',
              name: 'm',
              values: { name: 'm', spec: [] },
            },
            {
              address: 'aws_appmesh_virtual_node.n',
              mode: 'managed',
              type: 'aws_appmesh_virtual_node',
              name: 'n',
              values: { name: 'n', mesh_name: 'm', spec: [{ listener: Array(8000).fill(listener) }] },
            },
          ],
        },
      },
    };
    const file = tmpFile('listeners.json', JSON.stringify(state, null, 1));
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(lines).toHaveLength(8000);
    expect(lines[7999]).toMatch(
      /listeners\.json:\d+:\d+: error: VirtualNode\/n: must be one of http, http2, grpc, tcp, got "bad" \(aws_appmesh_virtual_node\.n\.spec\[0\]\.listener\[7999\]\.port_mapping\[0\]\.protocol\)$/,
    );
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
    expect(lines[39999]).toBe(
      `${file}:40013:11: error: VirtualNode/n: must be a mapping, got 1 (Resources.N.Properties.Spec.Listeners[40000])`,
    );
  });
});

/** A template: a Mesh and a node whose backends are the given service names (any YAML), after `head` (sections). */
function templateWithBackends(head: string, names: string[]): string {
  const backends = names.map((n) => `        - VirtualService: {VirtualServiceName: ${n}}\n`).join('');
  return `${head}Resources:\n  Mesh:\n    Type: AWS::AppMesh::Mesh\n    Properties:\n      MeshName: m\n  N:\n    Type: AWS::AppMesh::VirtualNode\n    Properties:\n      MeshName: m\n      VirtualNodeName: n\n      Spec:\n        Backends:\n${backends}`;
}

describe('class: CloudFormation functions reading one long value (a parameter, a mapping, a YAML alias) many times', () => {
  it('Fn::Join of 9,000 references to a 65,000-character parameter is one finding, not "internal error: Invalid string length"', () => {
    const head = `Parameters:\n  S:\n    Type: String\n    Default: ${'a'.repeat(65000)}\n`;
    const file = tmpFile(
      'join.yaml',
      templateWithBackends(head, [`!Join ['', [${Array(9000).fill('!Ref S').join(',')}]]`]),
    );
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(lines).toEqual([
      `${file}:17:54: error: VirtualNode/n: Fn::Join: makes a string longer than 65536 characters (Resources.N.Properties.Spec.Backends[0].VirtualService.VirtualServiceName)`,
    ]);
  });

  it('Fn::Join of a 100,000-item list parameter, 10,000 times (870 KB), stops at the read budget', () => {
    // Over a minute before: the parameter's list is not made by a function, so no budget counted it.
    const head = `Parameters:\n  P:\n    Type: CommaDelimitedList\n    Default: '${Array(100000).fill('a').join(',')}'\n`;
    const file = tmpFile('join-list.yaml', templateWithBackends(head, Array(10000).fill("!Join ['', !Ref P]")));
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(lines).toContain(
      `${file}:17:54: error: VirtualNode/n: Fn::Join: makes a string longer than 65536 characters (Resources.N.Properties.Spec.Backends[0].VirtualService.VirtualServiceName)`,
    );
    expect(
      lines.filter((l) =>
        /the template's functions read more than 16777216 characters and list items; meshd stops here/.test(l),
      ),
    ).toHaveLength(1);
  });

  it('Fn::Equals of a 100,000-item list in 6,000 conditions stops at the read budget', () => {
    // 10,000 such conditions (1.1 MB) took 45 s.
    const head = `Parameters:\n  P:\n    Type: CommaDelimitedList\n    Default: '${Array(100000).fill('a').join(',')}'\nConditions:\n${Array.from({ length: 6000 }, (_, i) => `  C${i}: !Equals [!Ref P, x]\n`).join('')}`;
    const file = tmpFile(
      'equals.yaml',
      templateWithBackends(
        head,
        Array.from({ length: 6000 }, (_, i) => `!If [C${i}, a, b]`),
      ),
    );
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(lines).toEqual([
      expect.stringMatching(
        /equals\.yaml:\d+:\d+: error: Condition\/C\d+: the template's functions read more than 16777216 characters and list items; meshd stops here \(Conditions\.C\d+\)$/,
      ),
    ]);
  });

  it('Fn::Sub of one aliased 56,000-character template, 10,000 times, stops at the read budget', () => {
    // 20,000 times took 36 s and 2.8 GB.
    const head = `Metadata: {x: &s '${'${AWS::Region}'.repeat(4000)}'}\n`;
    const file = tmpFile('sub.yaml', templateWithBackends(head, Array(10000).fill('!Sub [*s, {}]')));
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(
      lines.filter((l) =>
        /the template's functions read more than 16777216 characters and list items; meshd stops here/.test(l),
      ),
    ).toHaveLength(1);
  });
});

describe('class: CloudFormation function arguments that a YAML alias makes millions of values', () => {
  it('Fn::Select over 17 aliases of a 1,010,100-value list stops at the values budget without walking the rest', () => {
    // 2.1 s before (the whole 17M-value tree was walked, then refused); 0.6 s now. Regression only: it did not hang.
    const a = `[${Array(100).fill('x').join(',')}]`;
    const head = `Metadata:\n  pad: ${'p'.repeat(990000)}\n  a: &a ${a}\n  b: &b [${Array(100).fill('*a').join(',')}]\n  c: &c [${Array(100).fill('*b').join(',')}]\n`;
    const file = tmpFile(
      'alias-tree.yaml',
      templateWithBackends(head, [`!Select [0, [${Array(17).fill('*c').join(',')}]]`]),
    );
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(lines).toEqual([
      expect.stringMatching(
        /alias-tree\.yaml:18:61: error: VirtualNode\/n: the template's functions produce more than 1000000 values; meshd stops here \(Resources\.N\.Properties\.Spec\.Backends\[0\]\.VirtualService\.VirtualServiceName\.Fn::Select\[1\]\[0\]\[\d+\]\[\d+\]\)$/,
      ),
    ]);
  });
});

describe('class: CloudFormation "did you mean" over many long names', () => {
  it('1,000 unknown Ref names against 2,000 logical IDs of 255 characters (880 KB) are 1,000 findings', () => {
    // Over a minute before: each unknown name was compared (edit distance) with every ID.
    const ids = Array.from({ length: 2000 }, (_, i) => `R${String(i).padStart(254, '0')}`);
    const head = '';
    const text =
      templateWithBackends(
        head,
        Array.from({ length: 1000 }, (_, i) => `!Ref Q${String(i).padStart(254, '0')}`),
      ) + ids.map((id) => `  ${id}:\n    Type: AWS::SNS::Topic\n`).join('');
    const file = tmpFile('names.yaml', text);
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    const errors = lines.filter((l) => / error: /.test(l));
    expect(errors).toHaveLength(1000);
    expect(errors[0]).toMatch(
      /names\.yaml:13:53: error: VirtualNode\/n: Ref: 'Q0{79}…' is not a parameter or resource of this template, nor a pseudo parameter( \(|;)/,
    );
  });

  it('a 400,000-character name through a YAML alias is shown cut at 80 characters', () => {
    const head = `Metadata: {x: &s ${'a'.repeat(400000)}}\n`;
    const file = tmpFile('long-name.yaml', templateWithBackends(head, Array(2000).fill('{Ref: *s}')));
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(lines).toHaveLength(2000);
    expect(out.length).toBeLessThan(2000 * 400);
    expect(lines[0]).toBe(
      `${file}:14:54: error: VirtualNode/n: Ref: '${'a'.repeat(80)}…' is not a parameter or resource of this template, nor a pseudo parameter (Resources.N.Properties.Spec.Backends[0].VirtualService.VirtualServiceName)`,
    );
  });
});

describe('class: many values a function could not give in one resource (findings under them were looked for by scanning them all)', () => {
  it('20,000 backends each an unresolvable Ref (700 KB) are 20,000 findings, one each', () => {
    // The check that a finding is not about a field under (or above) an unresolved value scanned every
    // unresolved path: 25,000 took 30 s, 40,000 over a minute.
    const text = templateWithBackends('', []) + '        - {VirtualService: !Ref X}\n'.repeat(20000);
    const file = tmpFile('unresolved.yaml', text);
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(lines).toHaveLength(20000);
    expect(lines[19999]).toBe(
      `${file}:20012:33: error: VirtualNode/n: Ref: 'X' is not a parameter or resource of this template, nor a pseudo parameter; did you mean 'N'? (Resources.N.Properties.Spec.Backends[19999].VirtualService)`,
    );
  });
});

describe('class: CloudFormation parameter constraints on a long list', () => {
  const template = (extra: string) =>
    `Parameters:\n  P:\n    Type: CommaDelimitedList\n    AllowedValues: [${Array.from({ length: 40000 }, (_, i) => `v${i}`).join(',')}${extra}]\n    Default: '${Array(100000).fill('a').join(',')}'\nResources:\n  Mesh:\n    Type: AWS::AppMesh::Mesh\n    Properties:\n      MeshName: m\n`;

  it('a 100,000-item Default checked against 40,000 AllowedValues (470 KB) is valid at once', () => {
    // Over a minute before: every item was looked for in a fresh copy of the whole list.
    const file = tmpFile('allowed.yaml', template(',a'));
    const { status, out } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(0);
    expect(out).toContain('1 file(s), 1 resource(s): valid');
  });

  it('and when not allowed, one line that shows neither all the values nor the whole Default', () => {
    const file = tmpFile('allowed.yaml', template(''));
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(lines).toEqual([
      `${file}:5:14: error: Parameter/P: Default '${Array(40).fill('a').join(',')},…' is not one of the AllowedValues (${Array.from({ length: 20 }, (_, i) => `v${i}`).join(', ')}, … 40000 in all) (Parameters.P.Default)`,
    ]);
  });
});

describe('class: "did you mean" for a very long unknown field name (every dialect)', () => {
  it('ten unknown 95,000-character keys are ten findings without comparing them to each field name', () => {
    // 2.3 s before (edit distance of each key with each field name), 0.3 s now. Regression only: a 1 MiB
    // file cannot make it take 10 s.
    const keys = Array.from({ length: 10 }, (_, i) => `  ${'k'.repeat(95000)}${i}: 1\n`).join('');
    const file = tmpFile(
      'long-keys.yaml',
      `kind: Mesh\nname: m\n---\nkind: VirtualNode\nmesh: m\nname: n\nspec:\n${keys}  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n`,
    );
    const { status, out, lines } = validate(file);
    expectNoCrash(out);
    expect(status).toBe(1);
    expect(lines).toHaveLength(10);
    expect(lines[0]).toMatch(/long-keys\.yaml:8:\d+: error: VirtualNode\/n: unknown field 'k{95000}0'/);
  });
});

describe('class: YAML nested deeper than js-yaml reads (every dialect)', () => {
  it('two files 1,000 and 2,000 brackets deep (6 KB) are two findings, not a process abort', () => {
    // Before: the `yaml` package (run for positions) recursed through them and V8 aborted the process
    // ('FATAL ERROR: RegExpCompiler Allocation failed - process out of memory', exit 134).
    const dir = path.dirname(tmpFile('a.yaml', `${'['.repeat(1000)}${']'.repeat(1000)}\n`));
    const b = path.join(dir, 'b.yaml');
    fs.writeFileSync(b, `kind: Mesh\nname: m\nspec: ${'['.repeat(2000)}${']'.repeat(2000)}\n`);
    const { status, out, lines } = validate(path.join(dir, 'a.yaml'), b);
    expectNoCrash(out);
    expect(out).not.toMatch(/FATAL|out of memory/);
    expect(status).toBe(1);
    expect(lines).toEqual([
      `${dir}/a.yaml:1:100: error: invalid YAML: nesting exceeded maxDepth (100)`,
      `${b}:3:106: error: invalid YAML: nesting exceeded maxDepth (100)`,
    ]);
  });
});
