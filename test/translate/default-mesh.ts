/** The embedded default mesh (examples/default) loaded into a ModelStore, for translate tests. */
import { defaultMeshDir } from '../../src/config/default-mesh.js';
import { loadConfig } from '../../src/config/loader.js';
import type { MeshConfig } from '../../src/config/mesh-config.js';
import { StaticDiscovery, applyConfig } from '../../src/discovery/static/static-discovery.js';
import { ModelStore } from '../../src/model/store.js';
import type { ProxyResources } from '../../src/translate/resources.js';

/**
 * A store holding the default mesh (fails the test with the loader's errors if it does not load).
 * `unscoped`: the same mesh with global access policy disabled, so every sidecar sees every
 * service (for tests about publishing mechanics rather than policy scoping).
 */
export async function defaultMeshStore(options: { unscoped?: boolean } = {}): Promise<ModelStore> {
  const r = await loadConfig([defaultMeshDir()]);
  if (!r.config) throw new Error(`default mesh does not load: ${r.errors.map((e) => e.message).join('; ')}`);
  let config = r.config as MeshConfig;
  if (options.unscoped) {
    const policies = { ...config.policies, virtualMeshes: config.policies.virtualMeshes.map((vm) => ({ ...vm, globalAccessPolicy: 'DISABLED' as const })) };
    config = { ...config, policies };
  }
  const store = new ModelStore();
  applyConfig(store, new StaticDiscovery(config), config);
  return store;
}

/** Resources as a plain JSON object (maps → objects in their sorted order). */
export function resourcesJson(r: ProxyResources): Record<string, Record<string, unknown>> {
  return {
    clusters: Object.fromEntries(r.clusters),
    endpoints: Object.fromEntries(r.endpoints),
    listeners: Object.fromEntries(r.listeners),
    routes: Object.fromEntries(r.routes),
  };
}
