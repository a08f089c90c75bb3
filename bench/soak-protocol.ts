/** Messages between the soak scenario and its forked crossmesh server process. */
import type { ProcessSample } from './process-sampler.js';
import type { SoakTopology } from './soak-discovery.js';

/** How a soak server process runs (passed as one JSON argument). */
export interface SoakServerOptions {
  /** 'load': endpoint changes at `rate` per second; 'idle': none (the baseline). */
  readonly mode: 'load' | 'idle';
  readonly seconds: number;
  readonly rate: number;
  readonly sampleMs: number;
  readonly topology: SoakTopology;
  /** How long after the last change every stream must have ACKed what is current. */
  readonly settleTimeoutMs: number;
}

/** What one soak run measured in the server process. */
export interface SoakResult {
  readonly samples: readonly ProcessSample[];
  readonly streamsAtStart: number;
  readonly streamsAtEnd: number;
  readonly updatesApplied: number;
  /** Model updates they were applied in (a busy loop makes fewer, larger ones). */
  readonly updateBatches: number;
  /** Seconds over which the updates were applied. */
  readonly updateSeconds: number;
  /** Streams that, at the end, had ACKed the current CDS and EDS content of their groups. */
  readonly upToDate: number;
  /** From the last change until every stream was up to date (`settled`), or until the check gave up after `settleTimeoutMs`. */
  readonly settleMs: number;
  readonly settled: boolean;
  /** Responses written over the measured window (and the settling after it), summed over streams. */
  readonly responses: number;
}

export type SoakServerToRunner =
  | { type: 'listening'; port: number; edsNames: string[] }
  | { type: 'done'; result: SoakResult }
  | { type: 'error'; message: string };

export type RunnerToSoakServer = { type: 'start' } | { type: 'exit' };
