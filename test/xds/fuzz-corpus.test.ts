/** Issue 16: the fuzz corpus (bench/fuzz-corpus/xds) replayed through the real xDS request path, so every run checks what the fuzzer once found. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readXdsCorpus } from '../../bench/fuzz-corpus.js';
import { isDecodeRefusal, XdsRequestPath } from '../../bench/fuzz-xds-target.js';
import { decodeDiscoveryRequest } from '../../src/xds/codec.js';
import { messageType } from '../../src/xds/protos.js';

function catchError(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

const corpus = readXdsCorpus(['seed', 'found', 'crashes']);
let path: XdsRequestPath;

beforeAll(async () => {
  path = await XdsRequestPath.open();
});
afterAll(async () => {
  await path.close();
});

describe('xDS fuzz corpus', () => {
  it('every stored input goes through decoder and stream without a crash', async () => {
    expect(corpus.length).toBeGreaterThan(10);
    const crashes: string[] = [];
    for (const c of corpus) {
      const out = await path.run(c.input);
      if (out.crash) crashes.push(`${c.name}: ${out.crash}`);
    }
    expect(crashes).toEqual([]);
  });

  it('the seeds are requests the server admits: mutations start from what works', async () => {
    for (const c of corpus.filter((e) => e.name.startsWith('seed/'))) {
      const out = await path.run(c.input);
      expect({ name: c.name, status: out.status, decodeRefused: out.decodeRefused }).toEqual({ name: c.name, status: 'open', decodeRefused: false });
    }
  });

  it('a refusal by the request reader or protobufjs is expected, an error thrown anywhere else is a crash', () => {
    const type = messageType('envoy.service.discovery.v3.DiscoveryRequest');
    let refusal: unknown;
    try {
      type.decode(Buffer.from([0x12, 0x05, 0x01])); // node claims 5 bytes, 1 follows
    } catch (e) {
      refusal = e;
    }
    expect(isDecodeRefusal(refusal)).toBe(true);
    expect(isDecodeRefusal(catchError(() => decodeDiscoveryRequest(Buffer.from([0x12, 0x05, 0x01]))))).toBe(true);
    expect(isDecodeRefusal(catchError(() => decodeDiscoveryRequest(Buffer.from([0x12, 0x02, 0x08, 0x80]))))).toBe(true);
    expect(isDecodeRefusal(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
  });

  it('a refusal the stream chooses (an empty node.id) is not counted as a crash', async () => {
    const type = messageType('envoy.service.discovery.v3.DiscoveryRequest');
    const bytes = Buffer.from(type.encode(type.fromObject({ node: { id: '' }, type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' })).finish());
    const out = await path.run({ mode: 'sotw', service: 'ads', stage: 'first', bytes });
    expect(out).toMatchObject({ status: 'INVALID_ARGUMENT', decodeRefused: false });
    expect(out.crash).toBeUndefined();
  });
});
