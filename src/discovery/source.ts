/**
 * What every discovery source looks like to the wiring: it reports TopologyEvents to a sink and
 * can be stopped. Sources never build snapshots; the model store applies their events.
 */
import type { TopologyEvent } from '../model/types.js';

/** Receives a batch of events; a batch is applied to the model as one step. */
export type TopologySink = (events: readonly TopologyEvent[]) => void;

export interface DiscoverySource {
  /** For logs and status, e.g. `kubernetes:cluster1` or `static`. */
  readonly name: string;
  /** Starts reporting to `sink`; resolves once the initial state has been reported (or attempted). */
  start(sink: TopologySink): Promise<void>;
  /** Stops every watch and timer the source started. */
  stop(): Promise<void>;
}
