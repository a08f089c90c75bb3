/**
 * Envoy's API protos, loaded once from the `@grpc/grpc-js-xds` package (never copied into the repo).
 * Every stage that encodes, decodes or validates an Envoy message gets its types from here.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** Directories searched for imports, in order: Envoy, xDS (udpa/xds), googleapis, PGV, protobufjs's own WKTs. */
export const PROTO_INCLUDE_DIRS: readonly string[] = (() => {
  const xdsPkg = dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const pbjs = dirname(require.resolve('protobufjs/package.json'));
  return [
    join(xdsPkg, 'deps/envoy-api'),
    join(xdsPkg, 'deps/xds'),
    join(xdsPkg, 'deps/googleapis'),
    join(xdsPkg, 'deps/protoc-gen-validate'),
    pbjs,
  ];
})();

/** The proto files crossmesh produces or consumes; their imports are loaded transitively. */
export const ENVOY_PROTO_FILES: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/service/cluster/v3/cds.proto',
  'envoy/service/endpoint/v3/eds.proto',
  'envoy/service/listener/v3/lds.proto',
  'envoy/service/route/v3/rds.proto',
  'envoy/service/secret/v3/sds.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/config/rbac/v3/rbac.proto',
  'envoy/extensions/clusters/aggregate/v3/cluster.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/cluster_provided/v3/cluster_provided.proto',
  'envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto',
  'envoy/admin/v3/config_dump.proto',
];

function resolveImport(_origin: string, target: string): string {
  for (const dir of PROTO_INCLUDE_DIRS) {
    const candidate = join(dir, target);
    if (existsSync(candidate)) return candidate;
  }
  return target;
}

let cached: protobuf.Root | undefined;

/** The shared protobufjs Root with every Envoy type crossmesh uses (loaded on first call, ~0.5 s). */
export function envoyRoot(): protobuf.Root {
  if (cached) return cached;
  const root = new protobuf.Root();
  root.resolvePath = resolveImport;
  root.loadSync(ENVOY_PROTO_FILES as string[], { keepCase: true, alternateCommentMode: false });
  root.resolveAll();
  cached = root;
  return root;
}

/** Looks up a message type by its full name, e.g. `envoy.config.cluster.v3.Cluster`. */
export function messageType(fullName: string): protobuf.Type {
  // protobufjs walks the namespace tree on every lookup; the encoder and guard ask per resource.
  let t = typesByName.get(fullName);
  if (!t) typesByName.set(fullName, (t = envoyRoot().lookupType(fullName)));
  return t;
}

const typesByName = new Map<string, protobuf.Type>();
