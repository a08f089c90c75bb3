/** Prometheus metrics of the CA (global registry; defined once per process). Never carries key material. */
import { Counter, Gauge } from 'prom-client';

export const certificatesIssued = new Counter({
  name: 'crossmesh_ca_certificates_issued_total',
  help: 'Workload certificates issued, by reason (issued = first request, rotated, root-rotated) and key algorithm',
  labelNames: ['reason', 'key_algorithm'] as const,
});

export const issueFailures = new Counter({
  name: 'crossmesh_ca_certificate_issue_failures_total',
  help: 'Workload certificate issuances that failed (the previous certificate keeps serving)',
});

export const workloadCertificates = new Gauge({
  name: 'crossmesh_ca_workload_certificates',
  help: 'Workload certificates currently held for rotation',
});

export const trustBundleRoots = new Gauge({
  name: 'crossmesh_ca_trust_bundle_roots',
  help: 'Roots in the trust bundle (2 during a root rotation)',
});
