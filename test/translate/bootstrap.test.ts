import { describe, expect, it } from 'vitest';
import { stringify, parse } from 'yaml';
import { buildEnvoyBootstrap, parseHostPort, parseNodeId } from '../../src/translate/bootstrap.js';
import { fromProtoJson, ProtoJsonError } from '../../src/xds/proto-json.js';
import { messageType } from '../../src/xds/protos.js';
import { validateEncoded } from '../../src/translate/validate.js';

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

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
