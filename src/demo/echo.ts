/**
 * The demo's one gRPC method, `crossmesh.demo.Echo/Who`: every workload answers with where it runs
 * (cluster, zone, workload, version), so a caller can see which backend its xDS config chose.
 * JSON on the wire keeps the demo free of generated code.
 */
import * as grpc from '@grpc/grpc-js';

/** Full method path. */
export const WHO_PATH = '/crossmesh.demo.Echo/Who';

/** What a workload answers. */
export interface WhoAnswer {
  readonly cluster: string;
  readonly zone: string;
  readonly workload: string;
  readonly version: string;
}

const serialize = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const deserialize = (b: Buffer): unknown => JSON.parse(b.toString('utf8'));

/** The service definition to `addService` on a server. */
export const echoService: grpc.ServiceDefinition = {
  Who: {
    path: WHO_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: serialize,
    requestDeserialize: deserialize,
    responseSerialize: serialize,
    responseDeserialize: deserialize,
    originalName: 'Who',
  },
};

/** The implementation: always answers `answer`. */
export function echoImplementation(answer: WhoAnswer): grpc.UntypedServiceImplementation {
  return { Who: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, answer) };
}

/** One call of `Who` with a deadline. */
export function callWho(client: grpc.Client, timeoutMs = 2000): Promise<WhoAnswer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(WHO_PATH, serialize, deserialize as (b: Buffer) => WhoAnswer, {}, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}
