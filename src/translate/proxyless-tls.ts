/**
 * TLS for proxyless gRPC (grpc-js-xds). It takes no SDS: certificates come from certificate-provider
 * instances its bootstrap declares (`file_watcher` over the files `crossmesh agent` writes), named
 * here after the SDS secrets they stand for. Its validators also refuse `tls_params`, SDS
 * validation contexts and custom validators, and its client reads the server's accepted identities
 * from the (deprecated in Envoy, current in gRPC) `match_subject_alt_names` list only.
 *
 * Pure: plain keepCase objects, nested Any as `{'@type': ...}`.
 */
import { DOWNSTREAM_TLS_CONTEXT_TYPE_URL, TLS_TRANSPORT_SOCKET, UPSTREAM_TLS_CONTEXT_TYPE_URL, type TlsTransportSocket } from './secrets.js';

/** Bootstrap certificate-provider instance holding the workload's own chain and key. */
export const IDENTITY_PROVIDER_INSTANCE = 'default';
/** Bootstrap certificate-provider instance holding the mesh trust bundle. */
export const ROOT_PROVIDER_INSTANCE = 'ROOTCA';

/**
 * Client side: present the workload certificate, trust the mesh roots, and accept only a server
 * whose URI SAN is exactly one of `expectedSpiffeIds` (secure naming).
 */
export function proxylessUpstreamTls(expectedSpiffeIds: readonly string[]): TlsTransportSocket {
  const ids = [...new Set(expectedSpiffeIds)].sort();
  if (ids.length === 0) throw new Error('proxyless upstream TLS: expectedSpiffeIds is empty; secure naming needs at least one SPIFFE ID');
  for (const id of ids) if (!id.startsWith('spiffe://')) throw new Error(`proxyless upstream TLS: "${id}" is not a SPIFFE ID (spiffe://...)`);
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: {
      '@type': UPSTREAM_TLS_CONTEXT_TYPE_URL,
      common_tls_context: {
        tls_certificate_provider_instance: { instance_name: IDENTITY_PROVIDER_INSTANCE },
        validation_context: {
          ca_certificate_provider_instance: { instance_name: ROOT_PROVIDER_INSTANCE },
          match_subject_alt_names: ids.map((id) => ({ exact: id })),
        },
      },
    },
  };
}

/** Server side: present the workload certificate and require a client certificate that chains to the mesh roots. */
export function proxylessDownstreamTls(): TlsTransportSocket {
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: {
      '@type': DOWNSTREAM_TLS_CONTEXT_TYPE_URL,
      common_tls_context: {
        tls_certificate_provider_instance: { instance_name: IDENTITY_PROVIDER_INSTANCE },
        validation_context: { ca_certificate_provider_instance: { instance_name: ROOT_PROVIDER_INSTANCE } },
      },
      require_client_certificate: { value: true },
    },
  };
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The SPIFFE IDs a sidecar's upstream TLS context accepts (its exact URI SAN matchers), so a
 * proxyless cluster derived from it keeps the same secure naming. Empty if there is no such context.
 */
export function acceptedSpiffeIds(transportSocket: unknown): string[] {
  if (!isObj(transportSocket) || !isObj(transportSocket.typed_config)) return [];
  const common = transportSocket.typed_config.common_tls_context;
  if (!isObj(common)) return [];
  const contexts: unknown[] = [common.validation_context];
  if (isObj(common.combined_validation_context)) contexts.push(common.combined_validation_context.default_validation_context);
  const out: string[] = [];
  for (const vc of contexts) {
    if (!isObj(vc)) continue;
    for (const m of Array.isArray(vc.match_typed_subject_alt_names) ? vc.match_typed_subject_alt_names : []) {
      if (isObj(m) && m.san_type === 'URI' && isObj(m.matcher) && typeof m.matcher.exact === 'string') out.push(m.matcher.exact);
    }
    for (const m of Array.isArray(vc.match_subject_alt_names) ? vc.match_subject_alt_names : []) {
      if (isObj(m) && typeof m.exact === 'string' && m.exact.startsWith('spiffe://')) out.push(m.exact);
    }
  }
  return [...new Set(out)].sort();
}
