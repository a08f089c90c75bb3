/**
 * Writes each policy object's verdict back to the API server through its status subresource:
 * `status.observedGeneration` and one condition, `Accepted` (True/False, a reason, and the
 * message `crossmesh validate` prints for the same content). Only while `canWrite()` says so
 * (the replica holding the Lease): every replica judges, one writes.
 *
 * A write is made only when the status on the object differs from the one wanted, so steady
 * state costs nothing and a new leader corrects whatever its predecessor left. Writes are
 * sequential (one object at a time) and failures are retried on the next pass.
 */
import type * as k8s from '@kubernetes/client-node';
import { kubeRequest, kubeStatusMessage } from '../../discovery/kubernetes/kube-request.js';
import { log } from '../../log.js';
import { CoalescedRun } from '../../coalesced-run.js';
import { policyStatusPath, type PolicyCondition, type PolicyStatus } from './policy-objects.js';
import type { PolicyEntry } from './policy-source.js';

export const ACCEPTED = 'Accepted';
/** Condition message limit (metav1.Condition's maxLength). */
const MAX_MESSAGE = 32_768;

export interface StatusWriterOptions {
  /** The objects and their verdicts now. */
  readonly entries: () => readonly PolicyEntry[];
  /** Whether this replica may write (holds the Lease). */
  readonly canWrite: () => boolean;
  /** Retry period after a failed write (default 5 s). */
  readonly retryMs?: number;
  readonly requestTimeoutMs?: number;
}

/** The Accepted condition for a verdict; keeps `lastTransitionTime` when the status did not flip. */
export function acceptedCondition(verdict: NonNullable<PolicyEntry['verdict']>, previous: PolicyCondition | undefined, now: Date): PolicyCondition {
  const status = verdict.accepted ? 'True' : 'False';
  let message = verdict.accepted ? (verdict.messages.length ? `accepted with warnings:\n${verdict.messages.join('\n')}` : 'accepted') : verdict.messages.join('\n');
  if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE - 20)}\n... (truncated)`;
  return {
    type: ACCEPTED,
    status,
    reason: verdict.accepted ? (verdict.messages.length ? 'AcceptedWithWarnings' : 'Accepted') : 'Invalid',
    message,
    observedGeneration: verdict.generation,
    lastTransitionTime: previous?.status === status && previous.lastTransitionTime ? previous.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

/** The status wanted for an entry, or undefined when it has no verdict yet or the one on the object already says it. */
export function wantedStatus(entry: PolicyEntry, now: Date): PolicyStatus | undefined {
  const verdict = entry.verdict;
  if (!verdict) return undefined;
  const current = entry.object.status ?? {};
  const previous = current.conditions?.find((c) => c.type === ACCEPTED);
  const condition = acceptedCondition(verdict, previous, now);
  const same =
    current.observedGeneration === verdict.generation &&
    previous !== undefined &&
    previous.status === condition.status &&
    previous.reason === condition.reason &&
    previous.message === condition.message &&
    previous.observedGeneration === condition.observedGeneration;
  if (same) return undefined;
  // Conditions other than Accepted (another controller's) are kept as they are.
  const others = (current.conditions ?? []).filter((c) => c.type !== ACCEPTED);
  return { observedGeneration: verdict.generation, conditions: [...others, condition] };
}

/** Keeps the objects' status in line with their verdicts while allowed to write. */
export class PolicyStatusWriter {
  private readonly passes = new CoalescedRun(() => this.pass(), () => this.closed);
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  /** key → JSON of the last status written successfully (the watch event echoing it may not have arrived yet). */
  private readonly written = new Map<string, string>();
  private writes = 0;
  private failures = 0;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly options: StatusWriterOptions,
  ) {}

  /** Counts for status pages and tests. */
  stats(): { writes: number; failures: number } {
    return { writes: this.writes, failures: this.failures };
  }

  /** Forgets what was written (on gaining the Lease: trust only what the objects say). */
  reset(): void {
    this.written.clear();
  }

  /** Brings every object's status up to date (coalesces calls made while a pass runs). */
  sync(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return this.passes.run();
  }

  /** Stops writing; waits for a write in flight. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    await this.passes.inFlight;
  }

  private async pass(): Promise<void> {
    let failed = false;
    const live = new Set<string>();
    for (const entry of this.options.entries()) {
      live.add(entry.key);
      if (this.closed || !this.options.canWrite()) return;
      const status = wantedStatus(entry, new Date());
      if (!status) continue;
      const body = JSON.stringify(status);
      if (this.written.get(entry.key) === body) continue;
      try {
        const res = await kubeRequest(this.kc, {
          method: 'PATCH',
          path: policyStatusPath(entry.kind, entry.namespace, entry.name),
          contentType: 'application/merge-patch+json',
          body: { status },
          timeoutMs: this.options.requestTimeoutMs ?? 10_000,
        });
        if (res.status === 200) {
          this.written.set(entry.key, body);
          this.writes++;
        } else if (res.status !== 404 && res.status !== 409) {
          // 404/409: deleted or replaced meanwhile; its watch event is on the way.
          failed = true;
          this.failures++;
          log.warn({ policy: entry.key, status: res.status, err: kubeStatusMessage(res.body) }, 'writing policy status failed; will retry');
        }
      } catch (err) {
        failed = true;
        this.failures++;
        log.warn({ policy: entry.key, err: (err as Error).message }, 'writing policy status failed; will retry');
      }
    }
    for (const key of this.written.keys()) if (!live.has(key)) this.written.delete(key);
    if (failed && !this.closed) {
      clearTimeout(this.retry);
      this.retry = setTimeout(() => void this.sync(), this.options.retryMs ?? 5000);
      this.retry.unref();
    }
  }
}
