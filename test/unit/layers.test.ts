// The layer rule of docs/architecture.md, enforced: each folder under src/ imports only the
// folders listed for it below, and the listed graph has no cycle, so no import can tangle two
// folders. A new folder must be placed here before its first import passes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const SRC = path.resolve(__dirname, '../../src');

/** Bottom to top. A folder may import itself and the folders named here (never one above it). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  generated: [],
  util: [],
  model: ['util'],
  xds: ['generated', 'util'],
  discovery: ['model', 'util'],
  load: ['discovery', 'model', 'util'],
  export: ['discovery', 'load', 'model', 'util'],
  compile: ['generated', 'model', 'util'],
  bootstrap: ['model', 'util'],
  telemetry: ['compile', 'model', 'util'],
  rollout: ['load', 'model', 'telemetry', 'util'],
  store: ['discovery', 'export', 'load', 'model', 'util'],
  admin: ['discovery', 'model', 'rollout', 'telemetry', 'util', 'xds'],
  api: ['load', 'model', 'store', 'util'],
  // The certificate authority keeps its state in a file or in PostgreSQL (its table is a store migration).
  ca: ['store', 'util'],
  // Kubernetes mode: the cluster's objects become mesh input (load), EndpointSlices a discovery view (compile).
  k8s: ['compile', 'load', 'model', 'util'],
  control: [
    'admin',
    'api',
    'bootstrap',
    'ca',
    'compile',
    'discovery',
    'generated',
    'k8s',
    'load',
    'model',
    'rollout',
    'store',
    'telemetry',
    'util',
    'xds',
  ],
  cli: [
    'admin',
    'bootstrap',
    'ca',
    'compile',
    'control',
    'discovery',
    'export',
    'k8s',
    'load',
    'model',
    'rollout',
    'store',
    'telemetry',
    'util',
    'xds',
  ],
  demo: ['cli', 'control', 'load', 'model', 'util'],
};

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly file: string;
  readonly specifier: string;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

/** The top folder under src/ a path lies in, or '(src)' for a file directly in src/. */
function folderOf(file: string): string {
  const parts = path.relative(SRC, file).split(path.sep);
  return parts.length > 1 ? parts[0]! : '(src)';
}

/** Every relative import, export-from and dynamic import() of every file under src/, as folder edges. */
function folderEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    if (folderOf(file) === 'generated') continue;
    const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), ref.fileName);
      const from = folderOf(file);
      const isFolder = fs.existsSync(target) && fs.statSync(target).isDirectory();
      const to = folderOf(isFolder ? path.join(target, 'index.ts') : `${target}.ts`);
      if (from !== to) edges.push({ from, to, file: path.relative(SRC, file), specifier: ref.fileName });
    }
  }
  return edges;
}

/** A cycle in the allowed graph (as a path of folders), or undefined when it is acyclic. */
function cycleIn(graph: Readonly<Record<string, readonly string[]>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const visit = (node: string, trail: string[]): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...trail.slice(trail.indexOf(node)), node];
    state.set(node, 'open');
    for (const next of graph[node] ?? []) {
      const cycle = visit(next, [...trail, node]);
      if (cycle) return cycle;
    }
    state.set(node, 'done');
    return undefined;
  };
  for (const node of Object.keys(graph)) {
    const cycle = visit(node, []);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('layers', () => {
  const edges = folderEdges();

  test('every folder under src/ has a place in the layer order', () => {
    const folders = fs
      .readdirSync(SRC, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(folders.filter((f) => !(f in ALLOWED))).toEqual([]);
    // Files directly in src/ would belong to no layer: general helpers live in util/.
    expect(
      sourceFiles(SRC)
        .filter((f) => folderOf(f) === '(src)')
        .map((f) => path.relative(SRC, f)),
    ).toEqual([]);
  });

  test('no import crosses the layer order', () => {
    const broken = edges
      .filter((e) => !(ALLOWED[e.from] ?? []).includes(e.to))
      .map(
        (e) =>
          `src/${e.file} imports '${e.specifier}' (${e.from} → ${e.to}, allowed: ${(ALLOWED[e.from] ?? []).join(', ') || 'nothing'})`,
      );
    expect(broken).toEqual([]);
  });

  test('the allowed folder graph has no cycle', () => {
    expect(cycleIn(ALLOWED)).toBeUndefined();
  });

  test('the cycle check finds a cycle when there is one', () => {
    expect(cycleIn({ load: ['rollout'], rollout: ['model', 'load'], model: [] })).toEqual(['load', 'rollout', 'load']);
  });

  test('the folder graph in use (for docs/architecture.md)', () => {
    const used = new Map<string, Set<string>>();
    for (const e of edges) used.set(e.from, (used.get(e.from) ?? new Set()).add(e.to));
    const graph = Object.fromEntries([...used].map(([from, to]) => [from, [...to].sort()]));
    // The graph actually used is a subgraph of the allowed one, so it is acyclic too.
    expect(cycleIn(graph)).toBeUndefined();
    if (process.env.MESHD_PRINT_LAYERS) {
      process.stdout.write(
        Object.entries(graph)
          .sort()
          .map(([f, t]) => `${f} → ${t.join(', ')}`)
          .join('\n') + '\n',
      );
    }
  });
});

describe('the web console', () => {
  const CONSOLE = path.resolve(__dirname, '../../console');

  /** Every relative import of console/src that resolves outside console/ (bare package imports are allowed). */
  function escapes(): string[] {
    const files = (function walk(dir: string): string[] {
      return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) return walk(full);
        return /\.(ts|tsx|js|jsx|mjs)$/.test(e.name) ? [full] : [];
      });
    })(path.join(CONSOLE, 'src'));
    const out: string[] = [];
    for (const file of files) {
      const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
      for (const ref of info.importedFiles) {
        const spec = ref.fileName;
        if (!spec.startsWith('.') && !path.isAbsolute(spec)) continue;
        const target = path.resolve(path.dirname(file), spec);
        if (path.relative(CONSOLE, target).startsWith('..') || path.isAbsolute(path.relative(CONSOLE, target)))
          out.push(`${path.relative(CONSOLE, file)} imports '${spec}'`);
      }
    }
    return out;
  }

  test('console/src imports nothing outside console/ (it defines its own types for the JSON)', () => {
    expect(escapes()).toEqual([]);
  });
});
