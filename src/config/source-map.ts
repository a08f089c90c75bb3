/**
 * Finds the line of a path inside a parsed YAML document, so every error points at the node
 * that is wrong (or the closest node that exists: the parent of a missing field).
 */
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml';

/** A document and the line counter of its file, kept only while a load runs. */
export interface DocSource {
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
  /** 1-based line where the document starts. */
  readonly line: number;
}

/** Scalar key → pair of a mapping, built once per mapping: a search per lookup made many errors in one big mapping quadratic. */
const keyIndexes = new WeakMap<YAMLMap, Map<string, Pair>>();

function keyIndex(map: YAMLMap): Map<string, Pair> {
  let index = keyIndexes.get(map);
  if (!index) {
    index = new Map();
    for (const p of map.items) {
      const k = isScalar(p.key) ? String(p.key.value) : undefined;
      // The first occurrence wins, as the linear search did.
      if (k !== undefined && !index.has(k)) index.set(k, p as Pair);
    }
    keyIndexes.set(map, index);
  }
  return index;
}

/**
 * 1-based line of `path` in the document. With `keyOf`, the line of that key inside the mapping at
 * `path` (where an unknown field is written).
 */
export function lineOf(src: DocSource, path: readonly PropertyKey[], keyOf?: string): number {
  let node: unknown = src.doc.contents;
  let best: Node | undefined = node as Node | undefined;
  const walk = keyOf === undefined ? path : [...path, keyOf];
  for (const seg of walk) {
    if (isMap(node)) {
      const pair = keyIndex(node).get(String(seg));
      if (!pair) break;
      // A field is reported at its key: the line where it is written (a missing field: its parent's key).
      best = pair.key as Node;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!item) break;
      best = item as Node;
      node = item;
    } else break;
  }
  const offset = best?.range?.[0];
  return offset === undefined ? src.line : src.lines.linePos(offset).line;
}
