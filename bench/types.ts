/** One line of the benchmark table: a figure beside the baseline measured in the same run. */
export interface BenchRow {
  readonly scenario: string;
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  /** Baseline figure measured in the same run (same unit), if this metric has one. */
  readonly baseline?: number;
  /** Human-readable target, e.g. "< 2x baseline and < 1000 ms". */
  readonly target?: string;
  /** Whether the target was met (undefined when there is no target). */
  readonly pass?: boolean;
}

/** A benchmark scenario; `run` must stop by itself and clean up everything it started. */
export interface BenchScenario {
  readonly name: string;
  readonly description: string;
  run(): Promise<BenchRow[]>;
}
