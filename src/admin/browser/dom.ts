/**
 * A tiny virtual DOM: plain data built by `h`, turned into nodes only by `mount`. Render functions
 * stay pure (testable without a browser), and `mount` is the one place data meets the DOM.
 *
 * Safety rules the tests check: data only ever becomes DOM text (`createTextNode`) or the value of
 * an allow-listed attribute (`setAttribute`); no HTML parsing sinks.
 */

/** A virtual element; children are elements or text. */
export interface VNode {
  readonly tag: string;
  readonly attrs: Attrs;
  readonly children: readonly Child[];
}
export type Child = VNode | string;
export type Attrs = Readonly<Record<string, string | number | null | undefined>>;
/** What `h` accepts as children: nested arrays, numbers, and nothing (null, undefined, false). */
export type ChildArg = Child | number | null | undefined | false | readonly ChildArg[];

/** The part of `Document` that `mount` uses (tests pass a minimal one). */
export interface DocumentLike {
  createElement(tag: string): ElementLike;
  createElementNS(ns: string, tag: string): ElementLike;
  createTextNode(data: string): unknown;
}
export interface ElementLike {
  setAttribute(name: string, value: string): void;
  appendChild(child: unknown): unknown;
}

export const SVG_NS = 'http://www.w3.org/2000/svg';

// Event handler attributes (on*) and style are never here: the CSP forbids inline code and style anyway.
const ALLOWED_ATTRS: ReadonlySet<string> = new Set([
  'class', 'href', 'title', 'colspan', 'id', 'type', 'checked', 'tabindex', 'role', 'aria-label', 'aria-pressed',
  'data-node', 'data-edge-kind', 'data-policy', 'data-state', 'data-service', 'data-cluster',
  // SVG geometry and presentation.
  'viewBox', 'width', 'height', 'x', 'y', 'x1', 'y1', 'x2', 'y2', 'cx', 'cy', 'r', 'rx', 'ry', 'd', 'points',
  'transform', 'text-anchor', 'dominant-baseline', 'preserveAspectRatio',
]);

/** Builds a virtual element; null/undefined/false children are dropped, arrays flattened, numbers become text. */
export function h(tag: string, attrs?: Attrs | null, ...children: ChildArg[]): VNode {
  const out: Child[] = [];
  for (const c of children) pushChild(out, c);
  return { tag, attrs: attrs ?? {}, children: out };
}

function pushChild(out: Child[], c: ChildArg): void {
  if (c === null || c === undefined || c === false) return;
  if (Array.isArray(c)) {
    for (const x of c as readonly ChildArg[]) pushChild(out, x);
    return;
  }
  out.push(typeof c === 'object' ? (c as VNode) : String(c));
}

/**
 * Real nodes for a virtual tree. Strings become text nodes, so markup in node ids or errors shows
 * as text, never as HTML; `svg` and everything inside it are created in the SVG namespace.
 */
export function mount<N>(doc: DocumentLike, v: Child, inSvg = false): N {
  if (typeof v === 'string') return doc.createTextNode(v) as N;
  const svg = inSvg || v.tag === 'svg';
  const el = svg ? doc.createElementNS(SVG_NS, v.tag) : doc.createElement(v.tag);
  for (const k of Object.keys(v.attrs)) {
    if (!ALLOWED_ATTRS.has(k)) continue;
    const raw = v.attrs[k];
    if (raw === null || raw === undefined) continue;
    const value = String(raw);
    // Links stay on this origin: a path, never a scheme or a protocol-relative URL.
    if (k === 'href' && !/^\/(?![/\\])/.test(value)) continue;
    el.setAttribute(k, value);
  }
  for (const c of v.children) el.appendChild(mount<unknown>(doc, c, svg && v.tag !== 'foreignObject'));
  return el as N;
}
