/**
 * What sidecar injection needs to know about the mesh and the images, checked once: the webhook
 * and `crossmesh inject` build these from flags and then inject any number of pods with them, so
 * a bad value fails at start-up with the flag's name, not per pod.
 */
import { parseAddress } from '../translate/bootstrap.js';

/** Settings of sidecar injection (the same for every pod of one cluster). */
export interface InjectOptions {
  /** crossmesh `Cluster` the pods belong to: the first part of their node id `<cluster>/<namespace>/<pod>`. */
  readonly cluster: string;
  /** crossmesh's xDS address as pods reach it (`host:port`), e.g. `crossmesh.crossmesh-system.svc:18000`. */
  readonly xdsAddress: string;
  /** Name the xDS server certificate is checked against (`crossmesh.<namespace>.svc`). */
  readonly xdsServerName: string;
  /** The mesh trust bundle (PEM): the agent verifies crossmesh with it before it has fetched its own copy. */
  readonly rootCaPem: string;
  /** Envoy image of the sidecar container. */
  readonly proxyImage: string;
  /** crossmesh image (with iptables) of the capture init container and the certificate agent. */
  readonly crossmeshImage: string;
  /** Lifetime requested for the projected service-account token (600 s minimum, as the API server enforces). */
  readonly tokenExpirationSeconds: number;
  /** ADS flavour of the sidecar (default sotw). */
  readonly adsApi?: 'sotw' | 'delta';
}

/** Defaults for the flags of `serve --inject-*` and `crossmesh inject`. */
export const INJECT_DEFAULTS = {
  proxyImage: 'envoyproxy/envoy:v1.40.0',
  crossmeshImage: 'crossmesh:latest',
  tokenExpirationSeconds: 3600,
} as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** An image reference: no whitespace, no shell or `$(` expansion characters. */
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/;

/** Checks every option and returns them; each error names the flag (`what`) the value came from. */
export function checkInjectOptions(o: InjectOptions, flagOf: (field: keyof InjectOptions) => string = (f) => f): InjectOptions {
  if (!DNS_LABEL.test(o.cluster) || o.cluster.length > 63) throw new Error(`${flagOf('cluster')}: cluster name "${o.cluster}" must be a lowercase DNS label (the first part of every injected node id)`);
  let xds;
  try {
    xds = parseAddress(o.xdsAddress);
  } catch (e) {
    throw new Error(`${flagOf('xdsAddress')}: ${(e as Error).message}`);
  }
  if (xds.kind !== 'tcp') throw new Error(`${flagOf('xdsAddress')}: pods reach crossmesh over the network; give host:port, got "${o.xdsAddress}"`);
  if (!/^[a-z0-9.-]+$/.test(o.xdsServerName)) throw new Error(`${flagOf('xdsServerName')}: "${o.xdsServerName}" is not a DNS name`);
  if (!o.rootCaPem.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`${flagOf('rootCaPem')}: no PEM certificate in the mesh root bundle`);
  for (const f of ['proxyImage', 'crossmeshImage'] as const) {
    if (!IMAGE.test(o[f])) throw new Error(`${flagOf(f)}: "${o[f]}" is not an image reference`);
  }
  const ttl = o.tokenExpirationSeconds;
  if (!Number.isInteger(ttl) || ttl < 600 || ttl > 86_400) throw new Error(`${flagOf('tokenExpirationSeconds')}: token lifetime must be 600-86400 seconds (the API server refuses less than 600), got ${String(ttl)}`);
  if (o.adsApi !== undefined && o.adsApi !== 'sotw' && o.adsApi !== 'delta') throw new Error(`${flagOf('adsApi')}: must be sotw or delta, got "${String(o.adsApi)}"`);
  return o;
}
