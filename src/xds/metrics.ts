/** Prometheus metrics of the xDS server, registered once in prom-client's default registry. */
import { Counter, Gauge } from 'prom-client';
import { TypeHistogram } from './type-histogram.js';
import { TYPE_SHORT_NAME, type TypeUrl } from './types.js';

/** Streams currently open, by mode (sotw/delta). */
export const connectedStreams = new Gauge({
  name: 'crossmesh_xds_connected_streams',
  help: 'xDS streams currently connected (one proxy may open several without ADS)',
  labelNames: ['mode'] as const,
});

/** Pushes counted on the push path, handed to pushesTotal when it is read (a labelled inc hashes its label set). */
const unreportedPushes = new Map<TypeUrl, number>();

/** Responses written, by resource type. */
export const pushesTotal = new Counter({
  name: 'crossmesh_xds_pushes_total',
  help: 'xDS responses written to streams',
  labelNames: ['type'] as const,
  collect() {
    for (const [t, n] of unreportedPushes) this.inc({ type: TYPE_SHORT_NAME[t] }, n);
    unreportedPushes.clear();
  },
});

/** NACKs received, by resource type. */
export const nacksTotal = new Counter({
  name: 'crossmesh_xds_nacks_total',
  help: 'xDS responses rejected by a proxy (request with error_detail)',
  labelNames: ['type'] as const,
});

/** Time from a resource change in the cache (start of the debounce window) to the response being written. */
export const pushLatency = new TypeHistogram('crossmesh_xds_push_latency_seconds', 'Time from a cache change to the response carrying it being written to a stream', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);

/** Unary Fetch* requests answered, by resource type and gRPC status (`OK` or the error code's name). */
export const fetchesTotal = new Counter({
  name: 'crossmesh_xds_fetches_total',
  help: 'Unary xDS Fetch* requests, by type and result',
  labelNames: ['type', 'code'] as const,
});

/** Streams refused or left without configuration, by reason. */
export const streamErrorsTotal = new Counter({
  name: 'crossmesh_xds_stream_errors_total',
  help: 'xDS streams ended with an error or left unconfigured',
  labelNames: ['reason'] as const,
});

/** Counts one response of type `t` written. */
export function countPush(t: TypeUrl): void {
  unreportedPushes.set(t, (unreportedPushes.get(t) ?? 0) + 1);
}
