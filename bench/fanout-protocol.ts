/** Messages between the fan-out (and soak) scenarios and their forked server and client processes. */
import { ENDPOINT_TYPE } from '../src/xds/types.js';

/**
 * Which server a fan-out server process runs: crossmesh, a bare grpc-js server writing pre-encoded
 * bytes (both forked Node processes), or go-control-plane (a Go child driven over stdin/stdout).
 */
export type FanoutServerMode = 'crossmesh' | 'baseline' | 'go-control-plane';

/** The EDS resource every simulated proxy subscribes to. */
export const FANOUT_RESOURCE = 'outbound|8080||svc.default.svc.cluster.local';

/** What the simulated proxies of a client process are and subscribe to (SotW ADS). */
export interface ClientProfile {
  /** node.id of stream i is `${nodePrefix}${i}`. */
  readonly nodePrefix: string;
  /** node.locality.zone of stream i is zones[i % zones.length] (region us-east). */
  readonly zones: readonly string[];
  /** One request per entry opens each stream (the first carries the node); responses are ACKed with their type's names. */
  readonly subscriptions: readonly { readonly typeUrl: string; readonly names: readonly string[] }[];
  /**
   * HTTP/2 receive window of each connection and stream, bytes (default Node's 64 KiB). With 100
   * streams sharing a connection, 64 KiB holds a dozen multi-KiB responses: the client's window
   * updates, not the server, would then set the pace.
   */
  readonly flowControlWindow?: number;
}

/** The fan-out's proxies: one EDS name each. */
export const FANOUT_PROFILE: ClientProfile = { nodePrefix: 'c1/bench/proxy-', zones: ['us-east-1a'], subscriptions: [{ typeUrl: ENDPOINT_TYPE, names: [FANOUT_RESOURCE] }] };

/** The ClusterLoadAssignment every server pushes: 10 endpoints whose addresses depend on `generation`. */
export function fanoutAssignment(generation: number): object {
  return {
    cluster_name: FANOUT_RESOURCE,
    endpoints: [
      {
        locality: { region: 'us-east', zone: 'us-east-1a' },
        load_balancing_weight: { value: 1 },
        lb_endpoints: Array.from({ length: 10 }, (_, i) => ({
          endpoint: { address: { socket_address: { address: `10.${generation % 250}.0.${i + 1}`, port_value: 8080 } } },
          health_status: 'HEALTHY',
        })),
      },
    ],
  };
}

/** memoryBytes: the runtime's live memory after GC (Node heapUsed+external, Go HeapAlloc+StackInuse); rssBytes: resident set. */
export type ServerToRunner =
  | { type: 'listening'; port: number; memoryBytes: number; rssBytes: number }
  | { type: 'memory'; memoryBytes: number; rssBytes: number; streams: number }
  | { type: 'converged'; ms: number; acks: number }
  | { type: 'error'; message: string };

/**
 * `resource` (base64 of the Any bytes crossmesh encodes for fanoutAssignment) is read only by the
 * go-control-plane server, which has no encoder of crossmesh's own; the Node servers build it.
 */
export type RunnerToServer =
  | { type: 'init'; resource: string }
  | { type: 'measure-idle' }
  | { type: 'change'; expectedAcks: number; timeoutMs: number; resource?: string }
  | { type: 'exit' };

/** What a client process has seen so far, summed over its streams. */
export interface ClientsReport {
  readonly type: 'report';
  /** Streams that have not ended (no status received from the server). */
  readonly open: number;
  /** Streams that ended, and the first few reasons. */
  readonly ended: number;
  readonly endReasons: readonly string[];
  readonly responses: number;
}

/** Before every stream had its first responses, any stream failure is an `error`; later ones are only counted (see `report`). */
export type ClientsToRunner = { type: 'ready'; streams: number; ms: number } | ClientsReport | { type: 'error'; message: string };

export type RunnerToClients = { type: 'exit' } | { type: 'report' };
