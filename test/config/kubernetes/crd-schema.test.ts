/**
 * The zod → Kubernetes structural schema rewrite: every node typed, `T | null` as `nullable`,
 * unions of different shapes and transforms' inputs left open (crossmesh checks them and says so
 * in status), records as `additionalProperties`, no `additionalProperties: false` or patterns.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { specSchema, type StructuralSchema } from '../../../src/config/kubernetes/crd-schema.js';
import { SCHEMAS } from '../../../src/config/schema.js';

const doc = (spec: z.ZodType) => z.strictObject({ apiVersion: z.string(), kind: z.string(), metadata: z.object({}), spec });

/** Every node of a schema, with its path. */
function* nodes(s: StructuralSchema, path = 'spec'): Generator<[string, StructuralSchema]> {
  yield [path, s];
  for (const [k, v] of Object.entries(s.properties ?? {})) yield* nodes(v, `${path}.${k}`);
  if (s.items) yield* nodes(s.items, `${path}[]`);
  if (s.additionalProperties) yield* nodes(s.additionalProperties, `${path}{}`);
}

describe('specSchema', () => {
  it('rewrites the shapes zod emits into structural ones', () => {
    const s = specSchema(
      doc(
        z.strictObject({
          name: z.string().min(1).max(5).regex(/^a/),
          n: z.number().int(),
          pct: z.number().min(0).max(100),
          labels: z.record(z.string(), z.string()),
          kind: z.enum(['A', 'B']),
          generated: z.union([z.null(), z.strictObject({})]).optional(),
          either: z.union([z.string(), z.array(z.string())]),
          count: z.union([z.string(), z.number().int()]),
          timeout: z.string().transform((v) => v.length),
          method: z.preprocess((v) => v, z.string()),
          list: z.array(z.strictObject({ x: z.boolean() })).min(1),
        }),
      ),
    );
    expect(s.type).toBe('object');
    expect(s.required).toEqual(['name', 'n', 'pct', 'labels', 'kind', 'either', 'count', 'timeout', 'method', 'list']);
    expect(s.properties).toEqual({
      name: { type: 'string', minLength: 1, maxLength: 5 },
      n: { type: 'integer' },
      pct: { type: 'number', minimum: 0, maximum: 100 },
      labels: { type: 'object', additionalProperties: { type: 'string' } },
      kind: { type: 'string', enum: ['A', 'B'] },
      generated: { type: 'object', nullable: true },
      either: { 'x-kubernetes-preserve-unknown-fields': true },
      count: { 'x-kubernetes-int-or-string': true },
      timeout: { type: 'string' },
      method: { 'x-kubernetes-preserve-unknown-fields': true },
      list: { type: 'array', minItems: 1, items: { type: 'object', properties: { x: { type: 'boolean' } }, required: ['x'] } },
    });
  });

  it('gives every node of the four policy kinds a type (or an explicit escape), as the API server requires', () => {
    for (const kind of ['VirtualMesh', 'TrafficPolicy', 'AccessPolicy', 'FailoverService'] as const) {
      for (const [path, node] of nodes(specSchema(SCHEMAS[kind]))) {
        const typed = node.type !== undefined || node['x-kubernetes-preserve-unknown-fields'] === true || node['x-kubernetes-int-or-string'] === true;
        expect(typed, `${kind} ${path}`).toBe(true);
        expect(Object.keys(node), `${kind} ${path}`).not.toContain('pattern');
        expect(node.properties && node.additionalProperties, `${kind} ${path}: properties and additionalProperties together`).toBeFalsy();
      }
    }
  });
});
