// The graph's layout, without a layout library (dagre and elkjs take seconds to minutes on a 1,000-virtual-node
// mesh, docs/console.md): one column per kind in traffic order (gateways, services, routers, nodes), each
// column ordered by a few barycenter sweeps (each element moves towards the mean position of its neighbours in
// the columns already placed; O(edges + n log n) a sweep), and edges as cubic curves. Backend edges (a virtual
// node calling a service) run right to left: they leave from the bottom of the node and dip below both ends so
// that they do not lie over the left-to-right traffic.
import type { MeshEdge, MeshGraph, MeshNode, NodeKind } from './types';

export const COLUMNS: readonly NodeKind[] = ['VirtualGateway', 'VirtualService', 'VirtualRouter', 'VirtualNode'];
export const NODE_W = 200;
export const NODE_H = 40;
const COLUMN_GAP = 300;
const ROW = 64;
const MARGIN = 40;
const SWEEPS = 4;

export interface PlacedNode {
  node: MeshNode;
  x: number;
  y: number;
  column: number;
}

export interface PlacedEdge {
  edge: MeshEdge;
  d: string;
  labelX: number;
  labelY: number;
}

export interface Layout {
  /** Nodes in reading order (column by column, top to bottom), each followed by its outgoing edges. */
  order: { node: PlacedNode; edges: PlacedEdge[] }[];
  nodes: Map<string, PlacedNode>;
  width: number;
  height: number;
}

const byName = (a: MeshNode, b: MeshNode) =>
  a.mesh < b.mesh ? -1 : a.mesh > b.mesh ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

export function layout(graph: MeshGraph): Layout {
  const columnOf = new Map<string, number>();
  const columns: MeshNode[][] = COLUMNS.map(() => []);
  for (const n of graph.nodes) {
    const c = COLUMNS.indexOf(n.kind);
    const column = c < 0 ? COLUMNS.length - 1 : c;
    columnOf.set(n.id, column);
    columns[column]!.push(n);
  }
  for (const col of columns) col.sort(byName);
  const edges = graph.edges.filter((e) => columnOf.has(e.from) && columnOf.has(e.to) && e.from !== e.to);

  // Neighbours, and each element's position in its column as a fraction of the column (columns are spread over
  // the same height, so fractions compare across columns of different lengths).
  const neighbours = new Map<string, string[]>();
  const link = (a: string, b: string) => {
    const list = neighbours.get(a);
    if (list) list.push(b);
    else neighbours.set(a, [b]);
  };
  for (const e of edges) {
    link(e.from, e.to);
    link(e.to, e.from);
  }
  const pos = new Map<string, number>();
  const place = (col: MeshNode[]) => col.forEach((n, i) => pos.set(n.id, (i + 0.5) / col.length));
  columns.forEach(place);

  const sweep = (c: number, towards: (other: number) => boolean) => {
    const col = columns[c]!;
    const key = new Map<string, number>();
    for (const n of col) {
      let sum = 0;
      let count = 0;
      for (const m of neighbours.get(n.id) ?? []) {
        if (!towards(columnOf.get(m)!)) continue;
        sum += pos.get(m)!;
        count++;
      }
      key.set(n.id, count ? sum / count : pos.get(n.id)!);
    }
    col.sort((a, b) => key.get(a.id)! - key.get(b.id)! || pos.get(a.id)! - pos.get(b.id)!);
    place(col);
  };
  for (let s = 0; s < SWEEPS; s++) {
    if (s % 2 === 0) for (let c = 1; c < columns.length; c++) sweep(c, (o) => o < c);
    else for (let c = columns.length - 2; c >= 0; c--) sweep(c, (o) => o > c);
  }

  const rows = Math.max(1, ...columns.map((c) => c.length));
  const height = rows * ROW + 2 * MARGIN + 80;
  const span = rows * ROW;
  const nodes = new Map<string, PlacedNode>();
  columns.forEach((col, c) =>
    col.forEach((node, i) => {
      const y = MARGIN + ((i + 0.5) / col.length) * span - NODE_H / 2;
      nodes.set(node.id, { node, x: MARGIN + c * (NODE_W + COLUMN_GAP), y: Math.round(y), column: c });
    }),
  );

  const out = new Map<string, PlacedEdge[]>();
  for (const edge of edges) {
    const a = nodes.get(edge.from)!;
    const b = nodes.get(edge.to)!;
    const placed = b.column > a.column ? forward(edge, a, b) : around(edge, a, b);
    const list = out.get(edge.from);
    if (list) list.push(placed);
    else out.set(edge.from, [placed]);
  }
  spreadLabels([...out.values()].flat(), nodes);
  const order = columns.flatMap((col) =>
    col.map((n) => {
      const node = nodes.get(n.id)!;
      const list = out.get(n.id) ?? [];
      list.sort((p, q) => nodes.get(p.edge.to)!.y - nodes.get(q.edge.to)!.y);
      return { node, edges: list };
    }),
  );
  const width = MARGIN * 2 + COLUMNS.length * NODE_W + (COLUMNS.length - 1) * COLUMN_GAP;
  return { order, nodes, width, height };
}

const r = (n: number) => Math.round(n * 10) / 10;
const LABEL_GAP = 13;

/**
 * Labels of left-to-right edges sit in the middle of the gap between two columns, all at the same x, so that
 * crossing edges would write over each other: within each gap, they are sorted by height and pushed down until
 * they are LABEL_GAP apart (one pass, O(n log n)). A label may then sit a little off its curve's middle; focusing
 * an edge highlights both.
 */
function spreadLabels(edges: PlacedEdge[], nodes: Map<string, PlacedNode>): void {
  const gaps = new Map<number, PlacedEdge[]>();
  for (const p of edges) {
    const a = nodes.get(p.edge.from)!;
    if (nodes.get(p.edge.to)!.column <= a.column) continue;
    const list = gaps.get(p.labelX);
    if (list) list.push(p);
    else gaps.set(p.labelX, [p]);
  }
  for (const list of gaps.values()) {
    list.sort((p, q) => p.labelY - q.labelY);
    let last = -Infinity;
    for (const p of list) {
      if (p.labelY < last + LABEL_GAP) p.labelY = r(last + LABEL_GAP);
      last = p.labelY;
    }
  }
}

/**
 * Left to right: from the right side of `a` to the left side of `b`. The label sits in the middle of the first gap
 * after `a` (the curve's middle when they are neighbours; clear of the column between them when not).
 */
function forward(edge: MeshEdge, a: PlacedNode, b: PlacedNode): PlacedEdge {
  const x1 = a.x + NODE_W;
  const y1 = a.y + NODE_H / 2;
  const x2 = b.x;
  const y2 = b.y + NODE_H / 2;
  const dx = (x2 - x1) / 2;
  const c1 = x1 + dx;
  const c2 = x2 - dx;
  const lx = b.column - a.column > 1 ? x1 + COLUMN_GAP / 2 : (x1 + x2) / 2;
  // The curve's x grows with t: find the t where it reaches lx (bisection), and the curve's y there.
  const at = (t: number, p0: number, p1: number, p2: number, p3: number) =>
    (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t * t * p2 + t ** 3 * p3;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 20; i++) {
    const mid = (lo + hi) / 2;
    if (at(mid, x1, c1, c2, x2) < lx) lo = mid;
    else hi = mid;
  }
  return {
    edge,
    d: `M${x1} ${y1}C${r(c1)} ${y1} ${r(c2)} ${y2} ${x2} ${y2}`,
    labelX: r(lx),
    labelY: r(at(lo, y1, y1, y2, y2) - 4),
  };
}

/** Right to left (or within a column): bottom of `a` to bottom of `b`, dipping below both. */
function around(edge: MeshEdge, a: PlacedNode, b: PlacedNode): PlacedEdge {
  const x1 = a.x + NODE_W / 2 - 20;
  const y1 = a.y + NODE_H;
  const x2 = b.x + NODE_W / 2 + 20;
  const y2 = b.y + NODE_H;
  const dip = 30 + Math.abs(x1 - x2) * 0.12;
  const c1y = y1 + dip;
  const c2y = y2 + dip;
  // The cubic's point at t = 1/2.
  return {
    edge,
    d: `M${x1} ${y1}C${x1} ${r(c1y)} ${x2} ${r(c2y)} ${x2} ${y2}`,
    labelX: r((x1 + 3 * x1 + 3 * x2 + x2) / 8),
    labelY: r((y1 + 3 * c1y + 3 * c2y + y2) / 8 + 12),
  };
}
