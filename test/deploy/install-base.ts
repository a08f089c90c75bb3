/**
 * Reads deploy/base as `kubectl apply -k` renders it. The base is kept to plain resources (every
 * file names its namespace) and directories that are themselves such kustomizations (../crds), so
 * the rendering is the listed files' documents in order; anything
 * in kustomization.yaml beyond `resources` (patches, namePrefix, generators...) is refused here,
 * so this reading cannot silently drift from what kustomize would produce.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const BASE_DIR = join(process.cwd(), 'deploy/base');

// Free-form Kubernetes objects: tests reach into them as they need.
export type KubeManifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: unknown }; [k: string]: any };

const ALLOWED = new Set(['apiVersion', 'kind', 'resources']);

/** The objects of deploy/base, in kustomization order. */
export function renderBase(dir = BASE_DIR): KubeManifest[] {
  const kustomization = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as Record<string, unknown>;
  for (const key of Object.keys(kustomization)) {
    if (!ALLOWED.has(key)) throw new Error(`${dir}/kustomization.yaml: "${key}" is not read by this test's renderer (plain resources only)`);
  }
  const out: KubeManifest[] = [];
  for (const file of kustomization.resources as string[]) {
    // A directory resource is another kustomization (deploy/crds), rendered the same way.
    if (statSync(join(dir, file)).isDirectory()) {
      out.push(...renderBase(join(dir, file)));
      continue;
    }
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (doc.errors.length) throw new Error(`${dir}/${file}: ${doc.errors[0]!.message}`);
      const o = doc.toJS() as KubeManifest | null;
      if (o) out.push(o);
    }
  }
  return out;
}

/** The one object of `kind` (and `name`, if given). */
export function one(objects: readonly KubeManifest[], kind: string, name?: string): KubeManifest {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''} in deploy/base, found ${found.length}`);
  return found[0]!;
}

const COLLECTIONS: Record<string, { readonly prefix: string; readonly plural: string; readonly namespaced: boolean }> = {
  Namespace: { prefix: '/api/v1', plural: 'namespaces', namespaced: false },
  ServiceAccount: { prefix: '/api/v1', plural: 'serviceaccounts', namespaced: true },
  ConfigMap: { prefix: '/api/v1', plural: 'configmaps', namespaced: true },
  Service: { prefix: '/api/v1', plural: 'services', namespaced: true },
  Secret: { prefix: '/api/v1', plural: 'secrets', namespaced: true },
  ClusterRole: { prefix: '/apis/rbac.authorization.k8s.io/v1', plural: 'clusterroles', namespaced: false },
  ClusterRoleBinding: { prefix: '/apis/rbac.authorization.k8s.io/v1', plural: 'clusterrolebindings', namespaced: false },
  Role: { prefix: '/apis/rbac.authorization.k8s.io/v1', plural: 'roles', namespaced: true },
  RoleBinding: { prefix: '/apis/rbac.authorization.k8s.io/v1', plural: 'rolebindings', namespaced: true },
  Deployment: { prefix: '/apis/apps/v1', plural: 'deployments', namespaced: true },
  PodDisruptionBudget: { prefix: '/apis/policy/v1', plural: 'poddisruptionbudgets', namespaced: true },
  CustomResourceDefinition: { prefix: '/apis/apiextensions.k8s.io/v1', plural: 'customresourcedefinitions', namespaced: false },
};

/** The collection path an object is created in. */
export function collectionPath(o: KubeManifest): string {
  const c = COLLECTIONS[o.kind];
  if (!c) throw new Error(`no API path known for kind ${o.kind}`);
  if (c.namespaced && !o.metadata.namespace) throw new Error(`${o.kind} ${o.metadata.name} has no metadata.namespace`);
  return c.namespaced ? `${c.prefix}/namespaces/${o.metadata.namespace}/${c.plural}` : `${c.prefix}/${c.plural}`;
}
