/**
 * The four policy kinds as CustomResourceDefinitions (Service Mesh Hub's group and version, so
 * SMH objects apply unchanged), with schemas generated from the loader's own (crd-schema.ts), the
 * status subresource (so status writes never touch the spec, and spec writes bump `generation`),
 * and printer columns showing whether crossmesh accepted each object.
 */
import { stringify } from 'yaml';
import { SCHEMAS, SMH_API_VERSION } from '../schema.js';
import { specSchema, STATUS_SCHEMA } from './crd-schema.js';

export const POLICY_GROUP = SMH_API_VERSION.split('/')[0]!;
export const POLICY_VERSION = SMH_API_VERSION.split('/')[1]!;

export type PolicyKind = 'VirtualMesh' | 'TrafficPolicy' | 'AccessPolicy' | 'FailoverService';

/** How each policy kind is named in the API (plural = the URL segment). */
export const POLICY_RESOURCES: Readonly<Record<PolicyKind, { readonly plural: string; readonly singular: string; readonly shortNames: readonly string[] }>> = {
  VirtualMesh: { plural: 'virtualmeshes', singular: 'virtualmesh', shortNames: ['vm'] },
  TrafficPolicy: { plural: 'trafficpolicies', singular: 'trafficpolicy', shortNames: ['tp'] },
  AccessPolicy: { plural: 'accesspolicies', singular: 'accesspolicy', shortNames: ['ap'] },
  FailoverService: { plural: 'failoverservices', singular: 'failoverservice', shortNames: ['fs'] },
};

export const POLICY_KINDS: readonly PolicyKind[] = ['VirtualMesh', 'FailoverService', 'TrafficPolicy', 'AccessPolicy'];

/** The CustomResourceDefinition object (apiextensions.k8s.io/v1) of one policy kind. */
export function policyCrd(kind: PolicyKind): Record<string, unknown> {
  const r = POLICY_RESOURCES[kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${r.plural}.${POLICY_GROUP}`, labels: { 'app.kubernetes.io/part-of': 'crossmesh' } },
    spec: {
      group: POLICY_GROUP,
      scope: 'Namespaced',
      names: { kind, listKind: `${kind}List`, plural: r.plural, singular: r.singular, shortNames: [...r.shortNames], categories: ['crossmesh'] },
      versions: [
        {
          name: POLICY_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Accepted', type: 'string', jsonPath: '.status.conditions[?(@.type=="Accepted")].status' },
            { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Accepted")].reason' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `Service Mesh Hub v1alpha2 ${kind}, served by crossmesh (see docs/config.md).`,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: specSchema(SCHEMAS[kind]),
                status: STATUS_SCHEMA,
              },
            },
          },
        },
      ],
    },
  };
}

/** The YAML file of one kind's CRD as `deploy/crds/` holds it. */
export function policyCrdYaml(kind: PolicyKind): string {
  return `# Generated from src/config/schema.ts by crossmesh crds --out deploy/crds; do not edit.\n${stringify(policyCrd(kind), { lineWidth: 0 })}`;
}
