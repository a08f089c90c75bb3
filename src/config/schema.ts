/**
 * The schema of every configuration kind (zod, strict: unknown fields are errors). Topology kinds
 * are crossmesh's own; policy kinds are the Service Mesh Hub v1alpha2 shapes, plus a few
 * crossmesh extensions marked as such. Output is the validated raw shape; normalize.ts turns it
 * into model objects.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { HTTP_METHODS, type HttpMethod } from '../model/policies.js';
import type { Protocol } from '../model/types.js';
import { parseDuration } from './duration.js';

export const TOPOLOGY_API_VERSION = 'crossmesh.io/v1alpha1';
export const SMH_API_VERSION = 'networking.smh.solo.io/v1alpha2';

/** Accepted apiVersions per kind. */
export const API_VERSIONS: Readonly<Record<string, readonly string[]>> = {
  Cluster: [TOPOLOGY_API_VERSION],
  Service: [TOPOLOGY_API_VERSION],
  Workload: [TOPOLOGY_API_VERSION],
  Gateway: [TOPOLOGY_API_VERSION],
  VirtualMesh: [SMH_API_VERSION, TOPOLOGY_API_VERSION],
  TrafficPolicy: [SMH_API_VERSION, TOPOLOGY_API_VERSION],
  AccessPolicy: [SMH_API_VERSION, TOPOLOGY_API_VERSION],
  FailoverService: [SMH_API_VERSION, TOPOLOGY_API_VERSION],
};

const DNS_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const dnsName = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(253, { error: 'must be at most 253 characters' })
  .regex(DNS_NAME, { error: 'expected a DNS-1123 name: lowercase letters, digits, "-" and "."' });
/** C0 and C1 control characters and DEL: label and locality strings reach Envoy resources (metadata, localities) verbatim. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
/** What is wrong with `v` if it holds a control character: the first one and where it is. */
function controlCharacterProblem(v: string): string | undefined {
  const m = CONTROL_CHARACTER.exec(v);
  return m ? `must not contain control characters (U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} at character ${m.index + 1})` : undefined;
}
/** A string without control characters. */
const printable = z.string().superRefine((v, ctx) => {
  const problem = controlCharacterProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
// Keys are checked on the record (not with a key schema) so the error names the key's path and line.
const labels = z.record(z.string(), printable).superRefine((rec, ctx) => {
  for (const key of Object.keys(rec)) {
    const problem = controlCharacterProblem(key);
    if (problem) ctx.addIssue({ code: 'custom', path: [key], message: `key ${problem}` });
  }
});
const port = z
  .number({ error: 'expected a port number 1..65535' })
  .int({ error: 'expected a port number 1..65535' })
  .min(1, { error: 'expected a port number 1..65535' })
  .max(65535, { error: 'expected a port number 1..65535' });
const percent = z
  .number({ error: 'expected a number 0..100' })
  .min(0, { error: 'expected a number 0..100' })
  .max(100, { error: 'expected a number 0..100' });
const weight = z
  .number({ error: 'expected an integer 0..100' })
  .int({ error: 'expected an integer 0..100' })
  .min(0, { error: 'expected an integer 0..100' })
  .max(100, { error: 'expected an integer 0..100' });
const count = z.number({ error: 'expected a non-negative integer' }).int({ error: 'expected a non-negative integer' }).min(0, { error: 'expected a non-negative integer' });
const ipAddress = z.string().refine((s) => isIP(s) !== 0, { error: 'expected an IPv4 or IPv6 address' });
const ipv4Address = z.string().refine((s) => isIP(s) === 4, { error: 'expected an IPv4 address' });
/** An IPv4 range with room for services: /8 to /28. */
const ipv4Cidr = z.string().refine(
  (s) => {
    const [addr, bits, extra] = s.split('/');
    return extra === undefined && isIP(addr ?? '') === 4 && /^\d+$/.test(bits ?? '') && Number(bits) >= 8 && Number(bits) <= 28;
  },
  { error: 'expected an IPv4 CIDR such as 10.96.0.0/16 (prefix length 8 to 28)' },
);

/** A duration string, output in milliseconds. */
const duration = z.string({ error: 'expected a duration string such as "10s" or "250ms"' }).transform((s, ctx) => {
  const r = parseDuration(s);
  if ('error' in r) {
    ctx.addIssue({ code: 'custom', message: r.error });
    return z.NEVER;
  }
  return r.ms;
});

const PROTOCOLS: readonly Protocol[] = ['HTTP', 'HTTP2', 'GRPC', 'TCP'];
/** Protocol names, case-insensitive (SMH writes `http`). */
const protocol = z.string().transform((s, ctx) => {
  const p = s.toUpperCase() as Protocol;
  if (!PROTOCOLS.includes(p)) {
    ctx.addIssue({ code: 'custom', message: `unknown protocol "${s}": expected one of HTTP, HTTP2, GRPC, TCP` });
    return z.NEVER;
  }
  return p;
});

/** An HTTP method, written bare (`GET`) or SMH-wrapped (`{method: GET}`). */
const httpMethod = z.preprocess(
  (v) => (v && typeof v === 'object' && !Array.isArray(v) && 'method' in v ? (v as { method: unknown }).method : v),
  z.string().transform((s, ctx) => {
    const m = s.toUpperCase() as HttpMethod;
    if (!HTTP_METHODS.includes(m)) {
      ctx.addIssue({ code: 'custom', message: `unknown HTTP method "${s}": expected one of ${HTTP_METHODS.join(', ')}` });
      return z.NEVER;
    }
    return m;
  }),
);

/** Adds an issue unless exactly one of `keys` is present on `value`. */
function exactlyOne<T extends object>(keys: readonly (keyof T & string)[]) {
  return (value: T, ctx: z.RefinementCtx) => {
    const set = keys.filter((k) => value[k] !== undefined);
    if (set.length !== 1) ctx.addIssue({ code: 'custom', message: `exactly one of ${keys.join(', ')} must be set${set.length ? ` (found ${set.join(', ')})` : ''}` });
  };
}

const topologyMetadata = z.strictObject({
  name: dnsName,
  namespace: dnsName.optional(),
  cluster: dnsName,
  labels: labels.optional(),
  annotations: labels.optional(),
});
const clusterMetadata = z.strictObject({ name: dnsName, labels: labels.optional(), annotations: labels.optional() });
const policyMetadata = z.strictObject({
  name: dnsName,
  namespace: dnsName.optional(),
  labels: labels.optional(),
  annotations: labels.optional(),
});

const locality = z.strictObject({ region: printable, zone: printable.optional(), subzone: printable.optional() });

function doc<M extends z.ZodType, S extends z.ZodType>(metadata: M, spec: S) {
  return z.strictObject({ apiVersion: z.string(), kind: z.string(), metadata, spec });
}

export const clusterSchema = doc(
  clusterMetadata,
  z
    .strictObject({
      network: dnsName.optional(),
      trustDomain: z.string().regex(/^[a-zA-Z0-9._-]+$/, { error: 'expected a trust domain: letters, digits, ".", "_" and "-"' }).optional(),
      locality: locality.optional(),
      gateway: z.strictObject({ address: ipAddress, port: port.optional() }).optional(),
      serviceCIDR: ipv4Cidr.optional(),
      discovery: z
        .strictObject({ kubernetes: z.strictObject({ kubeconfig: z.string().optional(), context: z.string().optional() }).optional() })
        .optional(),
    })
    .optional(),
);

const servicePort = z.strictObject({
  name: z.string().optional(),
  port,
  targetPort: port.optional(),
  protocol: protocol.optional(),
});

export const serviceSchema = doc(
  topologyMetadata,
  z
    .strictObject({ selector: labels.optional(), clusterIP: z.string().refine((s) => s === 'None' || isIP(s) === 4, { error: 'expected an IPv4 address, or None for a headless service' }).optional(), ports: z.array(servicePort).min(1, { error: 'a service needs at least one port' }) })
    .superRefine((spec, ctx) => {
      const seenPorts = new Map<number, number>();
      const seenNames = new Map<string, number>();
      spec.ports.forEach((p, i) => {
        const dup = seenPorts.get(p.port);
        if (dup !== undefined) ctx.addIssue({ code: 'custom', path: ['ports', i, 'port'], message: `port ${p.port} already listed at ports[${dup}]` });
        else seenPorts.set(p.port, i);
        if (p.name) {
          const dupName = seenNames.get(p.name);
          if (dupName !== undefined) ctx.addIssue({ code: 'custom', path: ['ports', i, 'name'], message: `port name "${p.name}" already used at ports[${dupName}]` });
          else seenNames.set(p.name, i);
        }
      });
    }),
);

export const workloadSchema = doc(
  topologyMetadata,
  z.strictObject({
    address: ipAddress,
    labels: labels.optional(),
    serviceAccount: dnsName.optional(),
    locality: locality.optional(),
    health: z.enum(['HEALTHY', 'UNHEALTHY', 'DRAINING', 'UNKNOWN'], { error: 'expected one of HEALTHY, UNHEALTHY, DRAINING, UNKNOWN' }).optional(),
    ports: z.record(z.string().regex(/^\d+$/, { error: 'keys are service port numbers' }), port).optional(),
    // false: no sidecar runs there (a VM, a database); sidecars reach it in plaintext, never across networks.
    mesh: z.boolean().optional(),
  }),
);

export const gatewaySchema = doc(
  topologyMetadata,
  z
    .strictObject({
      type: z.enum(['EastWest', 'Ingress'], { error: 'expected EastWest or Ingress' }),
      workload: dnsName,
      port: port.optional(),
      hosts: z.array(z.string().min(1)).optional(),
      routes: z
        .array(
          z.strictObject({
            // A path, not a URL: a query or fragment can never match (and Envoy refuses them in a path_separated_prefix).
            pathPrefix: z.string().regex(/^\/[^?#]*$/, { error: 'must start with "/" and hold no "?" or "#"' }),
            service: z.strictObject({ name: dnsName, namespace: dnsName.optional(), port, cluster: dnsName.optional() }),
          }),
        )
        .optional(),
      tls: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
    })
    .superRefine((spec, ctx) => {
      if (spec.type !== 'EastWest') return;
      for (const f of ['hosts', 'routes', 'tls'] as const) {
        if (spec[f] !== undefined) ctx.addIssue({ code: 'custom', path: [f], message: `only Ingress gateways take ${f}` });
      }
    }),
);

/** skv2 ClusterObjectRef: name/namespace, optional clusterName. */
const clusterObjectRef = z.strictObject({ name: dnsName, namespace: dnsName, clusterName: dnsName.optional() });

const trafficTargetSelector = z
  .strictObject({
    kubeServiceMatcher: z
      .strictObject({ labels: labels.optional(), namespaces: z.array(dnsName).optional(), clusters: z.array(dnsName).optional() })
      .optional(),
    kubeServiceRefs: z.strictObject({ services: z.array(clusterObjectRef) }).optional(),
  })
  .superRefine(exactlyOne(['kubeServiceMatcher', 'kubeServiceRefs']));

const workloadMatcher = z.strictObject({ labels: labels.optional(), namespaces: z.array(dnsName).optional(), clusters: z.array(dnsName).optional() });
/** SMH v1alpha2 writes the matcher fields directly; later releases nest them in kubeWorkloadMatcher. Both are accepted. */
const workloadSelector = z.strictObject({
  labels: labels.optional(),
  namespaces: z.array(dnsName).optional(),
  clusters: z.array(dnsName).optional(),
  kubeWorkloadMatcher: workloadMatcher.optional(),
});

const identitySelector = z
  .strictObject({
    kubeIdentityMatcher: z.strictObject({ namespaces: z.array(dnsName).optional(), clusters: z.array(dnsName).optional() }).optional(),
    kubeServiceAccountRefs: z.strictObject({ serviceAccounts: z.array(clusterObjectRef) }).optional(),
  })
  .superRefine(exactlyOne(['kubeIdentityMatcher', 'kubeServiceAccountRefs']));

const subset = labels;
const failoverRef = z.strictObject({ name: dnsName, namespace: dnsName, subset: subset.optional() });
const weightedDestination = z
  .strictObject({
    kubeService: z.strictObject({ name: dnsName, namespace: dnsName, clusterName: dnsName.optional(), subset: subset.optional(), port: port.optional() }).optional(),
    /** The seed's (SMH 0.8/0.9) spelling. */
    failoverServiceRef: failoverRef.optional(),
    /** Later SMH releases' spelling of the same thing. */
    failoverService: failoverRef.optional(),
    weight: weight.optional(),
  })
  .superRefine(exactlyOne(['kubeService', 'failoverServiceRef', 'failoverService']));

const stringMatch = z
  .strictObject({ exact: z.string().optional(), prefix: z.string().optional(), regex: z.string().optional() })
  .superRefine(exactlyOne(['exact', 'prefix', 'regex']));

const httpMatcher = z
  .strictObject({
    prefix: z.string().optional(),
    exact: z.string().optional(),
    regex: z.string().optional(),
    headers: z
      .array(z.strictObject({ name: z.string().min(1), value: z.string().optional(), regex: z.boolean().optional(), invertMatch: z.boolean().optional() }))
      .optional(),
    queryParameters: z.array(z.strictObject({ name: z.string().min(1), value: z.string().optional(), regex: z.boolean().optional() })).optional(),
    method: httpMethod.optional(),
  })
  .superRefine((m, ctx) => {
    const set = (['prefix', 'exact', 'regex'] as const).filter((k) => m[k] !== undefined);
    if (set.length > 1) ctx.addIssue({ code: 'custom', message: `at most one of prefix, exact, regex may be set (found ${set.join(', ')})` });
  });

/** SMH writes header maps as `{key: value}`; some releases as `[{key, value}]`. Both are accepted. */
const headerMap = z.union([labels, z.array(z.strictObject({ key: z.string().min(1), value: z.string() }))], {
  error: 'expected a map of header name to value',
});

export const trafficPolicySchema = doc(
  policyMetadata,
  z
    .strictObject({
      sourceSelector: z.array(workloadSelector).optional(),
      destinationSelector: z.array(trafficTargetSelector).optional(),
      httpRequestMatchers: z.array(httpMatcher).optional(),
      trafficShift: z.strictObject({ destinations: z.array(weightedDestination).min(1, { error: 'needs at least one destination' }) }).optional(),
      faultInjection: z
        .strictObject({
          fixedDelay: duration.optional(),
          /** Older SMH spelling: delay: {fixedDelay}. */
          delay: z.strictObject({ fixedDelay: duration }).optional(),
          abort: z.strictObject({ httpStatus: z.number().int().min(200, { error: 'expected an HTTP status 200..599' }).max(599, { error: 'expected an HTTP status 200..599' }) }).optional(),
          percentage: percent.optional(),
        })
        .superRefine((f, ctx) => {
          if (f.fixedDelay === undefined && f.delay === undefined && f.abort === undefined) ctx.addIssue({ code: 'custom', message: 'a fault needs fixedDelay or abort' });
        })
        .optional(),
      requestTimeout: duration.optional(),
      retries: z.strictObject({ attempts: count, perTryTimeout: duration.optional() }).optional(),
      corsPolicy: z
        .strictObject({
          allowOrigins: z.array(stringMatch).optional(),
          allowMethods: z.array(z.string()).optional(),
          allowHeaders: z.array(z.string()).optional(),
          exposeHeaders: z.array(z.string()).optional(),
          maxAge: duration.optional(),
          allowCredentials: z.boolean().optional(),
        })
        .optional(),
      mirror: z.strictObject({ kubeService: clusterObjectRef, percentage: percent.optional(), port: port.optional() }).optional(),
      headerManipulation: z
        .strictObject({
          appendRequestHeaders: headerMap.optional(),
          removeRequestHeaders: z.array(z.string()).optional(),
          appendResponseHeaders: headerMap.optional(),
          removeResponseHeaders: z.array(z.string()).optional(),
        })
        .optional(),
      outlierDetection: z
        .strictObject({
          consecutiveErrors: count.optional(),
          interval: duration.optional(),
          baseEjectionTime: duration.optional(),
          maxEjectionPercent: weight.optional(),
        })
        .optional(),
      /** crossmesh extension: circuit-breaker limits. */
      connectionPool: z
        .strictObject({
          maxConnections: count.optional(),
          maxPendingRequests: count.optional(),
          maxRequests: count.optional(),
          maxRetries: count.optional(),
          /** Envoy's retry budget: concurrent retries ≤ max(budgetPercent % of active + pending requests, minRetryConcurrency). */
          retryBudget: z.strictObject({ budgetPercent: percent.optional(), minRetryConcurrency: count.optional() }).optional(),
          connectTimeout: duration.optional(),
        })
        .optional(),
    })
    .superRefine((spec, ctx) => {
      const dests = spec.trafficShift?.destinations;
      if (!dests) return;
      if (dests.length === 1) return;
      let sum = 0;
      dests.forEach((d, i) => {
        if (d.weight === undefined) ctx.addIssue({ code: 'custom', path: ['trafficShift', 'destinations', i, 'weight'], message: 'required when there is more than one destination' });
        else sum += d.weight;
      });
      if (dests.every((d) => d.weight !== undefined) && sum !== 100) {
        ctx.addIssue({ code: 'custom', path: ['trafficShift', 'destinations'], message: `weights must sum to 100 (they sum to ${sum})` });
      }
    }),
);

export const accessPolicySchema = doc(
  policyMetadata,
  z.strictObject({
    sourceSelector: z.array(identitySelector).optional(),
    destinationSelector: z.array(trafficTargetSelector).optional(),
    allowedPaths: z.array(z.string().min(1)).optional(),
    allowedMethods: z.array(httpMethod).optional(),
    allowedPorts: z.array(port).optional(),
  }),
);

const meshRef = z.strictObject({ name: dnsName, namespace: dnsName.optional() });

export const virtualMeshSchema = doc(
  policyMetadata,
  z.strictObject({
    meshes: z.array(meshRef).min(1, { error: 'a virtual mesh needs at least one member' }),
    mtlsConfig: z
      .strictObject({
        autoRestartPods: z.boolean().optional(),
        shared: z.strictObject({
          rootCertificateAuthority: z
            .strictObject({
              /** SMH writes `generated: null` (an empty message). */
              generated: z.union([z.null(), z.strictObject({})], { error: 'expected null or {}' }).optional(),
              secret: z.strictObject({ name: dnsName, namespace: dnsName }).optional(),
              /** crossmesh extension: PEM files. */
              files: z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) }).optional(),
            })
            .superRefine(exactlyOne(['generated', 'secret', 'files'])),
        }),
      })
      .optional(),
    federation: z.strictObject({}).optional(),
    globalAccessPolicy: z.enum(['ENABLED', 'DISABLED'], { error: 'expected ENABLED or DISABLED' }).optional(),
    /** crossmesh extension: where the generated CA lives and how long leaves live. */
    ca: z
      .strictObject({
        directory: z.string().min(1).optional(),
        leafTtl: duration.optional(),
        keyType: z.enum(['ECDSA_P256', 'RSA_2048'], { error: 'expected ECDSA_P256 or RSA_2048' }).optional(),
      })
      .optional(),
  }),
);

export const failoverServiceSchema = doc(
  policyMetadata,
  z.strictObject({
    hostname: z.string().regex(DNS_NAME, { error: 'expected a DNS name' }),
    port: z.strictObject({ number: port, protocol }),
    meshes: z.array(meshRef).optional(),
    backingServices: z
      .array(z.strictObject({ kubeService: z.strictObject({ name: dnsName, namespace: dnsName, clusterName: dnsName }) }))
      .min(1, { error: 'needs at least one backing service' }),
  }),
);

export const SCHEMAS = {
  Cluster: clusterSchema,
  Service: serviceSchema,
  Workload: workloadSchema,
  Gateway: gatewaySchema,
  VirtualMesh: virtualMeshSchema,
  TrafficPolicy: trafficPolicySchema,
  AccessPolicy: accessPolicySchema,
  FailoverService: failoverServiceSchema,
} as const;

export type Kind = keyof typeof SCHEMAS;
export type ParsedDoc<K extends Kind> = z.output<(typeof SCHEMAS)[K]>;

/** Whether a string is one of the known kinds. */
export function isKind(k: string): k is Kind {
  return Object.hasOwn(SCHEMAS, k);
}

/** Per-parse messages in the project's voice (lowercase, "expected X, got Y"). */
export const errorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type') {
    const got = issue.input === null ? 'null' : Array.isArray(issue.input) ? 'array' : issue.input === undefined ? 'nothing' : typeof issue.input;
    return issue.input === undefined ? `required field missing (expected ${issue.expected})` : `expected ${issue.expected}, got ${got}`;
  }
  if (issue.code === 'too_small' && issue.origin === 'array') return `expected at least ${String(issue.minimum)} item(s)`;
  return undefined;
};
