/**
 * What Envoy refuses in a TrafficPolicy that the schema alone cannot see, found before anything is
 * translated: each refusal here is one Envoy would answer with a NACK of the whole route
 * configuration the policy lands in (every route of every policy on that listener port).
 *
 * - Every regex a user writes (path `regex`, header and query-parameter values with `regex: true`,
 *   CORS `allowOrigins[].regex`) must be valid RE2 with a program no larger than Envoy's limit
 *   (re2.ts).
 * - `headerManipulation` must not add or remove `host` (any case) or a `:`-prefixed header, in
 *   requests or responses: Envoy's HeaderParser refuses them in `*_headers_to_add` (":-prefixed or
 *   host headers may not be modified") and `*_headers_to_remove` (":-prefixed or host headers may
 *   not be removed") alike; checked against Envoy 1.40 (`envoy --mode validate`).
 */
import type { ParsedDoc } from './schema.js';
import { envoyRegexProblem } from './re2.js';

/** One refused field: its path inside the document and why. */
export interface EnvoyRuleProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Whether Envoy refuses to add, set or remove this header in a route's header mutations. */
export function isProtectedHeader(name: string): boolean {
  return name.startsWith(':') || name.toLowerCase() === 'host';
}

/** Why Envoy refuses to add (or set) or to remove this header in a route's header mutations, or undefined. */
export function headerMutationProblem(name: string, op: 'add' | 'remove'): string | undefined {
  if (!isProtectedHeader(name)) return undefined;
  return op === 'add'
    ? `Envoy refuses to add or set header "${name}" (":-prefixed or host headers may not be modified")`
    : `Envoy refuses to remove header "${name}" (":-prefixed or host headers may not be removed")`;
}

type Spec = ParsedDoc<'TrafficPolicy'>['spec'];
type HeaderMap = NonNullable<NonNullable<Spec['headerManipulation']>['appendRequestHeaders']>;

/** Every problem Envoy would have with a TrafficPolicy document, in document order. */
export function trafficPolicyEnvoyProblems(doc: ParsedDoc<'TrafficPolicy'>): EnvoyRuleProblem[] {
  const out: EnvoyRuleProblem[] = [];
  const spec = doc.spec;
  const regex = (path: (string | number)[], pattern: string) => {
    const problem = envoyRegexProblem(pattern);
    if (problem) out.push({ path: ['spec', ...path], message: problem });
  };

  spec.httpRequestMatchers?.forEach((m, i) => {
    const at = ['httpRequestMatchers', i];
    if (m.regex !== undefined) regex([...at, 'regex'], m.regex);
    m.headers?.forEach((h, j) => {
      if (h.regex && h.value !== undefined) regex([...at, 'headers', j, 'value'], h.value);
    });
    m.queryParameters?.forEach((q, j) => {
      if (q.regex && q.value !== undefined) regex([...at, 'queryParameters', j, 'value'], q.value);
    });
  });
  spec.corsPolicy?.allowOrigins?.forEach((o, i) => {
    if (o.regex !== undefined) regex(['corsPolicy', 'allowOrigins', i, 'regex'], o.regex);
  });

  const hm = spec.headerManipulation;
  if (hm) {
    const added = (field: string, headers: HeaderMap | undefined) => {
      if (!headers) return;
      const entries: [string, (string | number)[]][] = Array.isArray(headers) ? headers.map((h, i) => [h.key, [i, 'key']]) : Object.keys(headers).map((k) => [k, [k]]);
      for (const [name, sub] of entries) {
        const problem = headerMutationProblem(name, 'add');
        if (problem) out.push({ path: ['spec', 'headerManipulation', field, ...sub], message: problem });
      }
    };
    const removed = (field: string, names: readonly string[] | undefined) => {
      names?.forEach((name, i) => {
        const problem = headerMutationProblem(name, 'remove');
        if (problem) out.push({ path: ['spec', 'headerManipulation', field, i], message: problem });
      });
    };
    added('appendRequestHeaders', hm.appendRequestHeaders);
    removed('removeRequestHeaders', hm.removeRequestHeaders);
    added('appendResponseHeaders', hm.appendResponseHeaders);
    removed('removeResponseHeaders', hm.removeResponseHeaders);
  }
  return out;
}
