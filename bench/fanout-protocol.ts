/** Messages between the fan-out scenario and its forked server and client processes. */

/** Which server a fan-out server process runs. */
export type FanoutServerMode = 'crossmesh' | 'baseline';

/** The EDS resource every simulated proxy subscribes to. */
export const FANOUT_RESOURCE = 'outbound|8080||svc.default.svc.cluster.local';

export type ServerToRunner =
  | { type: 'listening'; port: number; memoryBytes: number }
  | { type: 'memory'; memoryBytes: number; streams: number }
  | { type: 'converged'; ms: number; acks: number }
  | { type: 'error'; message: string };

export type RunnerToServer = { type: 'measure-idle' } | { type: 'change'; expectedAcks: number; timeoutMs: number } | { type: 'exit' };

export type ClientsToRunner = { type: 'ready'; streams: number; ms: number } | { type: 'error'; message: string };

export type RunnerToClients = { type: 'exit' };
