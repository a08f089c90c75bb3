import { describe, expect, it } from 'vitest';
import { decodeDeltaDiscoveryRequest, decodeDiscoveryRequest } from '../../src/xds/codec.js';
import { messageType } from '../../src/xds/protos.js';

const sotwType = messageType('envoy.service.discovery.v3.DiscoveryRequest');
const deltaType = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');

function encode(type: typeof sotwType, fields: Record<string, unknown>): Buffer {
  const err = type.verify(fields);
  if (err) throw new Error(err);
  return Buffer.from(type.encode(type.fromObject(fields)).finish());
}

const node = {
  id: 'sidecar~10.0.0.1~web-1.shop~shop.svc.cluster.local',
  cluster: 'cluster1',
  locality: { region: 'us-east', zone: 'us-east-1a', sub_zone: 'rack-7' },
  user_agent_name: 'envoy',
  user_agent_version: '1.40.0',
  metadata: { fields: { CROSSMESH_ROLE: { stringValue: 'sidecar' }, PORTS: { listValue: { values: [{ numberValue: 9080 }] } } } },
};

describe('DiscoveryRequest decoding (hand-written wire reader)', () => {
  it('reads every field a SotW request carries, as protobufjs wrote them', () => {
    const bytes = encode(sotwType, {
      version_info: 'v1',
      node,
      resource_names: ['a', 'b', 'ünïcode ✓'],
      type_url: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
      response_nonce: '1-2',
      error_detail: { code: -3, message: 'rejected: bad cluster', details: [{ type_url: 'type.googleapis.com/google.protobuf.Empty', value: Buffer.alloc(0) }] },
      resource_locators: [{ name: 'x' }],
    });
    expect(decodeDiscoveryRequest(bytes)).toEqual({
      versionInfo: 'v1',
      node: {
        id: node.id,
        cluster: 'cluster1',
        locality: { region: 'us-east', zone: 'us-east-1a', sub_zone: 'rack-7' },
        userAgentName: 'envoy',
        userAgentVersion: '1.40.0',
        metadata: { CROSSMESH_ROLE: 'sidecar', PORTS: [9080] },
      },
      resourceNames: ['a', 'b', 'ünïcode ✓'],
      typeUrl: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
      responseNonce: '1-2',
      errorDetail: { code: -3, message: 'rejected: bad cluster' },
    });
  });

  it('an ACK without node or error has neither key; an empty message is all defaults', () => {
    const ack = decodeDiscoveryRequest(encode(sotwType, { version_info: 'v2', response_nonce: 'n', type_url: 't', resource_names: ['a'] }));
    expect(ack).toEqual({ versionInfo: 'v2', resourceNames: ['a'], typeUrl: 't', responseNonce: 'n' });
    expect(decodeDiscoveryRequest(Buffer.alloc(0))).toEqual({ versionInfo: '', resourceNames: [], typeUrl: '', responseNonce: '' });
  });

  it('skips unknown fields of every wire type and merges a node sent in two parts', () => {
    const base = encode(sotwType, { type_url: 't', response_nonce: 'n' });
    // field 99 as varint, fixed64, length-delimited and fixed32
    const unknown = Buffer.from([0x98, 0x06, 0x96, 0x01, 0x99, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, 0x9a, 0x06, 2, 0xaa, 0xbb, 0x9d, 0x06, 1, 2, 3, 4]);
    const nodeA = encode(sotwType, { node: { id: 'a-node' } });
    const nodeB = encode(sotwType, { node: { cluster: 'c2' } });
    const r = decodeDiscoveryRequest(Buffer.concat([base, unknown, nodeA, nodeB]));
    expect(r.typeUrl).toBe('t');
    expect(r.responseNonce).toBe('n');
    expect(r.node?.id).toBe('a-node');
    expect(r.node?.cluster).toBe('c2');
  });

  it('refuses malformed input with the field and offset', () => {
    const good = encode(sotwType, { version_info: 'v1', type_url: 't' });
    expect(() => decodeDiscoveryRequest(good.subarray(0, good.length - 1))).toThrow(/runs past the end/);
    expect(() => decodeDiscoveryRequest(Buffer.from([0x0a]))).toThrow(/truncated varint at offset 1/);
    expect(() => decodeDiscoveryRequest(Buffer.from([0x08, 0x01]))).toThrow(/version_info \(field 1\) has wire type 0, expected 2/);
    expect(() => decodeDiscoveryRequest(Buffer.from([0x03]))).toThrow(/field number 0/);
    expect(() => decodeDiscoveryRequest(Buffer.from([0x0b, 0x0c]))).toThrow(/wire type 3/);
    expect(() => decodeDiscoveryRequest(Buffer.from([0x32, 0x02, 0x10, 0x01]))).toThrow(/error_detail.message \(field 2\) has wire type 0/);
    expect(() => decodeDiscoveryRequest(Buffer.from([0x12, 0x02, 0x08, 0x80]))).toThrow(/^node: /);
    expect(() => decodeDiscoveryRequest(Buffer.from([0x78, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toThrow(/longer than 10 bytes/);
  });
});

describe('DeltaDiscoveryRequest decoding', () => {
  it('reads every field, the initial versions map included', () => {
    const bytes = encode(deltaType, {
      node: { id: 'n1' },
      type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
      resource_names_subscribe: ['a', '*'],
      resource_names_unsubscribe: ['b'],
      initial_resource_versions: { a: 'va', c: 'vc' },
      response_nonce: 'x',
      error_detail: { code: 13, message: 'nope' },
      resource_locators_subscribe: [{ name: 'l' }],
    });
    const r = decodeDeltaDiscoveryRequest(bytes);
    expect(r.node?.id).toBe('n1');
    expect(r).toMatchObject({
      typeUrl: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
      subscribe: ['a', '*'],
      unsubscribe: ['b'],
      responseNonce: 'x',
      errorDetail: { code: 13, message: 'nope' },
    });
    expect([...r.initialResourceVersions]).toEqual([
      ['a', 'va'],
      ['c', 'vc'],
    ]);
  });

  it('refuses a map entry with a wrong wire type', () => {
    expect(() => decodeDeltaDiscoveryRequest(Buffer.from([0x2a, 0x02, 0x08, 0x01]))).toThrow(/initial_resource_versions key \(field 1\) has wire type 0/);
  });
});
