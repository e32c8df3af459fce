// The mesh graph in plain SVG: laid out by layout.ts, rendered by Preact once per mesh (the component updates
// only when /v1/mesh changes), and kept live by writing the numbers that changed straight into the elements'
// text nodes and attributes on every telemetry event, so that a tick costs what changed, not 10,000 elements.
import { Component, createRef } from 'preact';
import type { MeshEdge, MeshGraph, MeshNode } from './types';
import { layout, NODE_H, NODE_W, type Layout, type PlacedEdge, type PlacedNode } from './layout';
import { GLYPH, liveOf, liveText, rpsAttr, type Live } from './live';
import type { LiveStore } from './store';
import { measureSince } from './perf';

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

/**
 * Accessible names start with the element's visible text (kind, name, glyph and health word; an edge's weight and
 * numbers), so that speech input users can say what they see, and then say the rest in words.
 */
function nodeLabel(n: MeshNode, live: Live): string {
  const name = shortName(n.name);
  const traffic = live.requests > 0 ? `, ${liveText(live)}` : '';
  const full = name === n.name ? '' : `, full name ${n.name}`;
  return `${KIND_WORDS[n.kind] ?? n.kind} ${name} ${GLYPH[live.health]} ${live.health}${full}, mesh ${n.mesh}${traffic}`;
}

function edgeLabel(e: MeshEdge, nodes: Map<string, PlacedNode>, live: Live): string {
  const w = weightText(e);
  return (
    `${w ? `${w} · ` : ''}${liveText(live)} ${GLYPH[live.health]} ${live.health}: ` +
    `${EDGE_WORDS[e.kind] ?? e.kind} from ${nameOf(e.from, nodes)} to ${nameOf(e.to, nodes)}${w ? `, weight ${w}` : ''}`
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

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ESC[c]!);

/** A node or an edge, with its bounding box in graph coordinates (edges: the curve's hull and the label). */
interface Item {
  id: string;
  node?: PlacedNode;
  edge?: PlacedEdge;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

const LABEL_HALF_WIDTH = 160;

/** Every element in reading order: each node followed by its outgoing edges, which is also the Tab order. */
function itemsOf(l: Layout): Item[] {
  const items: Item[] = [];
  for (const { node: p, edges } of l.order) {
    items.push({ id: p.node.id, node: p, x0: p.x, y0: p.y, x1: p.x + NODE_W, y1: p.y + NODE_H });
    for (const pe of edges) {
      const nums = pe.d.match(/-?[\d.]+/g)!.map(Number);
      const xs = nums.filter((_, i) => i % 2 === 0);
      const ys = nums.filter((_, i) => i % 2 === 1);
      items.push({
        id: pe.edge.id,
        edge: pe,
        x0: Math.min(...xs, pe.labelX - LABEL_HALF_WIDTH),
        y0: Math.min(...ys, pe.labelY - 14),
        x1: Math.max(...xs, pe.labelX + LABEL_HALF_WIDTH),
        y1: Math.max(...ys, pe.labelY + 4),
      });
    }
  }
  return items;
}

/**
 * An element's SVG, as markup: the browser's parser builds thousands of elements several times faster than a
 * virtual DOM does, and nothing here is rendered again before the mesh changes or the view moves far (telemetry
 * goes straight to the text nodes, applyLive). `text` false leaves the labels out (a view too far out to read).
 */
function markup(item: Item, l: Layout, live: (trafficNodes: readonly string[]) => Live, text: boolean): string {
  if (item.node) {
    const p = item.node;
    const n = p.node;
    const nl = live(n.trafficNodes);
    return (
      `<g class="node k-${esc(n.kind)} h-${nl.health}" data-id="${esc(n.id)}" data-kind="${esc(n.kind)}" ` +
      `tabindex="0" role="button" aria-label="${esc(nodeLabel(n, nl))}" transform="translate(${p.x} ${p.y})">` +
      `<rect width="${NODE_W}" height="${NODE_H}" rx="6"/>` +
      (text
        ? // One text, words apart, so that its text reads as the start of the accessible name.
          `<text><tspan x="10" y="15" class="kind">${esc(KIND_WORDS[n.kind] ?? n.kind)}</tspan> ` +
          `<tspan x="10" y="32" class="name">${esc(shortName(n.name))}</tspan> ` +
          `<tspan x="${NODE_W - 22}" y="27" class="glyph">${GLYPH[nl.health]}</tspan></text>`
        : '') +
      `</g>`
    );
  }
  const pe = item.edge!;
  const e = pe.edge;
  const el = live(l.nodes.get(e.to)!.node.trafficNodes);
  const w = weightText(e);
  const weight = e.kind === 'route-target' && e.weight !== undefined ? ` data-weight="${esc(String(e.weight))}"` : '';
  return (
    `<g class="edge e-${esc(e.kind)} h-${el.health}" data-id="${esc(e.id)}" data-from="${esc(e.from)}" ` +
    `data-to="${esc(e.to)}" data-kind="${esc(e.kind)}"${weight} data-rps="${rpsAttr(el)}" ` +
    `data-health="${el.health}" tabindex="0" role="button" aria-label="${esc(edgeLabel(e, l.nodes, el))}">` +
    `<path d="${pe.d}" class="line"/>` +
    (text
      ? `<text x="${pe.labelX}" y="${pe.labelY}" class="label" text-anchor="middle">` +
        `${w ? `<tspan class="weight">${w} · </tspan>` : ''}<tspan class="live">${esc(liveText(el))}</tspan> ` +
        `<tspan class="glyph">${GLYPH[el.health]} ${el.health}</tspan></text>`
      : '') +
    `</g>`
  );
}

const intersects = (a: Box, b: Box) => a.x0 <= b.x1 && b.x0 <= a.x1 && a.y0 <= b.y1 && b.y0 <= a.y1;
const contains = (outer: Box, inner: Box) =>
  outer.x0 <= inner.x0 && outer.y0 <= inner.y0 && outer.x1 >= inner.x1 && outer.y1 >= inner.y1;

/**
 * Above this many elements (nodes and edges), only those within half a screen of the view are in the DOM, rebuilt
 * when the view moves past them; Tab and Shift+Tab then move through all of them in order all the same (onKeyDown).
 */
const CULL_ABOVE = 1500;
const MIN_K = 0.002;
const FAR_BELOW = 0.35;
const MAX_K = 4;

export class Graph extends Component<Props> {
  private svg = createRef<SVGSVGElement>();
  private viewport = createRef<SVGGElement>();
  private layout: Layout | undefined;
  private items: Item[] = [];
  private itemIndex = new Map<string, number>();
  private region: Box | undefined;
  private regionFar = false;
  private rendered = new Map<string, Element>();
  private size = { width: 0, height: 0 };
  private resize: ResizeObserver | undefined;
  private laidOut: MeshGraph | undefined;
  /** Set by render when the new mesh had the drawn one's topology: the edges and nodes to patch in the DOM. */
  private patched: { edges: string[]; nodes: string[] } | undefined;
  /** By element id: the rendered element's slot (what applyLive and patch write to). */
  private slotById = new Map<string, Slot>();
  private edges = new Map<string, PlacedEdge>();
  /** By virtual node id: the elements whose numbers include its traffic. */
  private slots = new Map<string, Slot[]>();
  private seen: LiveStore['index'] = new Map();
  private k = 1;
  private tx = 0;
  private ty = 0;
  private fitted = false;
  private drag: { x: number; y: number; tx: number; ty: number; moved: boolean } | undefined;
  private unsubscribe: (() => void) | undefined;

  override shouldComponentUpdate(next: Props): boolean {
    // Shown for the first time: fit once the browser has laid the view out. Nothing else needs a render.
    if (!next.hidden && this.props.hidden && !this.fitted) setTimeout(() => this.fit(false), 0);
    return next.graph !== this.props.graph;
  }

  /**
   * The svg exists only while there is a mesh (the first render is often the empty one): its wheel listener (not
   * passive, so that the page does not scroll as well) and its size observer follow the element, not the component.
   */
  private setSvg = (el: SVGSVGElement | null): void => {
    const old = this.svg.current;
    if (old === el) return;
    if (old) {
      old.removeEventListener('wheel', this.onWheel);
      this.resize?.unobserve(old);
    }
    this.svg.current = el;
    if (el) {
      el.addEventListener('wheel', this.onWheel, { passive: false });
      this.resize ??= new ResizeObserver(() => {
        const svg = this.svg.current;
        if (!svg) return;
        this.size = { width: svg.clientWidth, height: svg.clientHeight };
        if (!this.fitted) this.fit(false);
        else this.renderRegion(false);
      });
      this.resize.observe(el);
    }
  };

  override componentDidMount(): void {
    this.draw();
    this.unsubscribe = this.props.live.subscribe(() => this.applyLive());
    if (!this.fitted && !this.props.hidden) this.fit(false);
  }

  override componentDidUpdate(prev: Props): void {
    if (prev.graph !== this.props.graph) {
      const patched = this.patched;
      this.patched = undefined;
      if (patched) this.patch(patched);
      else this.draw();
    }
    if (!this.fitted && !this.props.hidden) this.fit(false);
  }

  override componentWillUnmount(): void {
    this.unsubscribe?.();
    this.resize?.disconnect();
    this.svg.current?.removeEventListener('wheel', this.onWheel);
  }

  /** A new mesh: fitted while the view is still empty (measuring the SVG then costs nothing), then drawn. */
  private draw(): void {
    const viewport = this.viewport.current;
    if (!viewport || !this.layout) return;
    performance.mark('meshd:graph:draw:start');
    viewport.textContent = '';
    this.region = undefined;
    this.rendered = new Map();
    this.slots = new Map();
    this.slotById = new Map();
    this.svg.current?.setAttribute('data-update', 'layout');
    // The first mesh is fitted to the view; a later one (a reload, a rollout's step) keeps the user's pan and zoom.
    if (!this.fitted && !this.props.hidden) this.fit(false, false);
    else this.apply(false);
    this.renderRegion(true);
    performance.measure('meshd:graph:draw', 'meshd:graph:draw:start');
  }

  /** The view in graph coordinates. */
  private view(): Box | undefined {
    const { width, height } = this.size;
    if (!width || !height) return undefined;
    return {
      x0: -this.tx / this.k,
      y0: -this.ty / this.k,
      x1: (width - this.tx) / this.k,
      y1: (height - this.ty) / this.k,
    };
  }

  /**
   * Puts in the DOM the elements the view needs (all of them for a mesh of up to CULL_ABOVE elements), unless
   * those there already cover it; then finds the ones each virtual node's numbers change.
   */
  private renderRegion(force: boolean): void {
    const viewport = this.viewport.current;
    const layout = this.layout;
    if (!viewport || !layout) return;
    const cull = this.items.length > CULL_ABOVE;
    const far = this.k < FAR_BELOW;
    const view = this.view();
    if (!force && (!cull || !view || (this.region && contains(this.region, view) && this.regionFar === far))) return;
    let region: Box | undefined;
    if (cull && view) {
      const mx = (view.x1 - view.x0) / 2;
      const my = (view.y1 - view.y0) / 2;
      region = { x0: view.x0 - mx, y0: view.y0 - my, x1: view.x1 + mx, y1: view.y1 + my };
    }
    performance.mark('meshd:graph:region:start');
    const index = this.props.live.index;
    this.seen = index;
    const cache = new Map<readonly string[], Live>();
    const live = (t: readonly string[]) => {
      let l = cache.get(t);
      if (!l) cache.set(t, (l = liveOf(t, index)));
      return l;
    };
    const active = document.activeElement;
    const focused = active && viewport.contains(active) ? active.getAttribute('data-id') : null;
    // A large mesh in a hidden view (no size yet) waits until it is shown.
    const wanted = region ? this.items.filter((i) => intersects(i, region!)) : cull ? [] : this.items;
    const text = !(cull && far);
    viewport.innerHTML = wanted.map((i) => markup(i, layout, live, text)).join('');
    this.region = region;
    this.regionFar = far;
    this.slots = new Map();
    this.slotById = new Map();
    this.rendered = new Map();
    const watch = (slot: Slot) => {
      this.slotById.set(slot.edge?.id ?? slot.node!.id, slot);
      for (const vn of slot.trafficNodes) {
        const list = this.slots.get(vn);
        if (list) list.push(slot);
        else this.slots.set(vn, [slot]);
      }
    };
    let i = 0;
    for (const el of viewport.children) {
      const item = wanted[i++]!;
      this.rendered.set(item.id, el);
      if (item.node) {
        const node = item.node.node;
        const glyph = text ? (el.lastChild?.lastChild?.firstChild as Text | undefined) : undefined;
        watch({ el, node, trafficNodes: node.trafficNodes, glyph, key: liveKey(live(node.trafficNodes)) });
      } else {
        const edge = item.edge!.edge;
        const t = layout.nodes.get(edge.to)!.node.trafficNodes;
        const label = text ? (el.lastChild as Element) : undefined;
        watch({
          el,
          edge,
          trafficNodes: t,
          text: label?.querySelector('.live')?.firstChild as Text | undefined,
          glyph: label?.lastChild?.firstChild as Text | undefined,
          key: liveKey(live(t)),
        });
      }
    }
    if (focused) (this.rendered.get(focused) as SVGElement | undefined)?.focus({ preventScroll: true });
    performance.measure('meshd:graph:region', 'meshd:graph:region:start');
  }

  /**
   * A new mesh with the drawn one's topology (render checked, and updated the layout's model in place): the layout
   * and the drawn SVG stay; only the changed edges' weight (data-weight, the visible `N%`, the accessible name) are
   * written, and the slots of changed nodes and edges point at the new data. Elements outside the rendered region
   * are drawn from the (updated) model when the view reaches them.
   */
  private patch({ edges, nodes }: { edges: string[]; nodes: string[] }): void {
    const layout = this.layout;
    if (!layout) return;
    performance.mark('meshd:graph:patch:start');
    const index = this.seen;
    for (const id of nodes) {
      const slot = this.slotById.get(id);
      if (slot) slot.node = layout.nodes.get(id)!.node;
    }
    for (const id of edges) {
      const e = this.edges.get(id)!.edge;
      const slot = this.slotById.get(id);
      if (slot) slot.edge = e;
      const el = this.rendered.get(id);
      if (!el) continue;
      if (e.kind === 'route-target' && e.weight !== undefined) el.setAttribute('data-weight', String(e.weight));
      else el.removeAttribute('data-weight');
      const live = liveOf(layout.nodes.get(e.to)!.node.trafficNodes, index);
      el.setAttribute('aria-label', edgeLabel(e, layout.nodes, live));
      const label = el.querySelector('text.label');
      if (!label) continue;
      const w = weightText(e);
      let tspan = label.querySelector('tspan.weight');
      if (w && !tspan) {
        tspan = document.createElementNS('http://www.w3.org/2000/svg', 'tspan');
        tspan.setAttribute('class', 'weight');
        label.insertBefore(tspan, label.firstChild);
      }
      if (tspan && w) tspan.textContent = `${w} · `;
      else tspan?.remove();
    }
    this.svg.current?.setAttribute('data-update', 'patch');
    measureSince('meshd:graph:patch', 'meshd:graph:patch:start');
  }

  /**
   * Writes the live numbers that changed into the DOM: only the elements whose traffic includes a virtual node
   * whose numbers differ from the last telemetry's are looked at.
   */
  private applyLive(): void {
    if (!this.layout) return;
    const index = this.props.live.index;
    const before = this.seen;
    this.seen = index;
    const affected = new Set<Slot>();
    const changed = (vn: string) => {
      for (const slot of this.slots.get(vn) ?? []) affected.add(slot);
    };
    for (const [vn, s] of index) {
      const b = before.get(vn);
      if (!b || b.rps !== s.rps || b.requests !== s.requests || b.errors !== s.errors || b.p99 !== s.p99) changed(vn);
    }
    for (const vn of before.keys()) if (!index.has(vn)) changed(vn);
    const cache = new Map<readonly string[], Live>();
    const nodes = this.layout.nodes;
    for (const slot of affected) {
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

  /** Moves the view to the current pan and zoom, and (`render`) brings in the elements it needs. */
  private apply(render = true): void {
    this.viewport.current?.setAttribute('transform', `translate(${r2(this.tx)} ${r2(this.ty)}) scale(${r4(this.k)})`);
    // Below this scale the text would be under 4 pixels high: unreadable, and the most costly part to lay out and
    // paint, so it is hidden (display: none) until zoomed in; the elements and their text stay in the DOM.
    const svg = this.svg.current;
    if (svg && svg.classList.contains('far') !== this.k < FAR_BELOW) svg.classList.toggle('far', this.k < FAR_BELOW);
    if (render) this.renderRegion(false);
  }

  /** The whole mesh in view (`whole`), or, the first time, its width when the whole would be too small to read. */
  fit = (whole: unknown = true, render = true): void => {
    const svg = this.svg.current;
    if (!svg || !this.layout) return;
    const box = svg.getBoundingClientRect();
    this.size = { width: box.width, height: box.height };
    if (box.width === 0 || box.height === 0) return;
    this.fitted = true;
    const all = Math.max(MIN_K, Math.min(1, box.width / this.layout.width, box.height / this.layout.height));
    const k =
      whole === true || all >= FAR_BELOW ? all : Math.max(FAR_BELOW, Math.min(1, box.width / this.layout.width));
    this.k = k;
    this.tx = Math.max(0, (box.width - this.layout.width * k) / 2);
    this.ty = Math.max(0, (box.height - this.layout.height * k) / 2);
    this.apply(render);
  };

  private zoomAt(factor: number, cx: number, cy: number): void {
    const k = Math.max(MIN_K, Math.min(MAX_K, this.k * factor));
    this.tx = cx - ((cx - this.tx) * k) / this.k;
    this.ty = cy - ((cy - this.ty) * k) / this.k;
    this.k = k;
    this.apply();
  }

  private zoomCentre(factor: number): void {
    this.zoomAt(factor, this.size.width / 2, this.size.height / 2);
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
    if (id && e.key === 'Tab' && this.items.length > CULL_ABOVE) {
      // Not every element is in the DOM: move to the next one in order, bringing it (and its neighbours) in.
      const next = this.items[this.itemIndex.get(id)! + (e.shiftKey ? -1 : 1)];
      if (!next) return;
      e.preventDefault();
      this.reveal(next);
      (this.rendered.get(next.id) as SVGElement | undefined)?.focus({ preventScroll: true });
      return;
    }
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
    const i = id === undefined ? undefined : this.itemIndex.get(id);
    if (i !== undefined) this.reveal(this.items[i]!);
  };

  private reveal(item: Item): void {
    const x = (item.node ? item.x0 + NODE_W / 2 : item.edge!.labelX) * this.k + this.tx;
    const y = (item.node ? item.y0 + NODE_H / 2 : item.edge!.labelY) * this.k + this.ty;
    const { width, height } = this.size;
    const inside = x > 40 && y > 20 && x < width - 40 && y < height - 20;
    if (inside && this.k >= 0.5) return;
    const k = Math.max(this.k, 0.8);
    this.tx = width / 2 - ((x - this.tx) / this.k) * k;
    this.ty = height / 2 - ((y - this.ty) / this.k) * k;
    this.k = k;
    this.apply();
  }

  private onToolKey = (e: KeyboardEvent): void => {
    if (e.key === '+' || e.key === '=') this.zoomCentre(1.25);
    else if (e.key === '-') this.zoomCentre(0.8);
    else if (e.key === '0') this.fit();
    else return;
    e.preventDefault();
  };

  /**
   * When `graph` has the laid-out mesh's topology (the same nodes with the same traffic nodes, the same edges
   * between the same nodes), puts its nodes and edges into the layout's model in place of the old ones and returns
   * the ids of those whose data changed (`edges`: those whose weight or percent did); otherwise undefined. O(elements),
   * no sort: a route weight edit then costs no layout and no redraw.
   */
  private samePlaces(graph: MeshGraph): { edges: string[]; nodes: string[] } | undefined {
    const l = this.layout;
    const old = this.laidOut;
    if (!l || !old || graph.nodes.length !== old.nodes.length || graph.edges.length !== old.edges.length) return;
    if (graph.nodes.length === 0) return;
    for (const n of graph.nodes) {
      const p = l.nodes.get(n.id);
      if (!p || p.node.kind !== n.kind || !sameList(p.node.trafficNodes, n.trafficNodes)) return;
    }
    for (const e of graph.edges) {
      const p = this.edges.get(e.id);
      if (!p || p.edge.from !== e.from || p.edge.to !== e.to || p.edge.kind !== e.kind) return;
    }
    // The same topology: adopt the new data (the renderer draws from these objects).
    const edges: string[] = [];
    const nodes: string[] = [];
    for (const n of graph.nodes) {
      const p = l.nodes.get(n.id)!;
      const was = p.node;
      if (n.name !== was.name || n.mesh !== was.mesh || n.source !== was.source) nodes.push(n.id);
      else if (n.origin !== was.origin || n.nodeId !== was.nodeId) nodes.push(n.id);
      // The traffic node list stays the old array: slots and live caches are keyed by it.
      p.node = { ...n, trafficNodes: was.trafficNodes };
    }
    for (const e of graph.edges) {
      const p = this.edges.get(e.id)!;
      if (p.edge.weight !== e.weight || p.edge.percent !== e.percent) edges.push(e.id);
      p.edge = e;
    }
    return { edges, nodes };
  }

  override render() {
    const { graph } = this.props;
    const same = this.laidOut !== graph && IN_PLACE ? this.samePlaces(graph) : undefined;
    if (same) {
      this.patched = same;
      this.laidOut = graph;
    } else if (this.laidOut !== graph) {
      this.patched = undefined;
      performance.mark('meshd:graph:layout:start');
      this.layout = layout(graph);
      performance.measure('meshd:graph:layout', 'meshd:graph:layout:start');
      this.laidOut = graph;
      this.edges = new Map(this.layout.order.flatMap((o) => o.edges.map((p) => [p.edge.id, p] as const)));
      this.items = itemsOf(this.layout);
      this.itemIndex = new Map(this.items.map((item, i) => [item.id, i]));
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
          <button type="button" onClick={() => this.fit()} title="Fit the whole mesh (0)">
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
            ref={this.setSvg}
            role="group"
            aria-label={`Mesh graph: ${graph.nodes.length} elements and ${graph.edges.length} edges; Tab moves through them, Enter shows details`}
            onPointerDown={this.onPointerDown}
            onPointerMove={this.onPointerMove}
            onPointerUp={this.onPointerUp}
            onClick={this.onClick}
            onKeyDown={this.onKeyDown}
            onFocusIn={this.onFocusIn}
          >
            <g ref={this.viewport} />
          </svg>
        )}
      </div>
    );
  }
}

/** Patch a mesh with an unchanged topology in place (false: lay out and redraw every mesh, as a check). */
const IN_PLACE = true;

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

const r2 = (n: number) => Math.round(n * 100) / 100;
const r4 = (n: number) => Math.round(n * 10000) / 10000;
const liveKey = (l: Live) => `${l.health}|${liveText(l)}|${rpsAttr(l)}`;
