import { describe, expect, it } from 'vitest';
import { stringify, parse } from 'yaml';
import { buildBootstrapForNode, buildProxylessBootstrapForNode } from '../../src/cli/bootstrap.js';
import { buildEnvoyBootstrap, parseAddress, parseHostPort, parseNodeId, XDS_CLIENT_CERT_SDS_FILE, XDS_CLIENT_CERT_SECRET, XDS_HTTP2_KEEPALIVE, XDS_TCP_KEEPALIVE } from '../../src/translate/bootstrap.js';
import { fromProtoJson, ProtoJsonError } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';
import { validateEncoded } from '../../src/translate/validate.js';

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
/** The reconnect backoff as Envoy's proto reader takes it: 0.5 s, at most 5 s. */
const BACKOFF_PARSED = { base_interval: { seconds: 0, nanos: 500_000_000 }, max_interval: { seconds: 5, nanos: 0 } };

function parseBootstrap(yamlText: string): Record<string, unknown> {
  const T = messageType(BOOTSTRAP);
  const msg = fromProtoJson(BOOTSTRAP, parse(yamlText));
  const bytes = T.encode(msg).finish();
  expect(validateEncoded(BOOTSTRAP, bytes)).toEqual([]);
  return T.toObject(T.decode(bytes), { enums: String, longs: Number }) as Record<string, unknown>;
}

describe('Envoy bootstrap', () => {
  it('prints YAML that parses as envoy.config.bootstrap.v3.Bootstrap and passes the guard', () => {
    const yamlText = stringify(
      buildEnvoyBootstrap({
        nodeId: 'cluster1/default/reviews-v1-0',
        role: 'sidecar',
        locality: { region: 'us-east', zone: 'us-east-1a', subzone: '' },
        xdsAddress: 'crossmesh.crossmesh-system.svc:18000',
        xdsCaFile: '/etc/crossmesh/ca.pem',
        initialMetadata: { authorization: 'Bearer abc' },
      }),
    );
    const b = parseBootstrap(yamlText) as {
      node: { id: string; cluster: string; locality: { zone: string } };
      dynamic_resources: { ads_config: { api_type: string; grpc_services: { initial_metadata: { key: string }[] }[] } };
      static_resources: { clusters: { type: string; connect_timeout: { seconds: number }; transport_socket: { typed_config: { type_url: string } } }[] };
      admin: { address: { socket_address: { address: string; port_value: number } } };
    };
    expect(b.node.id).toBe('cluster1/default/reviews-v1-0');
    expect(b.node.cluster).toBe('cluster1');
    expect(b.node.locality.zone).toBe('us-east-1a');
    expect(b.dynamic_resources.ads_config.api_type).toBe('GRPC');
    expect(b.dynamic_resources.ads_config.grpc_services[0]!.initial_metadata[0]!.key).toBe('authorization');
    expect(b.static_resources.clusters[0]!.type).toBe('STRICT_DNS');
    expect(b.static_resources.clusters[0]!.connect_timeout.seconds).toBe(1);
    expect(b.static_resources.clusters[0]!.transport_socket.typed_config.type_url).toContain('UpstreamTlsContext');
    expect(b.admin.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 15000 });
  });

  it('uses a STATIC xDS cluster for an IP address', () => {
    const b = buildEnvoyBootstrap({ nodeId: 'c1/ns/gw', role: 'gateway', xdsAddress: '127.0.0.1:18000' }) as { static_resources: { clusters: { type: string }[] } };
    expect(b.static_resources.clusters[0]!.type).toBe('STATIC');
  });

  it('reaches xDS and serves admin over unix sockets: pipe addresses, a STATIC cluster, the server name as SNI, delta ADS', () => {
    const b = parseBootstrap(
      stringify(
        buildEnvoyBootstrap({
          nodeId: 'cluster1/default/reviews-v1-0',
          role: 'sidecar',
          xdsAddress: 'unix:/var/run/crossmesh/xds.sock',
          adminAddress: 'unix:/var/run/envoy/admin.sock',
          adsApi: 'delta',
          xdsCaFile: '/etc/crossmesh/ca.pem',
          xdsServerName: 'crossmesh.crossmesh-system.svc',
        }),
      ),
    ) as Record<string, any>;
    const xds = b.static_resources.clusters[0];
    expect(xds.type).toBe('STATIC');
    expect(xds.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address).toEqual({ pipe: { path: '/var/run/crossmesh/xds.sock' } });
    expect(xds.transport_socket.typed_config.type_url).toContain('UpstreamTlsContext');
    expect(xds.upstream_connection_options).toBeUndefined();
    expect(b.admin.address).toEqual({ pipe: { path: '/var/run/envoy/admin.sock' } });
    expect(b.dynamic_resources.ads_config.api_type).toBe('DELTA_GRPC');
    const raw = buildEnvoyBootstrap({ nodeId: 'c1/ns/a', role: 'sidecar', xdsAddress: 'unix:/x.sock', xdsCaFile: '/ca.pem', xdsServerName: 'crossmesh.ns.svc' }) as Record<string, any>;
    expect(raw.static_resources.clusters[0].transport_socket.typed_config.sni).toBe('crossmesh.ns.svc');
    expect(() => buildEnvoyBootstrap({ nodeId: 'c1/ns/a', role: 'sidecar', xdsAddress: 'unix:/x.sock', xdsCaFile: '/ca.pem' })).toThrow('needs the server name');
  });

  it('keeps the xDS connection watched: HTTP/2 pings always, TCP keepalive on a TCP connection', () => {
    const b = buildEnvoyBootstrap({ nodeId: 'c1/ns/a', role: 'sidecar', xdsAddress: '10.0.0.1:18000' }) as Record<string, any>;
    const xds = b.static_resources.clusters[0];
    const h2 = xds.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config.http2_protocol_options;
    expect(h2.connection_keepalive).toEqual({ interval: '10s', timeout: '5s' });
    expect(XDS_HTTP2_KEEPALIVE).toEqual({ interval: '10s', timeout: '5s' });
    expect(xds.upstream_connection_options).toEqual({ tcp_keepalive: { keepalive_time: 10, keepalive_interval: 5, keepalive_probes: 3 } });
    expect(XDS_TCP_KEEPALIVE.keepalive_time).toBe(10);
    const parsed = parseBootstrap(stringify(b)) as Record<string, any>;
    expect(parsed.static_resources.clusters[0].upstream_connection_options.tcp_keepalive).toEqual({ keepalive_time: { value: 10 }, keepalive_interval: { value: 5 }, keepalive_probes: { value: 3 } });
    expect(parsed.admin.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 15000 });
    expect(parsed.dynamic_resources.ads_config.api_type).toBe('GRPC');
    const admin = buildEnvoyBootstrap({ nodeId: 'c1/ns/a', role: 'sidecar', xdsAddress: '10.0.0.1:18000', adminAddress: '[::1]:15100' }) as Record<string, any>;
    expect(admin.admin.address).toEqual({ socket_address: { address: '::1', port_value: 15100 } });
  });

  it('tries a failed xDS stream again within 5 s at most (Envoy alone waits up to 30 s), over TCP and unix sockets, SotW and delta', () => {
    for (const xdsAddress of ['10.0.0.1:18000', 'unix:/run/crossmesh/xds.sock']) {
      for (const adsApi of ['sotw', 'delta'] as const) {
        const parsed = parseBootstrap(stringify(buildEnvoyBootstrap({ nodeId: 'c1/ns/a', role: 'sidecar', xdsAddress, adsApi }))) as Record<string, any>;
        const backOff = parsed.dynamic_resources.ads_config.grpc_services[0].envoy_grpc.retry_policy.retry_back_off;
        expect(backOff, `${xdsAddress} ${adsApi}`).toEqual(BACKOFF_PARSED);
      }
    }
  });

  it('durable credentials: the xDS cluster presents the file-based SDS client certificate, and the bootstrap carries no token', async () => {
    const { bootstrap, tokenSubject } = await buildBootstrapForNode({ node: 'cluster1/default/productpage-v1-0', role: 'sidecar', config: [], tokenTtl: '1h', namespace: 'crossmesh-system', xdsAddress: 'unix:/run/crossmesh/xds.sock', xdsClientCertDir: '/run/crossmesh/xds-cert/' });
    expect(tokenSubject).toBeUndefined();
    const text = stringify(bootstrap);
    expect(text).not.toMatch(/authorization|Bearer/);
    const b = parseBootstrap(text) as {
      dynamic_resources: { ads_config: { grpc_services: { initial_metadata: unknown[] }[] } };
      static_resources: { clusters: { name: string; transport_socket: { typed_config: { value: Uint8Array } } }[] };
    };
    expect(b.dynamic_resources.ads_config.grpc_services[0]!.initial_metadata ?? []).toEqual([]);
    const T = messageType('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    const tls = T.toObject(T.decode(b.static_resources.clusters.find((c) => c.name === 'xds-grpc')!.transport_socket.typed_config.value), { enums: String }) as {
      common_tls_context: { tls_certificate_sds_secret_configs: { name: string; sds_config: { resource_api_version: string; path_config_source: { path: string; watched_directory: { path: string } } } }[] };
    };
    expect(tls.common_tls_context.tls_certificate_sds_secret_configs).toEqual([
      { name: XDS_CLIENT_CERT_SECRET, sds_config: { resource_api_version: 'V3', path_config_source: { path: `/run/crossmesh/xds-cert/${XDS_CLIENT_CERT_SDS_FILE}`, watched_directory: { path: '/run/crossmesh/xds-cert' } } } },
    ]);
  });

  it('durable credentials need TLS and an absolute directory, and say so', async () => {
    const base = { node: 'cluster1/default/productpage-v1-0', role: 'sidecar', config: [], tokenTtl: '1h', namespace: 'crossmesh-system', xdsAddress: '127.0.0.1:18000' };
    await expect(buildBootstrapForNode({ ...base, xdsClientCertDir: 'certs' })).rejects.toThrow('--xds-client-cert-dir must be an absolute path (Envoy reads it), got "certs"');
    await expect(buildBootstrapForNode({ ...base, xdsClientCertDir: '/certs', insecureXds: true })).rejects.toThrow('--xds-client-cert-dir needs TLS');
    expect(() => buildEnvoyBootstrap({ nodeId: base.node, role: 'sidecar', xdsAddress: base.xdsAddress, xdsClientCertDir: '/certs' })).toThrow('a client certificate on the xDS connection needs TLS');
  });

  it('parses host:port and unix:<absolute path>, and says which forms it takes', () => {
    expect(parseAddress('unix:/run/x.sock')).toEqual({ kind: 'unix', path: '/run/x.sock' });
    expect(parseAddress('a.b:1')).toEqual({ kind: 'tcp', host: 'a.b', port: 1 });
    expect(() => parseAddress('unix:')).toThrow('must be host:port or unix:<absolute path>');
    expect(() => parseAddress('unix:run/x.sock')).toThrow('must be absolute');
    expect(() => parseAddress(`unix:/${'a'.repeat(120)}`)).toThrow('the limit is 107');
    expect(() => parseAddress('nohost')).toThrow('"nohost" must be host:port or unix:<absolute path>');
  });

  it('names the flag in every error of crossmesh bootstrap', async () => {
    const base = { node: 'cluster1/default/productpage-v1-0', role: 'sidecar', config: [], tokenTtl: '1h', namespace: 'crossmesh-system', xdsAddress: '127.0.0.1:18000' };
    await expect(buildBootstrapForNode({ ...base, xdsAddress: 'unix:relative.sock' })).rejects.toThrow('--xds-address: unix socket path "relative.sock" must be absolute');
    await expect(buildBootstrapForNode({ ...base, xdsAddress: 'x' })).rejects.toThrow('--xds-address: address "x" must be host:port or unix:<absolute path>');
    await expect(buildBootstrapForNode({ ...base, adminAddress: '127.0.0.1' })).rejects.toThrow('--admin-address: address "127.0.0.1" must be');
    await expect(buildBootstrapForNode({ ...base, adminPort: '0' })).rejects.toThrow('--admin-port must be a port number (1-65535), got "0"');
    await expect(buildBootstrapForNode({ ...base, adminPort: '15000', adminAddress: 'unix:/a.sock' })).rejects.toThrow('--admin-address and --admin-port are exclusive');
    await expect(buildBootstrapForNode({ ...base, adsApi: 'incremental' })).rejects.toThrow('--ads-api must be one of sotw, delta, got "incremental"');
    await expect(buildProxylessBootstrapForNode({ ...base, role: 'proxyless', xdsAddress: 'unix:/a.sock' })).rejects.toThrow('--xds-address: role proxyless takes host:port');
  });

  it('rejects bad node ids and addresses with a message saying what is expected', () => {
    expect(() => parseNodeId('reviews')).toThrow('must be <cluster>/<namespace>/<name>');
    expect(parseNodeId('cluster1/default/reviews-v1-0')).toEqual({ cluster: 'cluster1', namespace: 'default', name: 'reviews-v1-0' });
    expect(() => parseHostPort('localhost')).toThrow('must be host:port');
    expect(parseHostPort('[::1]:18000')).toEqual({ host: '::1', port: 18000 });
  });

  it('reports a bad field with its path when reading proto JSON', () => {
    expect(() => fromProtoJson(BOOTSTRAP, { admin: { address: { socket_address: { adress: 'x' } } } })).toThrow(ProtoJsonError);
    expect(() => fromProtoJson(BOOTSTRAP, { admin: { address: { socket_address: { adress: 'x' } } } })).toThrow('admin.address.socket_address.adress: unknown field');
    expect(() => fromProtoJson(BOOTSTRAP, { static_resources: { clusters: [{ name: 'x', connect_timeout: 'soon' }] } })).toThrow('static_resources.clusters[0].connect_timeout: "soon" is not a duration');
  });
});
