/**
 * A small xDS test client over real gRPC (grpc-js + the Envoy protos): opens SotW or delta streams,
 * sends requests as plain objects, and reads responses with resources decoded to JSON.
 */
import * as grpc from '@grpc/grpc-js';
import { messageType } from '../../src/xds/protos.js';

export const ADS_SOTW = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
export const ADS_DELTA = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

/** A node as the first request carries it. */
export function testNode(id: string, metadata: Record<string, string> = {}): Record<string, unknown> {
  return {
    id,
    cluster: 'test',
    locality: { region: 'us-east', zone: 'us-east-1a' },
    metadata: { fields: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, { stringValue: v }])) },
    user_agent_name: 'xds-test-client',
  };
}

/** Call metadata carrying one `x-identity` header (what the tests' authenticators read). */
export function identityMetadata(id: string): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set('x-identity', id);
  return m;
}

export interface DecodedResource {
  readonly name: string;
  readonly version?: string;
  readonly json: Record<string, unknown>;
}

export interface SotwResponse {
  readonly version_info: string;
  readonly type_url: string;
  readonly nonce: string;
  readonly resources: DecodedResource[];
  readonly names: string[];
}

export interface DeltaResponse {
  readonly system_version_info: string;
  readonly type_url: string;
  readonly nonce: string;
  readonly resources: DecodedResource[];
  readonly names: string[];
  readonly removed: string[];
}

const conv = { longs: String, enums: String, defaults: false, json: true, arrays: true };

function decodeAny(any: { type_url: string; value: Uint8Array }): Record<string, unknown> {
  const t = messageType(any.type_url.slice(any.type_url.lastIndexOf('/') + 1));
  return t.toObject(t.decode(any.value), conv) as Record<string, unknown>;
}

function nameOf(json: Record<string, unknown>): string {
  return String(json.name ?? json.cluster_name ?? '');
}

function decodeSotw(buf: Buffer): SotwResponse {
  const t = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const m = t.toObject(t.decode(buf), { ...conv, json: false }) as { version_info?: string; type_url?: string; nonce?: string; resources?: { type_url: string; value: Uint8Array }[] };
  const resources = (m.resources ?? []).map((a) => {
    const json = decodeAny(a);
    return { name: nameOf(json), json };
  });
  return { version_info: m.version_info ?? '', type_url: m.type_url ?? '', nonce: m.nonce ?? '', resources, names: resources.map((r) => r.name).sort() };
}

function decodeDelta(buf: Buffer): DeltaResponse {
  const t = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
  const m = t.toObject(t.decode(buf), { ...conv, json: false }) as {
    system_version_info?: string;
    type_url?: string;
    nonce?: string;
    removed_resources?: string[];
    resources?: { name: string; version: string; resource: { type_url: string; value: Uint8Array } }[];
  };
  const resources = (m.resources ?? []).map((r) => ({ name: r.name, version: r.version, json: decodeAny(r.resource) }));
  return {
    system_version_info: m.system_version_info ?? '',
    type_url: m.type_url ?? '',
    nonce: m.nonce ?? '',
    resources,
    names: resources.map((r) => r.name).sort(),
    removed: [...(m.removed_resources ?? [])].sort(),
  };
}

/** A bidirectional stream with a queue of decoded responses and the final status. */
class TestStream<Res> {
  private readonly queue: Res[] = [];
  private waiters: ((r: Res) => void)[] = [];
  readonly status: Promise<grpc.StatusObject>;
  ended = false;

  constructor(
    private readonly call: grpc.ClientDuplexStream<Buffer, Res>,
  ) {
    call.on('data', (r: Res) => {
      const w = this.waiters.shift();
      if (w) w(r);
      else this.queue.push(r);
    });
    this.status = new Promise((resolve) => {
      call.on('status', (s: grpc.StatusObject) => {
        this.ended = true;
        resolve(s);
      });
    });
    call.on('error', () => undefined);
  }

  protected write(buf: Buffer): void {
    this.call.write(buf);
  }

  /** Next response, or throws after timeoutMs. */
  next(timeoutMs = 3000): Promise<Res> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no xDS response within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (r: Res): void => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push(waiter);
    });
  }

  /** Resolves if no response arrives within ms; rejects with the unexpected response otherwise. */
  async none(ms = 300): Promise<void> {
    const r = await this.next(ms).then(
      (x) => x,
      () => undefined,
    );
    if (r !== undefined) throw new Error(`unexpected xDS response: ${JSON.stringify(r).slice(0, 300)}`);
  }

  /** Responses received and not yet read. */
  get pending(): number {
    return this.queue.length;
  }

  close(): void {
    this.call.cancel();
  }

  /** Half-closes the client side. */
  end(): void {
    this.call.end();
  }
}

export interface SotwRequestInit {
  typeUrl: string;
  names?: string[];
  nonce?: string;
  version?: string;
  node?: Record<string, unknown>;
  error?: string;
}

/** SotW stream: requests with resource_names, responses with full/subscribed sets. */
export class SotwTestStream extends TestStream<SotwResponse> {
  send(r: SotwRequestInit): void {
    const t = messageType('envoy.service.discovery.v3.DiscoveryRequest');
    const msg = t.fromObject({
      type_url: r.typeUrl,
      resource_names: r.names ?? [],
      response_nonce: r.nonce ?? '',
      version_info: r.version ?? '',
      ...(r.node ? { node: r.node } : {}),
      ...(r.error ? { error_detail: { code: 3, message: r.error } } : {}),
    });
    this.write(Buffer.from(t.encode(msg).finish()));
  }

  /** ACKs a response (same names as given). */
  ack(res: SotwResponse, names: string[] = []): void {
    this.send({ typeUrl: res.type_url, names, nonce: res.nonce, version: res.version_info });
  }

  /** Sends raw bytes (for malformed-input tests). */
  sendRaw(buf: Buffer): void {
    this.write(buf);
  }
}

export interface DeltaRequestInit {
  typeUrl: string;
  subscribe?: string[];
  unsubscribe?: string[];
  initial?: Record<string, string>;
  nonce?: string;
  node?: Record<string, unknown>;
  error?: string;
}

/** Delta stream. */
export class DeltaTestStream extends TestStream<DeltaResponse> {
  send(r: DeltaRequestInit): void {
    const t = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
    const msg = t.fromObject({
      type_url: r.typeUrl,
      resource_names_subscribe: r.subscribe ?? [],
      resource_names_unsubscribe: r.unsubscribe ?? [],
      initial_resource_versions: r.initial ?? {},
      response_nonce: r.nonce ?? '',
      ...(r.node ? { node: r.node } : {}),
      ...(r.error ? { error_detail: { code: 3, message: r.error } } : {}),
    });
    this.write(Buffer.from(t.encode(msg).finish()));
  }

  ack(res: DeltaResponse): void {
    this.send({ typeUrl: res.type_url, nonce: res.nonce });
  }
}

const raw = (b: Buffer): Buffer => b;

/** A gRPC connection to the xDS server under test. */
export class XdsTestClient {
  readonly client: grpc.Client;

  constructor(address: string, options: grpc.ChannelOptions = {}) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), options);
  }

  /** Opens a SotW stream on `path` (default ADS). */
  sotw(path = ADS_SOTW, metadata = new grpc.Metadata()): SotwTestStream {
    return new SotwTestStream(this.client.makeBidiStreamRequest(path, raw, decodeSotw, metadata));
  }

  /** Opens a delta stream on `path` (default delta ADS). */
  delta(path = ADS_DELTA, metadata = new grpc.Metadata()): DeltaTestStream {
    return new DeltaTestStream(this.client.makeBidiStreamRequest(path, raw, decodeDelta, metadata));
  }

  /** A unary Fetch* call (e.g. `/envoy.service.cluster.v3.ClusterDiscoveryService/FetchClusters`); rejects with the gRPC error. */
  fetch(path: string, r: SotwRequestInit | Buffer, metadata = new grpc.Metadata()): Promise<SotwResponse> {
    let bytes: Buffer;
    if (Buffer.isBuffer(r)) bytes = r;
    else {
      const t = messageType('envoy.service.discovery.v3.DiscoveryRequest');
      bytes = Buffer.from(t.encode(t.fromObject({ type_url: r.typeUrl, resource_names: r.names ?? [], version_info: r.version ?? '', ...(r.node ? { node: r.node } : {}) })).finish());
    }
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(path, raw, decodeSotw, bytes, metadata, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res!)));
    });
  }

  close(): void {
    this.client.close();
  }
}
