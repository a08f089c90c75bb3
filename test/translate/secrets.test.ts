/**
 * SDS secrets and TLS contexts survive protobufjs fromObject → verify → encode → decode with
 * every field intact, and key material only ever appears in the `default` secret.
 */
import { describe, expect, it } from 'vitest';
import { messageType } from '../../src/xds/protos.js';
import {
  downstreamTlsContext,
  downstreamTlsTransportSocket,
  tlsCertificateSecret,
  trustBundleSecret,
  upstreamTlsContext,
  upstreamTlsTransportSocket,
  UPSTREAM_TLS_CONTEXT_TYPE_URL,
} from '../../src/translate/secrets.js';

const CHAIN = '-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nREVG\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN EC PRIVATE KEY-----\nc2VjcmV0\n-----END EC PRIVATE KEY-----\n';
const BUNDLE = '-----BEGIN CERTIFICATE-----\nUk9PVA==\n-----END CERTIFICATE-----\n';
const TLS = 'envoy.extensions.transport_sockets.tls.v3';

/** fromObject → verify → encode → decode → toObject, as the xDS stage will do it. */
function roundTrip(typeName: string, obj: Record<string, unknown>): Record<string, unknown> {
  const type = messageType(typeName);
  const msg = type.fromObject(obj);
  expect(type.verify(msg)).toBeNull();
  const decoded = type.decode(type.encode(msg).finish());
  return type.toObject(decoded, { enums: String, bytes: String, defaults: false }) as Record<string, unknown>;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('SDS secrets', () => {
  it('default carries the chain and the key', () => {
    const out = roundTrip(`${TLS}.Secret`, tlsCertificateSecret({ certificateChainPem: CHAIN, privateKey: KEY }));
    expect(out).toEqual({
      name: 'default',
      tls_certificate: { certificate_chain: { inline_bytes: b64(CHAIN) }, private_key: { inline_bytes: b64(KEY) } },
    });
  });

  it('ROOTCA carries only the trust bundle', () => {
    const secret = trustBundleSecret(BUNDLE);
    const out = roundTrip(`${TLS}.Secret`, secret);
    expect(out).toEqual({ name: 'ROOTCA', validation_context: { trusted_ca: { inline_bytes: b64(BUNDLE) } } });
    expect(JSON.stringify(secret)).not.toMatch(/PRIVATE|private_key/);
  });

  it('rejects material that is not PEM, naming the secret', () => {
    expect(() => tlsCertificateSecret({ certificateChainPem: CHAIN, privateKey: 'oops' })).toThrow(/secret default: private key is not PEM/);
    expect(() => trustBundleSecret('')).toThrow(/secret ROOTCA: trust bundle is not PEM/);
  });
});

describe('TLS contexts', () => {
  const sds = (name: string) => ({ name, sds_config: { ads: {}, resource_api_version: 'V3' } });

  it('upstream: SDS default, ROOTCA validation with exact URI SAN matchers, SNI, ALPN', () => {
    const ctx = upstreamTlsContext({
      sni: 'outbound_.9080_._.reviews.default.svc.cluster.local',
      expectedSpiffeIds: ['spiffe://cluster2/ns/default/sa/reviews', 'spiffe://cluster1/ns/default/sa/reviews', 'spiffe://cluster1/ns/default/sa/reviews'],
      alpn: ['h2'],
    });
    const out = roundTrip(`${TLS}.UpstreamTlsContext`, ctx);
    expect(out).toEqual({
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
        tls_certificate_sds_secret_configs: [sds('default')],
        combined_validation_context: {
          default_validation_context: {
            match_typed_subject_alt_names: [
              { san_type: 'URI', matcher: { exact: 'spiffe://cluster1/ns/default/sa/reviews' } },
              { san_type: 'URI', matcher: { exact: 'spiffe://cluster2/ns/default/sa/reviews' } },
            ],
          },
          validation_context_sds_secret_config: sds('ROOTCA'),
        },
        alpn_protocols: ['h2'],
      },
      sni: 'outbound_.9080_._.reviews.default.svc.cluster.local',
    });
    expect(JSON.stringify(ctx)).not.toMatch(/PRIVATE|inline/);
  });

  it('upstream refuses an empty SPIFFE ID list (it would accept any mesh identity)', () => {
    expect(() => upstreamTlsContext({ sni: 'x', expectedSpiffeIds: [] })).toThrow(/expectedSpiffeIds is empty/);
    expect(() => upstreamTlsContext({ expectedSpiffeIds: ['reviews'] })).toThrow(/"reviews" is not a SPIFFE ID/);
  });

  it('downstream: SDS default + ROOTCA and a required client certificate', () => {
    const out = roundTrip(`${TLS}.DownstreamTlsContext`, downstreamTlsContext({ alpn: ['h2', 'http/1.1'] }));
    expect(out).toEqual({
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: 'TLSv1_2' },
        tls_certificate_sds_secret_configs: [sds('default')],
        validation_context_sds_secret_config: sds('ROOTCA'),
        alpn_protocols: ['h2', 'http/1.1'],
      },
      require_client_certificate: { value: true },
    });
  });

  it('transport sockets pack into a Cluster and a Listener and unpack to the same context', () => {
    const opts = { sni: 'reviews.default.svc.cluster2.global', expectedSpiffeIds: ['spiffe://cluster2/ns/default/sa/reviews'] };
    const clusterType = messageType('envoy.config.cluster.v3.Cluster');
    const cluster = clusterType.fromObject({ name: 'outbound|9080||reviews.default.svc.cluster2.global', transport_socket: upstreamTlsTransportSocket(opts) });
    expect(clusterType.verify(cluster)).toBeNull();
    const back = clusterType.toObject(clusterType.decode(clusterType.encode(cluster).finish()), { enums: String }) as {
      transport_socket: { name: string; typed_config: { type_url: string; value: Uint8Array } };
    };
    expect(back.transport_socket.name).toBe('envoy.transport_sockets.tls');
    expect(back.transport_socket.typed_config.type_url).toBe(UPSTREAM_TLS_CONTEXT_TYPE_URL);
    const inner = messageType(`${TLS}.UpstreamTlsContext`);
    const unpacked = inner.toObject(inner.decode(back.transport_socket.typed_config.value), { enums: String });
    expect(unpacked).toEqual(roundTrip(`${TLS}.UpstreamTlsContext`, upstreamTlsContext(opts)));

    const listenerType = messageType('envoy.config.listener.v3.Listener');
    const listener = listenerType.fromObject({ name: 'inbound', filter_chains: [{ transport_socket: downstreamTlsTransportSocket() }] });
    expect(listenerType.verify(listener)).toBeNull();
    const l = listenerType.toObject(listenerType.decode(listenerType.encode(listener).finish())) as {
      filter_chains: { transport_socket: { typed_config: { type_url: string; value: Uint8Array } } }[];
    };
    const ds = messageType(`${TLS}.DownstreamTlsContext`);
    const dsCtx = ds.toObject(ds.decode(l.filter_chains[0]!.transport_socket.typed_config.value)) as { require_client_certificate?: { value: boolean } };
    expect(dsCtx.require_client_certificate?.value).toBe(true);
  });

  it('is deterministic (same input, same object)', () => {
    const opts = { sni: 'a', expectedSpiffeIds: ['spiffe://b/ns/c/sa/d', 'spiffe://a/ns/c/sa/d'] };
    expect(JSON.stringify(upstreamTlsContext(opts))).toBe(JSON.stringify(upstreamTlsContext({ ...opts, expectedSpiffeIds: [...opts.expectedSpiffeIds].reverse() })));
  });
});
