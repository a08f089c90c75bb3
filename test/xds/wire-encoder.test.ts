/**
 * The direct encoder must write exactly what protobufjs `encode(fromObject(...))` writes (resource
 * versions are hashes of these bytes), refuse what protobufjs would silently drop, and reuse the
 * bytes of frozen shared sub-messages without changing the output.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveProxy, translateProxy } from '../../src/translate/index.js';
import { MESSAGE_OF_KIND, RESOURCE_KINDS, type Resource, type ResourceKind } from '../../src/translate/resources.js';
import { messageType } from '../../src/xds/protos.js';
import { encodeObject, WireEncodeError } from '../../src/xds/wire-encoder.js';
import { sharedPart } from '../../src/translate/shared-part.js';
import { defaultMeshStore } from '../translate/default-mesh.js';

const PROXIES: readonly [string, 'sidecar' | 'gateway'][] = [
  ['cluster1/default/productpage-v1-0', 'sidecar'],
  ['cluster2/default/reviews-v3-0', 'sidecar'],
  ['cluster1/crossmesh-system/east-west-gateway-0', 'gateway'],
];

function protobufjs(kind: ResourceKind, r: object): Buffer {
  const t = messageType(MESSAGE_OF_KIND[kind]);
  return Buffer.from(t.encode(t.fromObject(r)).finish());
}

let resources: [ResourceKind, Resource][] = [];
beforeAll(async () => {
  const store = await defaultMeshStore({ unscoped: true });
  for (const [id, role] of PROXIES) {
    const p = resolveProxy(store.current, id, role);
    if (p instanceof Error) throw p;
    const r = translateProxy(store.current, p);
    for (const k of RESOURCE_KINDS) for (const x of r[k].values()) resources.push([k, x]);
  }
});

describe('encodeObject', () => {
  it('writes the same bytes as protobufjs for every resource of the default mesh', () => {
    expect(resources.length).toBeGreaterThan(50);
    for (const [kind, r] of resources) expect(encodeObject(messageType(MESSAGE_OF_KIND[kind]), r).equals(protobufjs(kind, r))).toBe(true);
  });

  it('writes the same bytes for a resource needing more than its initial size table (20,000 strings)', () => {
    const rc = {
      name: 'big',
      virtual_hosts: Array.from({ length: 5000 }, (_, i) => ({ name: `vh-${i}`, domains: [`s${i}`, `s${i}.ns`, `s${i}.ns.svc`], routes: [{ match: { prefix: '/' }, route: { cluster: `c${i}` } }] })),
    };
    expect(encodeObject(messageType(MESSAGE_OF_KIND.routes), rc).equals(protobufjs('routes', rc))).toBe(true);
  });

  it('covers scalars protobufjs coerces: negative int32, 64-bit strings, bytes as base64, packed enums, maps', () => {
    const t = messageType('envoy.config.cluster.v3.Cluster');
    const c = {
      name: 'x',
      connect_timeout: { seconds: '12', nanos: 5 },
      per_connection_buffer_limit_bytes: { value: 1024 },
      dns_lookup_family: 'V4_ONLY',
      typed_extension_protocol_options: { a: { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } },
      metadata: { filter_metadata: { m: { fields: { k: { stringValue: 'v' }, n: { numberValue: -1.5 } } } } },
      load_assignment: { cluster_name: 'x', endpoints: [{ priority: 0, lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'ü.example', port_value: 80 } } } }] }] },
    };
    expect(encodeObject(t, c).equals(Buffer.from(t.encode(t.fromObject(c)).finish()))).toBe(true);
    const hc = messageType('envoy.config.core.v3.HealthCheck');
    const h = { timeout: { seconds: -3 }, interval: { seconds: 1 }, http_health_check: { path: '/', expected_statuses: [{ start: 200, end: 300 }], codec_client_type: 'HTTP2' }, event_log_path: 'x', unhealthy_threshold: { value: 2 }, healthy_threshold: { value: 1 } };
    expect(encodeObject(hc, h).equals(Buffer.from(hc.encode(hc.fromObject(h)).finish()))).toBe(true);
    const ds = messageType('envoy.config.core.v3.DataSource');
    expect(encodeObject(ds, { inline_bytes: 'aGVsbG8=' }).equals(Buffer.from(ds.encode(ds.fromObject({ inline_bytes: 'aGVsbG8=' })).finish()))).toBe(true);
  });

  it('refuses an unknown field with its path, an unknown enum name and an unknown Any type', () => {
    const t = messageType('envoy.config.cluster.v3.Cluster');
    const err = (o: object) => {
      try {
        encodeObject(t, o);
      } catch (e) {
        return e as WireEncodeError;
      }
      throw new Error('did not throw');
    };
    const e1 = err({ name: 'x', load_assignment: { cluster_name: 'x', endpoints: [{ lb_endpoints: [{ endpont: {} }] }] } });
    expect(e1.path).toBe('load_assignment.endpoints[0].lb_endpoints[0].endpont');
    expect(e1.message).toMatch(/unknown field "endpont" in envoy.config.endpoint.v3.LbEndpoint/);
    expect(err({ name: 'x', lb_policy: 'ROUND_ROBINN' }).message).toMatch(/"ROUND_ROBINN" is not a value of enum LbPolicy/);
    const e3 = err({ name: 'x', transport_socket: { name: 't', typed_config: { '@type': 'type.googleapis.com/no.Such' } } });
    expect([e3.path, e3.message]).toEqual(['transport_socket.typed_config', 'unknown Any type type.googleapis.com/no.Such']);
  });

  it('encodes a frozen shared sub-message once and writes the same bytes as an unfrozen copy', () => {
    const shared = Object.freeze({ endpoint: Object.freeze({ address: Object.freeze({ socket_address: Object.freeze({ address: '10.0.0.1', port_value: 80 }) }) }), health_status: 'HEALTHY' });
    const plain = { endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } }, health_status: 'HEALTHY' };
    const t = messageType(MESSAGE_OF_KIND.endpoints);
    const cla = (e: object, p: number) => ({ cluster_name: 'c', endpoints: [{ priority: p, lb_endpoints: [e, e] }] });
    for (const p of [0, 1]) expect(encodeObject(t, cla(shared, p)).equals(encodeObject(t, cla(plain, p)))).toBe(true);
    expect(encodeObject(t, cla(shared, 1)).equals(protobufjs('endpoints', cla(plain, 1)))).toBe(true);
  });

  it('keeps a shared part\'s bytes per type: one object encoded as two message types gives each its own bytes', () => {
    // {value: 50} is a UInt32Value (varint) as a weight and an envoy.type.v3.Percent (double) as a panic threshold.
    const v = sharedPart({ value: 50 });
    const clusters = messageType(MESSAGE_OF_KIND.clusters);
    const endpoints = messageType(MESSAGE_OF_KIND.endpoints);
    const cla = { cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } }, load_balancing_weight: v }] }] };
    const cluster = { name: 'c', common_lb_config: { healthy_panic_threshold: v } };
    for (let i = 0; i < 2; i++) {
      expect(encodeObject(endpoints, cla).equals(protobufjs('endpoints', cla))).toBe(true);
      expect(encodeObject(clusters, cluster).equals(protobufjs('clusters', cluster))).toBe(true);
    }
  });

  it('cuts many encodings from shared slabs without one overwriting another', () => {
    const t = messageType(MESSAGE_OF_KIND.endpoints);
    const made: [object, Buffer][] = [];
    // About 1 MB of small and a few large encodings: several slabs, and buffers larger than a slab's share.
    for (let i = 0; i < 20_000; i++) {
      const n = i % 997 === 0 ? 400 : 1 + (i % 3);
      const cla = { cluster_name: `c${i}`, endpoints: [{ lb_endpoints: Array.from({ length: n }, (_, j) => ({ endpoint: { address: { socket_address: { address: `10.${i % 250}.${j % 250}.1`, port_value: 1 + j } } } })) }] };
      made.push([cla, encodeObject(t, cla)]);
    }
    for (const [cla, bytes] of made) expect(bytes.equals(protobufjs('endpoints', cla))).toBe(true);
  });
});
