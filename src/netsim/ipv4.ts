/** IPv4 subnet arithmetic for the simulation's plain spec: parsing `10.1.0.0/24`, picking hosts in it, membership. */

export interface Subnet {
  /** Network address as an unsigned 32-bit number. */
  readonly base: number;
  readonly prefixLength: number;
  /** The text it was parsed from. */
  readonly text: string;
}

/** Parses a dotted IPv4 address to an unsigned number, or throws naming it. */
export function parseAddress(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

/** Formats an unsigned number as a dotted IPv4 address. */
export function formatAddress(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** Parses `a.b.c.d/len` (len 8..30), or throws naming it. */
export function parseSubnet(text: string): Subnet {
  const m = /^([\d.]+)\/(\d+)$/.exec(text);
  const len = Number(m?.[2]);
  if (!m || len < 8 || len > 30) throw new Error(`not an IPv4 subnet with prefix length 8-30: ${JSON.stringify(text)}`);
  const size = 2 ** (32 - len);
  const base = parseAddress(m[1]!);
  if (base % size !== 0) throw new Error(`subnet ${text} has host bits set`);
  return { base, prefixLength: len, text };
}

/** True if `address` is a usable host address of `subnet` (not the network or broadcast address). */
export function isHostIn(subnet: Subnet, address: string): boolean {
  const n = parseAddress(address);
  return n > subnet.base && n < subnet.base + 2 ** (32 - subnet.prefixLength) - 1;
}

/** The `index`-th host of a subnet, counting from 1 (negative: from the top, -1 = last usable). */
export function hostAt(subnet: Subnet, index: number): string {
  const size = 2 ** (32 - subnet.prefixLength);
  const n = index > 0 ? subnet.base + index : subnet.base + size - 1 + index;
  const address = formatAddress(n);
  if (!isHostIn(subnet, address)) throw new Error(`host ${index} is outside ${subnet.text}`);
  return address;
}

/** `address/len` for an address in `subnet`. */
export function cidrIn(subnet: Subnet, address: string): string {
  return `${address}/${subnet.prefixLength}`;
}
