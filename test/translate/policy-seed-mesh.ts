/**
 * The seed 000 policies (test/fixtures/seed/, unchanged) on the workshop's two clusters
 * (test/fixtures/policies/kind-topology.yaml), loaded through the real config loader into a
 * ModelStore. In Service Mesh Hub a VirtualMesh or FailoverService lists discovered Istio meshes
 * (`istiod-istio-system-kind2`); crossmesh lists clusters, so those member names are mapped to the
 * cluster they were discovered in — the only adaptation.
 */
import { join } from 'node:path';
import { loadConfig } from '../../src/config/loader.js';
import type { MeshConfig } from '../../src/config/mesh-config.js';
import { StaticDiscovery, applyConfig } from '../../src/discovery/static/static-discovery.js';
import type { MeshPolicies } from '../../src/model/policies.js';
import { ModelStore } from '../../src/model/store.js';

const ROOT = join(import.meta.dirname, '..', 'fixtures');
export const TOPOLOGY = join(ROOT, 'policies', 'kind-topology.yaml');

/** Path of a seed fixture, e.g. `05-traffic-policy-simple.yaml`. */
export function seedFile(name: string): string {
  return join(ROOT, 'seed', name);
}

const meshCluster = (m: { name: string; namespace?: string }) => ({ name: m.name.replace(/^istiod-istio-system-/, '') });

/** Loads the topology plus `files` (extra YAML paths allowed) and returns the config with SMH mesh names mapped to clusters. */
export async function loadSeedConfig(files: readonly string[]): Promise<MeshConfig> {
  const r = await loadConfig([TOPOLOGY, ...files]);
  if (!r.config) throw new Error(`seed config does not load: ${r.errors.map((e) => `${e.file}:${e.line}: ${e.message}`).join('; ')}`);
  const p = r.config.policies;
  const policies: MeshPolicies = {
    ...p,
    virtualMeshes: p.virtualMeshes.map((vm) => ({ ...vm, meshes: vm.meshes.map(meshCluster) })),
    failoverServices: p.failoverServices.map((fs) => ({ ...fs, meshes: fs.meshes.map(meshCluster) })),
  };
  return { ...r.config, policies };
}

/** A store holding the topology and the given seed fixtures. */
export async function seedStore(files: readonly string[]): Promise<{ store: ModelStore; config: MeshConfig }> {
  const config = await loadSeedConfig(files);
  const store = new ModelStore();
  applyConfig(store, new StaticDiscovery(config), config);
  return { store, config };
}
