/**
 * SDS secrets and the TLS contexts that reference them, as plain objects in the keepCase
 * protobuf JSON shape of Envoy v3 (packed later with `messageType(...).fromObject`).
 *
 * - Secret `default`: the proxy's own certificate chain and private key. Only this secret ever
 *   carries key material, and it is served only to the proxy that owns the identity.
 * - Secret `ROOTCA`: the trust bundle (one or, during a root rotation, two roots).
 * - Upstream contexts verify the server's SPIFFE ID (secure naming); downstream contexts
 *   require a client certificate. Both fetch `default` and `ROOTCA` over ADS.
 *
 * Pure: no I/O, no clock; the same input gives the same object.
 */

/** Name of the secret holding a proxy's own certificate chain and key (Istio's convention). */
export const DEFAULT_SECRET = 'default';
/** Name of the secret holding the trust bundle. */
export const ROOTCA_SECRET = 'ROOTCA';

const TLS_PKG = 'envoy.extensions.transport_sockets.tls.v3';
/** Type URL of SDS resources. */
export const SECRET_TYPE_URL = `type.googleapis.com/${TLS_PKG}.Secret`;
/** Type URL of an UpstreamTlsContext inside a transport socket's typed_config. */
export const UPSTREAM_TLS_CONTEXT_TYPE_URL = `type.googleapis.com/${TLS_PKG}.UpstreamTlsContext`;
/** Type URL of a DownstreamTlsContext inside a transport socket's typed_config. */
export const DOWNSTREAM_TLS_CONTEXT_TYPE_URL = `type.googleapis.com/${TLS_PKG}.DownstreamTlsContext`;
/** Envoy's name for the TLS transport socket. */
export const TLS_TRANSPORT_SOCKET = 'envoy.transport_sockets.tls';

/** A proxy's own certificate material: PEM chain (leaf first) and PEM private key. */
export interface CertificateMaterial {
  readonly certificateChainPem: string;
  readonly privateKey: string;
}

/** Options of an upstream (client side) TLS context. */
export interface UpstreamTlsOptions {
  /** SNI to send; required on cross-network hops (the east-west gateway routes on it). */
  readonly sni?: string;
  /** SPIFFE IDs the server may present; at least one (an empty list would accept any mesh identity). */
  readonly expectedSpiffeIds: readonly string[];
  /** ALPN protocols to offer, e.g. ['h2'] for gRPC/HTTP2 upstreams. */
  readonly alpn?: readonly string[];
}

/** Options of a downstream (server side) TLS context. */
export interface DownstreamTlsOptions {
  readonly alpn?: readonly string[];
}

/** An `envoy.config.core.v3.TransportSocket` carrying a TLS context. */
export interface TlsTransportSocket {
  readonly name: typeof TLS_TRANSPORT_SOCKET;
  readonly typed_config: Record<string, unknown> & { readonly '@type': string };
}

/** Prefix of the SDS secrets holding Ingress Gateways' serving certificates. */
export const INGRESS_TLS_SECRET_PREFIX = 'ingress-tls~';

/** Name of the SDS secret holding an Ingress Gateway's TLS certificate and key: `ingress-tls~<ns>~<name>`. */
export function ingressTlsSecretName(namespace: string, name: string): string {
  return `${INGRESS_TLS_SECRET_PREFIX}${namespace}~${name}`;
}

/** Whether `name` has the shape of an Ingress Gateway's secret (`ingress-tls~<ns>~<name>`). */
export function isIngressTlsSecretName(name: string): boolean {
  return /^ingress-tls~[^~]+~[^~]+$/.test(name);
}

/** An SdsSecretConfig fetching secret `name` over ADS. */
export function sdsSecretConfig(name: string): Record<string, unknown> {
  return { name, sds_config: { ads: {}, resource_api_version: 'V3' } };
}

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) deepFreeze(v);
  return Object.freeze(o);
}

// Every TLS context references the same two secrets: frozen, so they are checked and encoded once.
const DEFAULT_SDS = deepFreeze(sdsSecretConfig(DEFAULT_SECRET));
const ROOTCA_SDS = deepFreeze(sdsSecretConfig(ROOTCA_SECRET));

// Envoy's client default is already TLS 1.2, its server default is TLS 1.0: pin both to 1.2+.
const TLS_PARAMS = Object.freeze({ tls_minimum_protocol_version: 'TLSv1_2' });

function alpnField(alpn: readonly string[] | undefined): Record<string, unknown> {
  return alpn && alpn.length > 0 ? { alpn_protocols: [...alpn] } : {};
}

function pemBytes(pem: string, what: string): Buffer {
  if (!pem.includes('-----BEGIN ')) throw new Error(`${what} is not PEM`);
  return Buffer.from(pem, 'utf8');
}

/** Secret `default` (or `name`): the proxy's certificate chain and private key. */
export function tlsCertificateSecret(material: CertificateMaterial, name: string = DEFAULT_SECRET): Record<string, unknown> {
  return {
    name,
    tls_certificate: {
      certificate_chain: { inline_bytes: pemBytes(material.certificateChainPem, `secret ${name}: certificate chain`) },
      private_key: { inline_bytes: pemBytes(material.privateKey, `secret ${name}: private key`) },
    },
  };
}

/** Secret `ROOTCA` (or `name`): the trust bundle as a validation context. No key material. */
export function trustBundleSecret(bundlePem: string, name: string = ROOTCA_SECRET): Record<string, unknown> {
  return { name, validation_context: { trusted_ca: { inline_bytes: pemBytes(bundlePem, `secret ${name}: trust bundle`) } } };
}

/**
 * UpstreamTlsContext: presents `default`, trusts `ROOTCA`, and accepts only a server whose URI
 * SAN is exactly one of `expectedSpiffeIds`.
 */
export function upstreamTlsContext(opts: UpstreamTlsOptions): Record<string, unknown> {
  const ids = [...new Set(opts.expectedSpiffeIds)].sort();
  if (ids.length === 0) throw new Error(`upstream TLS context${opts.sni ? ` for ${opts.sni}` : ''}: expectedSpiffeIds is empty; secure naming needs at least one SPIFFE ID`);
  for (const id of ids) if (!id.startsWith('spiffe://')) throw new Error(`upstream TLS context: "${id}" is not a SPIFFE ID (spiffe://...)`);
  if (opts.sni !== undefined && opts.sni.length > 255) throw new Error(`upstream TLS context: SNI longer than 255 characters: ${opts.sni.slice(0, 40)}...`);
  return {
    common_tls_context: {
      tls_params: TLS_PARAMS,
      tls_certificate_sds_secret_configs: [DEFAULT_SDS],
      combined_validation_context: {
        default_validation_context: {
          match_typed_subject_alt_names: ids.map((id) => ({ san_type: 'URI', matcher: { exact: id } })),
        },
        validation_context_sds_secret_config: ROOTCA_SDS,
      },
      ...alpnField(opts.alpn),
    },
    ...(opts.sni ? { sni: opts.sni } : {}),
  };
}

/** DownstreamTlsContext: presents `default`, requires a client certificate that chains to `ROOTCA`. */
export function downstreamTlsContext(opts: DownstreamTlsOptions = {}): Record<string, unknown> {
  return {
    common_tls_context: {
      tls_params: TLS_PARAMS,
      tls_certificate_sds_secret_configs: [DEFAULT_SDS],
      validation_context_sds_secret_config: ROOTCA_SDS,
      ...alpnField(opts.alpn),
    },
    // google.protobuf.BoolValue: protobufjs has no JSON wrapper for it, so the message form.
    require_client_certificate: { value: true },
  };
}

/** `transport_socket` for a Cluster (or a `transport_socket_matches` entry): mTLS with secure naming. */
export function upstreamTlsTransportSocket(opts: UpstreamTlsOptions): TlsTransportSocket {
  return { name: TLS_TRANSPORT_SOCKET, typed_config: { '@type': UPSTREAM_TLS_CONTEXT_TYPE_URL, ...upstreamTlsContext(opts) } };
}

/** `transport_socket` for a Listener filter chain: mTLS, client certificate required. */
export function downstreamTlsTransportSocket(opts: DownstreamTlsOptions = {}): TlsTransportSocket {
  return { name: TLS_TRANSPORT_SOCKET, typed_config: { '@type': DOWNSTREAM_TLS_CONTEXT_TYPE_URL, ...downstreamTlsContext(opts) } };
}
