/** Issue 16, item 7: control characters in labels and localities are refused with file:line and the field (files loaded from disk). */
import { afterEach, beforeEach, expect, test } from 'vitest';
import { formatDiagnostic } from '../../src/config/diagnostics.js';
import { loadConfig } from '../../src/config/loader.js';
import { BASE_TOPOLOGY, tempDir, type TempDir } from './helpers.js';

let tmp: TempDir;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

async function errorsOf(text: string): Promise<string[]> {
  tmp.write('mesh.yaml', text);
  const r = await loadConfig([tmp.dir]);
  if (r.errors.length) expect(r.config).toBeUndefined();
  return r.errors.map((e) => formatDiagnostic(e).replace(tmp.dir + '/', ''));
}

test('a control character in a label value is refused at its line', async () => {
  const errs = await errorsOf(BASE_TOPOLOGY.replace('    version: v1', '    version: "v1\\u0007"'));
  expect(errs).toEqual(['mesh.yaml:34: Workload reviews-v1-0: spec.labels.version: must not contain control characters (U+0007 at character 3)']);
});

test('a control character in a label key, a selector or a locality is refused naming the field', async () => {
  const text = BASE_TOPOLOGY.replace('    zone: z1', '    zone: "z1\\nx-injected: 1"')
    .replace('    app: reviews\n  ports:', '    "app\\u001b[31m": reviews\n  ports:')
    .replace('  serviceAccount: bookinfo-reviews', '  serviceAccount: bookinfo-reviews\n  locality: {region: "r1\\u0085"}');
  const errs = await errorsOf(text);
  expect(errs).toEqual([
    'mesh.yaml:9: Cluster c1: spec.locality.zone: must not contain control characters (U+000A at character 3)',
    'mesh.yaml:19: Service reviews: spec.selector.app\u001b[31m: key must not contain control characters (U+001B at character 4)',
    'mesh.yaml:36: Workload reviews-v1-0: spec.locality.region: must not contain control characters (U+0085 at character 3)',
  ]);
});

test('unicode letters, spaces and punctuation stay valid', async () => {
  const errs = await errorsOf(BASE_TOPOLOGY.replace('    version: v1', '    version: "v1 — café/ünï"'));
  expect(errs).toEqual([]);
});
