/** A mesh written inline as YAML, loaded into a ModelStore the way `serve` loads files, for translate tests. */
import { loadConfig } from '../../src/config/loader.js';
import { StaticDiscovery, applyConfig } from '../../src/discovery/static/static-discovery.js';
import type { MeshSnapshot } from '../../src/model/snapshot.js';
import { ModelStore } from '../../src/model/store.js';
import { resolveProxy, translateProxy, type ProxyResources } from '../../src/translate/index.js';
import { tempDir } from '../config/helpers.js';

/** A store holding the YAML documents `text` (fails the test with the loader's errors if it does not load). */
export async function yamlMeshStore(text: string): Promise<ModelStore> {
  const dir = tempDir('crossmesh-yaml-mesh-');
  try {
    const r = await loadConfig([dir.write('mesh.yaml', text)]);
    if (!r.config) throw new Error(r.errors.map((e) => `${e.line}: ${e.message}`).join('\n'));
    const store = new ModelStore();
    applyConfig(store, new StaticDiscovery(r.config), r.config);
    return store;
  } finally {
    dir.remove();
  }
}

/** Every resource of the sidecar `node` (`<cluster>/<ns>/<name>`) in `snap`. */
export function sidecarResources(snap: MeshSnapshot, node: string): ProxyResources {
  const p = resolveProxy(snap, node, 'sidecar');
  if (p instanceof Error) throw p;
  return translateProxy(snap, p);
}
