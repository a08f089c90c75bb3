/**
 * The mutating admission webhook's decision, as a pure function: an AdmissionReview
 * (`admission.k8s.io/v1`) in, the AdmissionReview answer out, with the injection as a JSONPatch.
 * A pod that cannot be injected as asked (a port or name the sidecar needs is taken) is refused
 * with the reason and the opt-out, rather than started outside the mesh unnoticed.
 */
import type { AdmissionResult } from './metrics.js';
import type { InjectOptions } from './options.js';
import { injectPodSpec, SKIP_ALREADY_INJECTED, SKIP_OPTED_OUT, type JsonObject } from './sidecar.js';

/** The `response` part of an AdmissionReview answer. */
export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: 'JSONPatch';
  /** Base64 of the JSON Patch (RFC 6902) text. */
  readonly patch?: string;
  readonly status?: { readonly code: number; readonly message: string };
  readonly warnings?: readonly string[];
}

/** A JSON Patch operation (only `add`, which also replaces an existing member). */
export interface PatchOperation {
  readonly op: 'add';
  readonly path: string;
  readonly value: unknown;
}

/** An admission answer that is not about one request (malformed body): HTTP status and text. */
export class AdmissionError extends Error {
  constructor(
    message: string,
    readonly httpStatus: number,
  ) {
    super(message);
  }
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The patch turning `before` into a pod with `metadata`/`spec`: whole fields replaced with `add`
 * (annotations, init containers, containers, volumes), which is all injection changes and keeps
 * the patch correct whatever the pod held before.
 */
export function podPatch(before: JsonObject, metadata: JsonObject, spec: JsonObject): PatchOperation[] {
  const ops: PatchOperation[] = [];
  if (!isObject(before.metadata)) ops.push({ op: 'add', path: '/metadata', value: metadata });
  else ops.push({ op: 'add', path: '/metadata/annotations', value: metadata.annotations });
  for (const field of ['initContainers', 'containers', 'volumes'] as const) ops.push({ op: 'add', path: `/spec/${field}`, value: spec[field] });
  return ops;
}

/** An AdmissionReview answer. */
export interface AdmissionReviewAnswer {
  readonly apiVersion: string;
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

/** Answers one AdmissionReview for a cluster's pods; throws AdmissionError when the body is not an AdmissionReview. */
export function reviewAdmission(body: unknown, options: InjectOptions): AdmissionReviewAnswer {
  return decideAdmission(body, options).review;
}

/**
 * The answer and what it amounts to (for metrics): `injected`, `skipped` (a pod left alone),
 * `refused`, or `ignored` (not a pod CREATE).
 */
export function decideAdmission(body: unknown, options: InjectOptions): { review: AdmissionReviewAnswer; result: Exclude<AdmissionResult, 'bad_request'> } {
  if (!isObject(body) || body.kind !== 'AdmissionReview') throw new AdmissionError('expected an AdmissionReview', 400);
  if (body.apiVersion !== 'admission.k8s.io/v1') throw new AdmissionError(`AdmissionReview ${String(body.apiVersion)} is not supported; register the webhook with admissionReviewVersions: [v1]`, 400);
  const request = body.request;
  if (!isObject(request) || typeof request.uid !== 'string') throw new AdmissionError('AdmissionReview has no request.uid', 400);
  const review = (response: Omit<AdmissionResponse, 'uid'>): AdmissionReviewAnswer => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: request.uid as string, ...response } });

  const kind = isObject(request.kind) ? request.kind : {};
  // Anything but a Pod CREATE is let through untouched: the webhook must be registered for pods,
  // but a broader registration must not break other objects.
  if (kind.kind !== 'Pod' || kind.group !== '' || request.operation !== 'CREATE') return { review: review({ allowed: true }), result: 'ignored' };
  const pod = request.object;
  if (!isObject(pod)) return { review: review({ allowed: false, status: { code: 400, message: 'crossmesh injection: the request carries no pod object' } }), result: 'refused' };
  const meta = isObject(pod.metadata) ? pod.metadata : {};
  const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : `${typeof meta.generateName === 'string' ? meta.generateName : ''}*`;
  const namespace = typeof request.namespace === 'string' ? request.namespace : typeof meta.namespace === 'string' ? meta.namespace : 'default';
  const where = `pod ${namespace}/${name}`;
  try {
    const r = injectPodSpec(pod.metadata, pod.spec, options, { where });
    if (!r.injected) {
      // kubectl shows warnings to whoever created the pod: only for a skip they may not expect.
      const quiet = r.reason === SKIP_OPTED_OUT || r.reason === SKIP_ALREADY_INJECTED;
      return { review: review({ allowed: true, ...(quiet ? {} : { warnings: [`crossmesh: sidecar not injected into ${where}: ${r.reason}`] }) }), result: 'skipped' };
    }
    const patch = Buffer.from(JSON.stringify(podPatch(pod, r.metadata, r.spec))).toString('base64');
    return { review: review({ allowed: true, patchType: 'JSONPatch', patch }), result: 'injected' };
  } catch (e) {
    return { review: review({ allowed: false, status: { code: 400, message: `crossmesh sidecar injection: ${(e as Error).message} (set the label crossmesh.io/inject: "false" to create the pod without the sidecar)` } }), result: 'refused' };
  }
}
