/**
 * Shared parts: frozen sub-objects that many resources hold (an endpoint in every placement's
 * assignment, a locality group in many assignments). A shared part carries a hidden memo slot in
 * which the guard and the encoder keep what they derived from it (its violations, its bytes), so
 * each is checked and encoded once and found again by a property read on the object itself, not
 * by a lookup in a table of hundreds of thousands of entries.
 */

/** Key of the memo slot (non-enumerable: spreads, JSON and `Object.keys` never see it). */
export const PART_MEMO = Symbol('crossmesh.sharedPart');

/** What consumers keep about a shared part; each stage owns its fields. */
export interface PartMemo {
  /** The type the guard checked it as, and the result (opaque here). */
  checkedAs?: unknown;
  check?: unknown;
  /** The type the encoder encoded it as, and its bytes. */
  encodedAs?: unknown;
  bytes?: Uint8Array;
  /** A whole resource: the encoder's result and the guard's judgement of it (opaque here). */
  resource?: unknown;
  judged?: unknown;
}

const SLOT: PropertyDescriptor = { value: undefined, enumerable: false, writable: false, configurable: false };

/** Freezes `o` as a shared part with an empty memo slot; returns it. */
export function sharedPart<T extends object>(o: T): T {
  const memo: PartMemo = { checkedAs: undefined, check: undefined, encodedAs: undefined, bytes: undefined, resource: undefined, judged: undefined };
  SLOT.value = memo;
  Object.defineProperty(o, PART_MEMO, SLOT);
  SLOT.value = undefined;
  return Object.freeze(o);
}

/** The memo slot of a shared part, or undefined for any other object. */
export function partMemo(o: object): PartMemo | undefined {
  return (o as { [PART_MEMO]?: PartMemo })[PART_MEMO];
}
