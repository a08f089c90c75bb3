/** Messages between the fan-out scenario and its server and client processes. */

/**
 * Which server a fan-out server process runs: crossmesh, a bare grpc-js server writing pre-encoded
 * bytes (both forked Node processes), or go-control-plane (a Go child driven over stdin/stdout).
 */
export type FanoutServerMode = 'crossmesh' | 'baseline' | 'go-control-plane';

/** The EDS resource every simulated proxy subscribes to. */
export const FANOUT_RESOURCE = 'outbound|8080||svc.default.svc.cluster.local';

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

export type ClientsToRunner = { type: 'ready'; streams: number; ms: number } | { type: 'error'; message: string };

export type RunnerToClients = { type: 'exit' };
