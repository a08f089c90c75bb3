/**
 * Kubernetes service account tokens, verified by the API server of the cluster the node claims
 * (a TokenReview with audience "crossmesh", using that cluster's `discovery.kubernetes`
 * kubeconfig). Only `system:serviceaccount:<ns>:<sa>` users are accepted. An unreachable or
 * failing API server means "refuse", never "allow". Positive answers are cached briefly (keyed by
 * a hash of the token, never the token itself) so reconnect storms do not hammer the API server.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as k8s from '@kubernetes/client-node';
import { loadClusterKubeConfig } from '../../discovery/kubernetes/kubeconfig.js';
import type { Cluster } from '../../model/types.js';
import { TOKEN_AUDIENCE } from './tokens.js';

/** The outcome of a review. */
export type TokenReviewOutcome =
  | { readonly authenticated: true; readonly namespace: string; readonly serviceAccount: string; readonly username: string }
  /** `rejected`: the API server said no; `unavailable`: it could not be asked (refuse, never allow). */
  | { readonly authenticated: false; readonly reason: 'rejected' | 'unavailable'; readonly message: string };

/** Reviews a bearer token against one cluster's API server. */
export interface TokenReviewer {
  review(cluster: Cluster, token: string): Promise<TokenReviewOutcome>;
}

export interface KubernetesTokenReviewerOptions {
  /** Audience the token must be for (default "crossmesh"). */
  readonly audience?: string;
  /** Per-request limit (default 5 s). */
  readonly timeoutMs?: number;
  /** How long a positive answer is reused (default 30 s; 0 disables caching). */
  readonly cacheTtlMs?: number;
  /** Kubeconfig loader (default: the cluster's `discovery.kubernetes` settings). */
  readonly loadKubeConfig?: (cluster: Cluster) => k8s.KubeConfig;
  readonly now?: () => number;
}

const MAX_CACHE = 10_000;
const MAX_BODY = 64 * 1024;
const SA_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  audiences?: string[];
  user?: { username?: string };
}

/** TokenReview over HTTP(S) with the cluster's kubeconfig credentials. */
export class KubernetesTokenReviewer implements TokenReviewer {
  private readonly audience: string;
  private readonly timeoutMs: number;
  private readonly cacheTtlMs: number;
  private readonly loadKubeConfig: (cluster: Cluster) => k8s.KubeConfig;
  private readonly now: () => number;
  private readonly cache = new Map<string, { outcome: TokenReviewOutcome; until: number }>();
  private readonly configs = new Map<string, { discovery: string; kc: k8s.KubeConfig }>();

  constructor(o: KubernetesTokenReviewerOptions = {}) {
    this.audience = o.audience ?? TOKEN_AUDIENCE;
    this.timeoutMs = o.timeoutMs ?? 5000;
    this.cacheTtlMs = o.cacheTtlMs ?? 30_000;
    this.loadKubeConfig = o.loadKubeConfig ?? ((c) => loadClusterKubeConfig(c).kubeConfig);
    this.now = o.now ?? Date.now;
  }

  /** Reviews `token` against `cluster`'s API server. */
  async review(cluster: Cluster, token: string): Promise<TokenReviewOutcome> {
    if (!cluster.discovery?.kubernetes) {
      return { authenticated: false, reason: 'rejected', message: `cluster ${cluster.name} has no Kubernetes API server configured (discovery.kubernetes); use a crossmesh token (crossmesh token --node ...)` };
    }
    const key = `${cluster.name}\u0000${createHash('sha256').update(token).digest('hex')}`;
    const now = this.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.outcome;
    if (hit) this.cache.delete(key);

    let kc: k8s.KubeConfig;
    try {
      kc = this.kubeConfigFor(cluster);
    } catch (e) {
      return { authenticated: false, reason: 'unavailable', message: (e as Error).message };
    }
    let status: TokenReviewStatus;
    try {
      status = await this.post(kc, token);
    } catch (e) {
      return { authenticated: false, reason: 'unavailable', message: `TokenReview against cluster ${cluster.name} failed: ${(e as Error).message}` };
    }
    const outcome = this.judge(cluster, status);
    if (outcome.authenticated && this.cacheTtlMs > 0) {
      if (this.cache.size >= MAX_CACHE) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, { outcome, until: now + this.cacheTtlMs });
    }
    return outcome;
  }

  private judge(cluster: Cluster, s: TokenReviewStatus): TokenReviewOutcome {
    if (s.authenticated !== true) {
      return { authenticated: false, reason: 'rejected', message: `the API server of cluster ${cluster.name} did not authenticate the token${s.error ? `: ${s.error}` : ''}` };
    }
    // An API server that ignores audiences returns none: the token might be meant for someone else.
    if (!Array.isArray(s.audiences) || !s.audiences.includes(this.audience)) {
      return { authenticated: false, reason: 'rejected', message: `token is not for audience "${this.audience}" (API server of cluster ${cluster.name} reported ${JSON.stringify(s.audiences ?? [])})` };
    }
    const username = s.user?.username ?? '';
    const m = SA_USER.exec(username);
    if (!m) return { authenticated: false, reason: 'rejected', message: `token of cluster ${cluster.name} belongs to "${username}", not a service account` };
    return { authenticated: true, namespace: m[1]!, serviceAccount: m[2]!, username };
  }

  private kubeConfigFor(cluster: Cluster): k8s.KubeConfig {
    const discovery = JSON.stringify(cluster.discovery?.kubernetes ?? {});
    const have = this.configs.get(cluster.name);
    if (have && have.discovery === discovery) return have.kc;
    const kc = this.loadKubeConfig(cluster);
    this.configs.set(cluster.name, { discovery, kc });
    return kc;
  }

  private async post(kc: k8s.KubeConfig, token: string): Promise<TokenReviewStatus> {
    const server = kc.getCurrentCluster()?.server;
    if (!server) throw new Error('kubeconfig has no current cluster');
    const url = new URL(`${server.replace(/\/+$/, '')}/apis/authentication.k8s.io/v1/tokenreviews`);
    const opts: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    const body = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [this.audience] } });
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<TokenReviewStatus>((resolve, reject) => {
      const req = mod.request(url, {
        method: 'POST',
        agent: opts.agent,
        headers: { ...((opts.headers as http.OutgoingHttpHeaders | undefined) ?? {}), 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body) },
        ...(opts.auth ? { auth: opts.auth } : {}),
        timeout: this.timeoutMs,
      });
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (text.length < MAX_BODY) text += c;
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        res.on('end', () => {
          clearTimeout(timer);
          if (res.statusCode !== 201 && res.statusCode !== 200) {
            reject(new Error(`HTTP ${res.statusCode}${res.statusCode === 403 ? ' (the kubeconfig user needs permission to create tokenreviews)' : ''}`));
            return;
          }
          try {
            const parsed = JSON.parse(text) as { status?: TokenReviewStatus };
            resolve(parsed.status ?? {});
          } catch {
            reject(new Error('malformed TokenReview response'));
          }
        });
      });
      req.end(body);
    });
  }
}
