/**
 * Golden outputs of each role on the embedded default mesh. The files in golden/ are reviewed
 * outputs; regenerate them with `UPDATE_GOLDEN=1 npx vitest run test/translate/golden.test.ts`
 * and read the diff before committing.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelStore } from '../../src/model/store.js';
import type { ProxyRole } from '../../src/translate/bootstrap.js';
import { resolveProxy, translateProxy } from '../../src/translate/index.js';
import { guardResources } from '../../src/translate/semantics.js';
import { defaultMeshStore, resourcesJson } from './default-mesh.js';

const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'golden');

const CASES: readonly { file: string; node: string; role: ProxyRole }[] = [
  { file: 'sidecar-cluster1-productpage.json', node: 'cluster1/default/productpage-v1-0', role: 'sidecar' },
  { file: 'sidecar-cluster1-reviews-v1.json', node: 'cluster1/default/reviews-v1-0', role: 'sidecar' },
  { file: 'sidecar-cluster2-reviews-v3.json', node: 'cluster2/default/reviews-v3-0', role: 'sidecar' },
  { file: 'gateway-cluster2.json', node: 'cluster2/crossmesh-system/east-west-gateway-0', role: 'gateway' },
  { file: 'ingress-cluster1.json', node: 'cluster1/crossmesh-system/ingress-gateway-0', role: 'ingress' },
];

let store: ModelStore;
beforeAll(async () => {
  store = await defaultMeshStore();
});

describe('golden translations of the default mesh', () => {
  for (const c of CASES) {
    it(`${c.role} ${c.node} matches ${c.file}`, () => {
      const proxy = resolveProxy(store.current, c.node, c.role);
      if (proxy instanceof Error) throw proxy;
      const resources = translateProxy(store.current, proxy);
      expect(guardResources(resources).rejected).toEqual([]);
      const text = `${JSON.stringify(resourcesJson(resources), null, 2)}\n`;
      const path = join(GOLDEN_DIR, c.file);
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) {
        if (process.env.CI) throw new Error(`golden file ${c.file} is missing`);
        writeFileSync(path, text);
      }
      expect(text).toBe(readFileSync(path, 'utf8'));
    });
  }

  it('is deterministic: the same snapshot and proxy give byte-identical output', () => {
    const proxy = resolveProxy(store.current, 'cluster1/default/productpage-v1-0', 'sidecar');
    if (proxy instanceof Error) throw proxy;
    const a = JSON.stringify(resourcesJson(translateProxy(store.current, proxy)));
    const b = JSON.stringify(resourcesJson(translateProxy(store.current, proxy)));
    expect(a).toBe(b);
  });
});
