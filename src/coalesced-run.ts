/**
 * An async job that never runs twice at once: a call made while it runs is folded into one more
 * run after the current one (however many calls came), so the last call always sees a run that
 * started after it. Used where a burst of triggers (file events, watch events) must each be
 * honoured without piling up work.
 */
export class CoalescedRun {
  private running: Promise<void> | undefined;
  private again = false;

  /** `job` is the work; `stopped()` true ends the reruns (a run in flight still completes). */
  constructor(
    private readonly job: () => Promise<void>,
    private readonly stopped: () => boolean,
  ) {}

  /** Runs the job, or asks the run in flight for one more; resolves when that run has ended. */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.job();
      } while (this.again && !this.stopped());
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The run in flight, if any (to wait for it on shutdown). */
  get inFlight(): Promise<void> | undefined {
    return this.running;
  }
}
