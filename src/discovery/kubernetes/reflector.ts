/**
 * List-then-watch loop for one resource kind of one cluster (client-go's Reflector, in small).
 *
 * - list (paged) → hand the full set over → watch from the list's resourceVersion;
 * - a watch that ends or drops resumes from the last resourceVersion seen (events and bookmarks);
 * - 410 Gone (HTTP or ERROR event) → relist;
 * - a request that fails (unreachable, HTTP error, timeout) → report the failure, back off
 *   (capped exponential), and relist when the server answers again.
 * The loop never throws; stop() cancels the request in flight.
 */
import type * as k8s from '@kubernetes/client-node';
import { log } from '../../log.js';
import type { KubeObject, ResourceApi, ResourceKind } from './api-resources.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { KubeApiError, runWatch, type WatchEventType } from './watch-stream.js';

export type ListReason = 'initial' | 'gone' | 'recovery';

/** What the reflector tells its owner; every callback is synchronous and must not throw. */
export interface ReflectorHandlers<T, K extends string = ResourceKind> {
  listStarted(kind: K, reason: ListReason): void;
  /** A complete list: the kind's whole current set. */
  listed(kind: K, items: T[], reason: ListReason): void;
  event(kind: K, type: Exclude<WatchEventType, 'BOOKMARK'>, object: T): void;
  failed(kind: K, error: Error): void;
}

export interface ReflectorTimings {
  readonly backoff: BackoffOptions;
  readonly requestTimeoutMs: number;
  readonly watchTimeoutSeconds: number;
  readonly pageSize: number;
}

/** A watch that ends this quickly without a single event is not progress; back off before the next one. */
const QUICK_END_MS = 1000;

function statusCodeOf(err: unknown): number | undefined {
  const e = err as { statusCode?: number; code?: unknown };
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.code === 'number') return e.code; // ApiException from the generated clients
  return undefined;
}

/** The message of a Kubernetes Status body, which the generated clients hand over as unparsed text. */
function statusBodyMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const message = (parsed as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' && message !== '' ? message : undefined;
}

function describe(err: unknown): string {
  const code = statusCodeOf(err);
  const e = err as { body?: unknown; message?: string; cause?: { code?: string } };
  // ApiException messages embed full response headers; keep what a human needs, which for an
  // RBAC denial is the server's own sentence naming the user, verb and resource.
  const serverMessage = statusBodyMessage(e?.body);
  if (code !== undefined && serverMessage) return `HTTP ${code}: ${serverMessage}`;
  if (code !== undefined && err instanceof Error && !(err instanceof KubeApiError)) return `HTTP ${code}`;
  const msg = e?.message ?? String(err);
  return msg.split('\n')[0] ?? msg;
}

/** List-then-watch of one kind; `K` names the kinds its owner watches (discovery's four by default). */
export class Reflector<T extends KubeObject, K extends string = ResourceKind> {
  private resourceVersion = '';
  private stopped = false;
  private readonly stopController = new AbortController();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private listsDone = 0;

  constructor(
    private readonly kc: k8s.KubeConfig,
    private readonly api: ResourceApi<T, K>,
    private readonly handlers: ReflectorHandlers<T, K>,
    private readonly timings: ReflectorTimings,
  ) {}

  get kind(): K {
    return this.api.kind;
  }

  /** The resourceVersion the next watch resumes from. */
  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  /** Starts the loop in the background. */
  start(): void {
    this.loop ??= this.run().catch((err: unknown) => {
      log.error({ kind: this.api.kind, err: describe(err) }, 'kubernetes reflector loop ended unexpectedly');
    });
  }

  /** Cancels whatever is in flight and waits for the loop to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort();
    this.wake?.();
    await this.loop;
  }

  /** Cuts a backoff wait short (another kind of the same cluster just reached the server). */
  retryNow(): void {
    this.wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  private async run(): Promise<void> {
    let needList = true;
    let reason: ListReason = 'initial';
    let failures = 0;
    let quickEnds = 0;
    while (!this.stopped) {
      try {
        if (needList) {
          this.handlers.listStarted(this.api.kind, reason);
          const { items, resourceVersion } = await this.listAll();
          if (this.stopped) return;
          this.resourceVersion = resourceVersion;
          needList = false;
          failures = 0;
          this.listsDone++;
          this.handlers.listed(this.api.kind, items, reason);
        }
        const started = Date.now();
        const outcome = await runWatch(this.kc, {
          path: this.api.watchPath,
          resourceVersion: this.resourceVersion,
          timeoutSeconds: this.timings.watchTimeoutSeconds,
          connectTimeoutMs: this.timings.requestTimeoutMs,
          maxDurationMs: this.timings.watchTimeoutSeconds * 1000 + this.timings.requestTimeoutMs,
          signal: this.stopController.signal,
          onEvent: (type, object) => this.onWatchEvent(type, object as T),
        });
        if (this.stopped) return;
        log.debug({ kind: this.api.kind, end: outcome.end, reason: outcome.reason, rv: this.resourceVersion }, 'kubernetes watch ended');
        if (outcome.end === 'gone') {
          needList = true;
          reason = 'gone';
        }
        if (outcome.events === 0 && Date.now() - started < QUICK_END_MS) {
          await this.sleep(backoffDelay(this.timings.backoff, quickEnds++));
        } else {
          quickEnds = 0;
        }
      } catch (err) {
        if (this.stopped) return;
        if (statusCodeOf(err) === 410) {
          needList = true;
          reason = 'gone';
          await this.sleep(backoffDelay(this.timings.backoff, quickEnds++));
          continue;
        }
        const error = new KubeApiError(`${this.api.kind}: ${describe(err)}`, statusCodeOf(err));
        log.warn({ kind: this.api.kind, err: error.message }, 'kubernetes API request failed; retrying');
        this.handlers.failed(this.api.kind, error);
        // After an outage the cache may have missed anything; start again from a full list.
        needList = true;
        reason = this.listsDone > 0 ? 'recovery' : 'initial';
        await this.sleep(backoffDelay(this.timings.backoff, failures++));
      }
    }
  }

  private onWatchEvent(type: WatchEventType, object: T): void {
    const rv = object?.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (type === 'BOOKMARK') return;
    this.handlers.event(this.api.kind, type, object);
  }

  /** Lists every page; an expired continue token (410) restarts the list once from the beginning. */
  private async listAll(): Promise<{ items: T[]; resourceVersion: string }> {
    for (let attempt = 0; ; attempt++) {
      try {
        const items: T[] = [];
        let continueToken: string | undefined;
        let resourceVersion = '';
        do {
          const signal = AbortSignal.any([this.stopController.signal, AbortSignal.timeout(this.timings.requestTimeoutMs)]);
          const page = await this.api.list({ limit: this.timings.pageSize, signal, ...(continueToken ? { continueToken } : {}) });
          items.push(...page.items);
          // The first page's resourceVersion is the snapshot every later page belongs to.
          if (!resourceVersion) resourceVersion = page.resourceVersion;
          continueToken = page.continueToken;
        } while (continueToken);
        return { items, resourceVersion };
      } catch (err) {
        if (statusCodeOf(err) === 410 && attempt === 0) continue;
        if ((err as Error)?.name === 'AbortError' || (err as Error)?.name === 'TimeoutError') {
          if (this.stopped) throw err;
          throw new KubeApiError(`list timed out after ${this.timings.requestTimeoutMs} ms`);
        }
        throw err;
      }
    }
  }
}
