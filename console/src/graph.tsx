// The mesh graph in plain SVG: laid out by layout.ts, rendered by Preact once per mesh (the component updates
// only when /v1/mesh changes), and kept live by writing the numbers that changed straight into the elements'
// text nodes and attributes on every telemetry event, so that a tick costs what changed, not 10,000 elements.
import { Component, createRef } from 'preact';
import type { MeshEdge, MeshGraph, MeshNode } from './types';
import { layout, NODE_H, NODE_W, type Layout, type PlacedEdge, type PlacedNode } from './layout';
import { GLYPH, IDLE, liveOf, liveText, rpsAttr, type Live } from './live';
import type { LiveStore } from './store';

const KIND_WORDS: Record<string, string> = {
  VirtualGateway: 'virtual gateway',
  VirtualService: 'virtual service',
  VirtualRouter: 'virtual router',
  VirtualNode: 'virtual node',
};
const EDGE_WORDS: Record<string, string> = {
  'gateway-route': 'gateway route',
  provider: 'provider',
  'route-target': 'route target',
  backend: 'backend',
};

const weightText = (e: MeshEdge): string =>
  e.kind === 'route-target' && (e.percent ?? e.weight) !== undefined ? `${Math.round(e.percent ?? e.weight!)}%` : '';

const nameOf = (id: string, nodes: Map<string, PlacedNode>) => nodes.get(id)?.node.name ?? id;

function nodeLabel(n: MeshNode, live: Live): string {
  const traffic = live.requests > 0 ? `, ${liveText(live)}` : '';
  return `${KIND_WORDS[n.kind] ?? n.kind} ${n.name} (mesh ${n.mesh}), ${live.health}${traffic}`;
}

function edgeLabel(e: MeshEdge, nodes: Map<string, PlacedNode>, live: Live): string {
  const w = weightText(e);
  return (
    `${EDGE_WORDS[e.kind] ?? e.kind} from ${nameOf(e.from, nodes)} to ${nameOf(e.to, nodes)}` +
    `${w ? `, weight ${w}` : ''}, ${liveText(live)}, ${live.health}`
  );
}

const shortName = (name: string) => (name.length > 24 ? `${name.slice(0, 23)}…` : name);

interface Props {
  graph: MeshGraph;
  live: LiveStore;
  hidden: boolean;
  onOpen: (id: string) => void;
}

/** What a telemetry tick may change in one element, and its last values. */
interface Slot {
  el: Element;
  trafficNodes: readonly string[];
  edge?: MeshEdge;
  node?: MeshNode;
  text?: Text;
  glyph?: Text;
  key: string;
}

const MIN_K = 0.01;
const MAX_K = 4;

export class Graph extends Component<Props> {
  private svg = createRef<SVGSVGElement>();
  private viewport = createRef<SVGGElement>();
  private layout: Layout | undefined;
  private laidOut: MeshGraph | undefined;
  private edges = new Map<string, PlacedEdge>();
  private slots: Slot[] = [];
  private k = 1;
  private tx = 0;
  private ty = 0;
  private fitted = false;
  private drag: { x: number; y: number; tx: number; ty: number; moved: boolean } | undefined;
  private unsubscribe: (() => void) | undefined;

  override shouldComponentUpdate(next: Props): boolean {
    // Shown for the first time: fit once the browser has laid the view out. Nothing else needs a render.
    if (!next.hidden && this.props.hidden && !this.fitted) setTimeout(this.fit, 0);
    return next.graph !== this.props.graph;
  }

  override componentDidMount(): void {
    this.collect();
    this.unsubscribe = this.props.live.subscribe(() => this.applyLive());
    this.svg.current?.addEventListener('wheel', this.onWheel, { passive: false });
    if (!this.props.hidden) this.fit();
  }

  override componentDidUpdate(prev: Props): void {
    if (prev.graph !== this.props.graph) this.collect();
    if (!this.fitted && !this.props.hidden) this.fit();
  }

  override componentWillUnmount(): void {
    this.unsubscribe?.();
    this.svg.current?.removeEventListener('wheel', this.onWheel);
  }

  /** The elements a telemetry tick updates, found once per render of a mesh. */
  private collect(): void {
    const svg = this.svg.current;
    if (!svg || !this.layout) return;
    const index = this.props.live.index;
    this.slots = [];
    for (const el of svg.querySelectorAll('g.node, g.edge')) {
      const id = el.getAttribute('data-id')!;
      if (el.classList.contains('node')) {
        const node = this.layout.nodes.get(id)?.node;
        if (!node) continue;
        const glyph = el.querySelector('.glyph')?.firstChild as Text | undefined;
        this.slots.push({ el, node, trafficNodes: node.trafficNodes, glyph, key: liveKey(liveOf(node.trafficNodes, index)) });
      } else {
        const placed = this.edges.get(id);
        if (!placed) continue;
        const to = this.layout.nodes.get(placed.edge.to)!.node;
        this.slots.push({
          el,
          edge: placed.edge,
          trafficNodes: to.trafficNodes,
          text: el.querySelector('.live')?.firstChild as Text | undefined,
          glyph: el.querySelector('.glyph')?.firstChild as Text | undefined,
          key: liveKey(liveOf(to.trafficNodes, index)),
        });
      }
    }
  }

  /** Writes the live numbers that changed since the last tick into the DOM. */
  private applyLive(): void {
    if (!this.layout) return;
    const index = this.props.live.index;
    const cache = new Map<readonly string[], Live>();
    const nodes = this.layout.nodes;
    for (const slot of this.slots) {
      let live = cache.get(slot.trafficNodes);
      if (!live) {
        live = liveOf(slot.trafficNodes, index);
        cache.set(slot.trafficNodes, live);
      }
      const key = liveKey(live);
      if (key === slot.key) continue;
      slot.key = key;
      const el = slot.el;
      if (slot.node) {
        el.setAttribute('class', `node k-${slot.node.kind} h-${live.health}`);
        el.setAttribute('aria-label', nodeLabel(slot.node, live));
        if (slot.glyph) slot.glyph.data = GLYPH[live.health];
      } else if (slot.edge) {
        el.setAttribute('class', `edge e-${slot.edge.kind} h-${live.health}`);
        el.setAttribute('data-rps', rpsAttr(live));
        el.setAttribute('data-health', live.health);
        el.setAttribute('aria-label', edgeLabel(slot.edge, nodes, live));
        if (slot.text) slot.text.data = liveText(live);
        if (slot.glyph) slot.glyph.data = `${GLYPH[live.health]} ${live.health}`;
      }
    }
  }

  private apply(): void {
    this.viewport.current?.setAttribute('transform', `translate(${r2(this.tx)} ${r2(this.ty)}) scale(${r4(this.k)})`);
  }

  fit = (): void => {
    const svg = this.svg.current;
    if (!svg || !this.layout) return;
    const box = svg.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) return;
    this.fitted = true;
    const k = Math.max(MIN_K, Math.min(1, box.width / this.layout.width, box.height / this.layout.height));
    this.k = k;
    this.tx = (box.width - this.layout.width * k) / 2;
    this.ty = Math.max(0, (box.height - this.layout.height * k) / 2);
    this.apply();
  };

  private zoomAt(factor: number, cx: number, cy: number): void {
    const k = Math.max(MIN_K, Math.min(MAX_K, this.k * factor));
    this.tx = cx - ((cx - this.tx) * k) / this.k;
    this.ty = cy - ((cy - this.ty) * k) / this.k;
    this.k = k;
    this.apply();
  }

  private zoomCentre(factor: number): void {
    const box = this.svg.current?.getBoundingClientRect();
    if (box) this.zoomAt(factor, box.width / 2, box.height / 2);
  }

  private onWheel = (e: WheelEvent): void => {
    e.preventDefault();
    const box = this.svg.current!.getBoundingClientRect();
    this.zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX - box.left, e.clientY - box.top);
  };

  private onPointerDown = (e: PointerEvent): void => {
    if (e.button !== 0) return;
    this.drag = { x: e.clientX, y: e.clientY, tx: this.tx, ty: this.ty, moved: false };
  };

  private onPointerMove = (e: PointerEvent): void => {
    const d = this.drag;
    if (!d || (e.buttons & 1) === 0) return;
    const dx = e.clientX - d.x;
    const dy = e.clientY - d.y;
    if (!d.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    if (!d.moved) this.svg.current?.setPointerCapture(e.pointerId);
    d.moved = true;
    this.tx = d.tx + dx;
    this.ty = d.ty + dy;
    this.apply();
  };

  private onPointerUp = (e: PointerEvent): void => {
    if (this.drag?.moved) this.svg.current?.releasePointerCapture(e.pointerId);
    // A drag's click (if any) arrives after this: leave `moved` for onClick to see, once.
    setTimeout(() => (this.drag = undefined), 0);
  };

  private target(e: Event): string | undefined {
    const el = (e.target as Element | null)?.closest?.('g.node, g.edge');
    return el?.getAttribute('data-id') ?? undefined;
  }

  private onClick = (e: MouseEvent): void => {
    if (this.drag?.moved) return;
    const id = this.target(e);
    if (id) this.open(id);
  };

  private onKeyDown = (e: KeyboardEvent): void => {
    const id = this.target(e);
    if (id && (e.key === 'Enter' || e.key === ' ')) {
      e.preventDefault();
      this.open(id);
    }
  };

  private open(id: string): void {
    const edge = this.edges.get(id);
    this.props.onOpen(edge ? (edge.edge.resource ?? edge.edge.from) : id);
  }

  /** Brings a focused element into view (zooming in to a readable size first when the whole mesh is shown). */
  private onFocusIn = (e: FocusEvent): void => {
    const id = this.target(e);
    const svg = this.svg.current;
    if (!id || !svg || !this.layout) return;
    const node = this.layout.nodes.get(id);
    const edge = this.edges.get(id);
    const x = node ? node.x + NODE_W / 2 : edge?.labelX;
    const y = node ? node.y + NODE_H / 2 : edge?.labelY;
    if (x === undefined || y === undefined) return;
    const box = svg.getBoundingClientRect();
    const sx = x * this.k + this.tx;
    const sy = y * this.k + this.ty;
    const inside = sx > 40 && sy > 20 && sx < box.width - 40 && sy < box.height - 20;
    if (inside && this.k >= 0.5) return;
    this.k = Math.max(this.k, 0.8);
    this.tx = box.width / 2 - x * this.k;
    this.ty = box.height / 2 - y * this.k;
    this.apply();
  };

  private onToolKey = (e: KeyboardEvent): void => {
    if (e.key === '+' || e.key === '=') this.zoomCentre(1.25);
    else if (e.key === '-') this.zoomCentre(0.8);
    else if (e.key === '0') this.fit();
    else return;
    e.preventDefault();
  };

  override render() {
    const { graph, live } = this.props;
    if (this.laidOut !== graph) {
      this.layout = layout(graph);
      this.laidOut = graph;
      this.edges = new Map(this.layout.order.flatMap((o) => o.edges.map((p) => [p.edge.id, p] as const)));
    }
    const { order, nodes } = this.layout!;
    const index = live.index;
    const items = [];
    for (const { node, edges } of order) {
      items.push(<NodeView key={node.node.id} placed={node} live={liveOf(node.node.trafficNodes, index)} />);
      for (const p of edges) {
        const to = nodes.get(p.edge.to)!.node;
        items.push(<EdgeView key={p.edge.id} placed={p} nodes={nodes} live={liveOf(to.trafficNodes, index)} />);
      }
    }
    return (
      <div class="graph" data-testid="graph" onKeyDown={this.onToolKey}>
        <div class="graph-tools" role="toolbar" aria-label="Graph view">
          <button type="button" onClick={() => this.zoomCentre(1.25)} aria-label="Zoom in" title="Zoom in (+)">
            +
          </button>
          <button type="button" onClick={() => this.zoomCentre(0.8)} aria-label="Zoom out" title="Zoom out (-)">
            −
          </button>
          <button type="button" onClick={this.fit} title="Fit the whole mesh (0)">
            Fit
          </button>
          <span class="legend" aria-hidden="true">
            <span class="h-healthy">✓ healthy</span> <span class="h-degraded">! degraded</span>{' '}
            <span class="h-failing">✗ failing</span> <span class="h-idle">– idle</span>
          </span>
          <span class="count">
            {graph.nodes.length} elements, {graph.edges.length} edges
          </span>
        </div>
        {graph.nodes.length === 0 ? (
          <p class="empty">No mesh is served yet (see Problems).</p>
        ) : (
          <svg
            ref={this.svg}
            role="group"
            aria-label={`Mesh graph: ${graph.nodes.length} elements and ${graph.edges.length} edges; Tab moves through them, Enter shows details`}
            onPointerDown={this.onPointerDown}
            onPointerMove={this.onPointerMove}
            onPointerUp={this.onPointerUp}
            onClick={this.onClick}
            onKeyDown={this.onKeyDown}
            onFocusIn={this.onFocusIn}
          >
            <g ref={this.viewport}>{items}</g>
          </svg>
        )}
      </div>
    );
  }
}

const r2 = (n: number) => Math.round(n * 100) / 100;
const r4 = (n: number) => Math.round(n * 10000) / 10000;
const liveKey = (l: Live) => `${l.health}|${liveText(l)}|${rpsAttr(l)}`;

function NodeView({ placed, live }: { placed: PlacedNode; live: Live }) {
  const n = placed.node;
  return (
    <g
      class={`node k-${n.kind} h-${live.health}`}
      data-id={n.id}
      data-kind={n.kind}
      tabIndex={0}
      role="button"
      aria-label={nodeLabel(n, live)}
      transform={`translate(${placed.x} ${placed.y})`}
    >
      <rect width={NODE_W} height={NODE_H} rx={6} />
      <text x={10} y={15} class="kind">
        {KIND_WORDS[n.kind] ?? n.kind}
      </text>
      <text x={10} y={32} class="name">
        {shortName(n.name)}
      </text>
      <text x={NODE_W - 10} y={27} class="glyph" text-anchor="end">
        {GLYPH[live.health]}
      </text>
    </g>
  );
}

function EdgeView({ placed, nodes, live }: { placed: PlacedEdge; nodes: Map<string, PlacedNode>; live: Live }) {
  const e = placed.edge;
  const w = weightText(e);
  const l = live ?? IDLE;
  return (
    <g
      class={`edge e-${e.kind} h-${l.health}`}
      data-id={e.id}
      data-from={e.from}
      data-to={e.to}
      data-kind={e.kind}
      data-weight={e.kind === 'route-target' && e.weight !== undefined ? String(e.weight) : undefined}
      data-rps={rpsAttr(l)}
      data-health={l.health}
      tabIndex={0}
      role="button"
      aria-label={edgeLabel(e, nodes, l)}
    >
      <path d={placed.d} class="line" />
      <text x={placed.labelX} y={placed.labelY} class="label" text-anchor="middle">
        {w ? <tspan class="weight">{`${w} · `}</tspan> : null}
        <tspan class="live">{liveText(l)}</tspan> <tspan class="glyph">{`${GLYPH[l.health]} ${l.health}`}</tspan>
      </text>
    </g>
  );
}
