/**
 * Workloads whose sidecar has no transparent capture (`spec.sidecar.inboundPort`, e.g. under Docker
 * without iptables): peers must connect to the sidecar's inbound listener, while the sidecar still
 * forwards to the app on 127.0.0.1:targetPort.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/loader.js';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { StaticDiscovery, applyConfig } from '../../src/discovery/static/static-discovery.js';
import { ModelStore } from '../../src/model/store.js';
import { translateProxy, resolveProxy } from '../../src/translate/index.js';
import { tempDir } from '../config/helpers.js';

const MESH = (sidecar: string) => `apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata: {name: c1}
spec: {network: n1, locality: {region: r1, zone: z1}}
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata: {name: web, namespace: default, cluster: c1}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: web-0, namespace: default, cluster: c1}
spec: {address: 127.0.1.10, labels: {app: web}, serviceAccount: web${sidecar}}
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata: {name: client-0, namespace: default, cluster: c1}
spec: {address: 127.0.1.20, labels: {app: client}, serviceAccount: client}
`;

async function translate(sidecar: string, nodeId: string) {
  const tmp = tempDir();
  try {
    tmp.write('mesh.yaml', MESH(sidecar));
    const r = await loadConfig([tmp.dir]);
    expect(r.errors.map((e) => e.message)).toEqual([]);
    const store = new ModelStore();
    applyConfig(store, new StaticDiscovery(r.config!), r.config!);
    const proxy = resolveProxy(store.current, nodeId, 'sidecar');
    if (proxy instanceof Error) throw proxy;
    return translateProxy(store.current, proxy);
  } finally {
    tmp.remove();
  }
}

type Cla = { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[] };
const WEB = 'outbound|80||web.default.svc.cluster.local';

function ports(cla: unknown): string[] {
  return (cla as Cla).endpoints.flatMap((l) => l.lb_endpoints.map((e) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`));
}

describe('Workload spec.sidecar.inboundPort', () => {
  it('with transparent capture (default), peers connect to the target port', async () => {
    const r = await translate('', 'c1/default/client-0');
    expect(ports(r.endpoints.get(WEB))).toEqual(['127.0.1.10:8080']);
  });

  it('without it, peers connect to the sidecar inbound port and the sidecar forwards to the app port', async () => {
    const client = await translate(', sidecar: {inboundPort: 15006}', 'c1/default/client-0');
    expect(ports(client.endpoints.get(WEB))).toEqual(['127.0.1.10:15006']);
    const server = await translate(', sidecar: {inboundPort: 15006}', 'c1/default/web-0');
    const inbound = server.clusters.get('inbound|8080||') as { load_assignment: Cla } | undefined;
    expect(inbound).toBeDefined();
    expect(ports(inbound!.load_assignment)).toEqual(['127.0.0.1:8080']);
  });

  it('rejects a bad inbound port with file and line', async () => {
    const tmp = tempDir();
    try {
      tmp.write('mesh.yaml', MESH(', sidecar: {inboundPort: 70000}'));
      const r = await loadConfig([tmp.dir]);
      expect(r.errors.map(formatDiagnostic)).toEqual([expect.stringMatching(/mesh\.yaml:14: Workload web-0: spec\.sidecar\.inboundPort: expected a port number 1\.\.65535$/)]);
    } finally {
      tmp.remove();
    }
  });
});
