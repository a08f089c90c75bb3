/** Builders for the Kubernetes objects the fake API server serves, in wire (JSON) form. */
import type { KubeJson } from './fake-kube-apiserver.js';

/** A Node with labels (topology labels decide locality). */
export function node(name: string, labels: Record<string, string> = {}): KubeJson {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels } };
}

export interface PodSpec {
  name: string;
  namespace?: string;
  ip?: string;
  /** Dual-stack: every pod IP, `podIP` being the first (overrides `ip`). */
  ips?: string[];
  labels?: Record<string, string>;
  node?: string;
  serviceAccount?: string;
  /** Ready condition: true/false, or undefined for no condition at all. */
  ready?: boolean;
  phase?: string;
  hostNetwork?: boolean;
  deleting?: boolean;
  containerPorts?: { name: string; containerPort: number }[];
}

/** A running Pod. */
export function pod(p: PodSpec): KubeJson {
  const conditions = p.ready === undefined ? [] : [{ type: 'Ready', status: p.ready ? 'True' : 'False' }];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.namespace ?? 'default',
      labels: p.labels ?? {},
      ...(p.deleting ? { deletionTimestamp: '2024-01-01T00:00:00Z' } : {}),
    },
    spec: {
      nodeName: p.node,
      serviceAccountName: p.serviceAccount,
      hostNetwork: p.hostNetwork ?? false,
      containers: [{ name: 'app', image: 'example', ports: p.containerPorts ?? [] }],
    },
    status: {
      phase: p.phase ?? 'Running',
      ...(p.ips?.length ? { podIP: p.ips[0], podIPs: p.ips.map((ip) => ({ ip })) } : p.ip ? { podIP: p.ip, podIPs: [{ ip: p.ip }] } : {}),
      conditions,
    },
  };
}

export interface ServicePortSpec {
  name?: string;
  port: number;
  targetPort?: number | string;
  appProtocol?: string;
  protocol?: string;
}

/** A ClusterIP Service (`clusterIP: 'None'` for a headless one). */
export function service(s: { name: string; namespace?: string; selector?: Record<string, string>; ports: ServicePortSpec[]; labels?: Record<string, string>; type?: string; clusterIP?: string }): KubeJson {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace ?? 'default', labels: s.labels ?? {} },
    spec: {
      type: s.type ?? 'ClusterIP',
      ...(s.clusterIP ? { clusterIP: s.clusterIP } : {}),
      ...(s.selector ? { selector: s.selector } : {}),
      ports: s.ports.map((p) => ({ protocol: p.protocol ?? 'TCP', ...p })),
    },
  };
}

export interface SliceEndpoint {
  /** The pod it is (targetRef); absent for hand-managed endpoints that are no pod. */
  pod?: string;
  ip: string;
  zone?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  node?: string;
}

/** An EndpointSlice of a Service, endpoints pointing at pods by targetRef. */
export function endpointSlice(s: {
  name: string;
  namespace?: string;
  service: string;
  ports: { name?: string; port: number; appProtocol?: string }[];
  endpoints: SliceEndpoint[];
  addressType?: 'IPv4' | 'IPv6' | 'FQDN';
  labels?: Record<string, string>;
}): KubeJson {
  const ns = s.namespace ?? 'default';
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: s.name, namespace: ns, labels: { 'kubernetes.io/service-name': s.service, ...(s.labels ?? {}) } },
    addressType: s.addressType ?? 'IPv4',
    ports: s.ports.map((p) => ({ protocol: 'TCP', ...p })),
    endpoints: s.endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ...(e.ready !== undefined ? { ready: e.ready } : {}),
        ...(e.serving !== undefined ? { serving: e.serving } : {}),
        ...(e.terminating !== undefined ? { terminating: e.terminating } : {}),
      },
      ...(e.pod ? { targetRef: { kind: 'Pod', name: e.pod, namespace: ns } } : {}),
      ...(e.node ? { nodeName: e.node } : {}),
      ...(e.zone ? { zone: e.zone } : {}),
    })),
  };
}
