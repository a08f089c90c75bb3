/**
 * The OpenAPI v3 schema of a policy kind's CRD, generated from the same zod schema the loader
 * validates with, so the API server and `crossmesh validate` can never disagree about a field's
 * name, type or nesting.
 *
 * Kubernetes wants a *structural* schema (every node typed; no `additionalProperties: false`, no
 * `$ref`, no type inside `anyOf`), so the JSON Schema zod emits is rewritten: unions of
 * different shapes become `x-kubernetes-preserve-unknown-fields`, `T | null` becomes `nullable`.
 * Checks zod does in code (durations, RE2, weights summing to 100, one-of fields) and regex
 * patterns are left to crossmesh: an object that passes the API server but not crossmesh gets
 * `Accepted=False` with exactly the message `validate` prints, field path included.
 */
import { z } from 'zod';

/** A node of a Kubernetes structural schema (the subset crossmesh emits). */
export interface StructuralSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, StructuralSchema>;
  required?: string[];
  additionalProperties?: StructuralSchema;
  items?: StructuralSchema;
  enum?: (string | number | boolean)[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  nullable?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
}

type Json = Record<string, unknown>;

/** zod's bounds for `.int()` without explicit limits: noise in a CRD. */
const SAFE_INT = Number.MAX_SAFE_INTEGER;

/** Marks a node whose input zod cannot describe (set by the override in specSchema). */
const OPEN = 'x-crossmesh-open';

/** Any value at all (what a union of different shapes, or a transform's input, becomes). */
const ANY: StructuralSchema = { 'x-kubernetes-preserve-unknown-fields': true };

/** Converts one JSON Schema node (from `z.toJSONSchema`) to a structural schema node. */
function convert(node: Json): StructuralSchema {
  if (node[OPEN] === true) return { ...ANY };
  const options = (node.anyOf ?? node.oneOf) as Json[] | undefined;
  if (options) {
    const nonNull = options.filter((o) => o.type !== 'null');
    const nullable = nonNull.length < options.length;
    if (nonNull.length === 1) return { ...convert(nonNull[0]!), ...(nullable ? { nullable: true } : {}) };
    const types = new Set(nonNull.map((o) => o.type));
    if (types.size === 2 && types.has('string') && types.has('integer')) return { 'x-kubernetes-int-or-string': true };
    return { ...ANY, ...(nullable ? { nullable: true } : {}) };
  }
  const out: StructuralSchema = {};
  if (typeof node.description === 'string') out.description = node.description;
  if (Array.isArray(node.enum)) {
    const values = node.enum as (string | number | boolean)[];
    out.type = typeof values[0] === 'number' ? 'number' : typeof values[0] === 'boolean' ? 'boolean' : 'string';
    out.enum = values;
    return out;
  }
  if (node.const !== undefined) {
    const v = node.const as string | number | boolean;
    return { ...out, type: typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'boolean' : 'string', enum: [v] };
  }
  switch (node.type) {
    case 'object': {
      out.type = 'object';
      const props = node.properties as Record<string, Json> | undefined;
      if (props && Object.keys(props).length > 0) {
        out.properties = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, convert(v)]));
        const required = node.required as string[] | undefined;
        if (required?.length) out.required = [...required];
      } else if (node.additionalProperties && typeof node.additionalProperties === 'object') {
        out.additionalProperties = convert(node.additionalProperties as Json);
      }
      return out;
    }
    case 'array':
      out.type = 'array';
      out.items = node.items ? convert(node.items as Json) : ANY;
      if (typeof node.minItems === 'number') out.minItems = node.minItems;
      if (typeof node.maxItems === 'number') out.maxItems = node.maxItems;
      return out;
    case 'string':
      out.type = 'string';
      if (typeof node.minLength === 'number') out.minLength = node.minLength;
      if (typeof node.maxLength === 'number') out.maxLength = node.maxLength;
      return out;
    case 'integer':
    case 'number':
      out.type = node.type;
      if (typeof node.minimum === 'number' && node.minimum > -SAFE_INT) out.minimum = node.minimum;
      if (typeof node.maximum === 'number' && node.maximum < SAFE_INT) out.maximum = node.maximum;
      if (typeof node.exclusiveMinimum === 'number') Object.assign(out, { minimum: node.exclusiveMinimum, exclusiveMinimum: true });
      if (typeof node.exclusiveMaximum === 'number') Object.assign(out, { maximum: node.exclusiveMaximum, exclusiveMaximum: true });
      return out;
    case 'boolean':
      return { ...out, type: 'boolean' };
    default:
      // A transform or preprocess step (a duration, a method written bare or wrapped): its input
      // is not representable; crossmesh checks it.
      return { ...out, ...ANY };
  }
}

/** The structural OpenAPI schema of a document schema's `spec` (the input shape: what users write). */
export function specSchema(documentSchema: z.ZodType): StructuralSchema {
  const json = z.toJSONSchema(documentSchema, {
    io: 'input',
    unrepresentable: 'any',
    reused: 'inline',
    cycles: 'throw',
    // zod describes a preprocess step's input by the schema after it (an HTTP method as a bare
    // string), but the step exists to accept more (SMH's `{method: GET}`): leave such input open.
    override: (ctx) => {
      const def = (ctx.zodSchema as unknown as { _zod: { def: { type: string; in?: { _zod: { def: { type: string } } } } } })._zod.def;
      if (def.type === 'pipe' && def.in?._zod.def.type === 'transform') {
        for (const k of Object.keys(ctx.jsonSchema)) delete (ctx.jsonSchema as Json)[k];
        (ctx.jsonSchema as Json)[OPEN] = true;
      }
    },
  }) as Json;
  const spec = (json.properties as Record<string, Json> | undefined)?.spec;
  if (!spec) throw new Error('document schema has no spec');
  return convert(spec);
}

/** The schema of `status` crossmesh writes: `observedGeneration` and `conditions` (metav1.Condition). */
export const STATUS_SCHEMA: StructuralSchema = {
  type: 'object',
  properties: {
    observedGeneration: { type: 'integer', minimum: 0, description: 'metadata.generation of the spec this status describes.' },
    conditions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
        properties: {
          type: { type: 'string', maxLength: 316 },
          status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
          reason: { type: 'string', maxLength: 1024, minLength: 1 },
          message: { type: 'string', maxLength: 32768 },
          observedGeneration: { type: 'integer', minimum: 0 },
          lastTransitionTime: { type: 'string' },
        },
      },
    },
  },
};
