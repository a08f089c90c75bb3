/**
 * The wire shapes between a test (host namespace) and its in-namespace driver (driver-main.ts):
 * JSON over HTTP on a unix socket, which crosses network namespaces because it is a file path.
 */

/** `POST /requests`: `count` requests to `url`, `concurrency` at a time, from inside the namespace. */
export interface RequestsSpec {
  readonly url: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Request body (text). */
  readonly body?: string;
  /** Default 1. */
  readonly count?: number;
  /** Default 1. */
  readonly concurrency?: number;
  /** Bound of each request, connection included (default 2000 ms). */
  readonly timeoutMs?: number;
  /** Reuse connections (default false: one connection per request). */
  readonly keepAlive?: boolean;
  /** Answer bodies are cut at this many bytes (default 4096). */
  readonly maxBodyBytes?: number;
  /** For https URLs. */
  readonly tls?: {
    readonly ca?: string;
    readonly cert?: string;
    readonly key?: string;
    readonly servername?: string;
    readonly rejectUnauthorized?: boolean;
  };
}

/** What one request gave: a status and body, or the error (an errno code such as ENETUNREACH, or `timeout`). */
export interface RequestResult {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string | string[] | undefined>>;
  readonly body?: string;
  readonly truncated?: boolean;
  readonly latencyMs: number;
  readonly error?: string;
}

/** `POST /connect`: one TCP connection attempt. */
export interface ConnectSpec {
  readonly host: string;
  readonly port: number;
  /** Default 2000 ms. */
  readonly timeoutMs?: number;
}

export interface ConnectResult {
  readonly ok: boolean;
  readonly latencyMs: number;
  readonly error?: string;
}

/** `GET /resolve?name=`: what getaddrinfo (hosts file first) answers inside the namespace. */
export interface ResolveResult {
  readonly addresses: readonly string[];
  readonly error?: string;
}
