/**
 * How the policy source judges objects, fed as its reflectors would feed it and loaded with the
 * real loader (in process) beside the embedded default mesh's files: each object on its own, the
 * last good version of a rejected one serving, that version dropped when it no longer fits, a
 * re-created object starting afresh, and status-only changes not reloading anything.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultMeshDir } from '../../../src/config/default-mesh.js';
import { KubernetesPolicySource } from '../../../src/config/kubernetes/policy-source.js';
import type { PolicyObject } from '../../../src/config/kubernetes/policy-objects.js';
import { loadConfig } from '../../../src/config/loader.js';

const tp = (name: string, uid: string, generation: number, timeout: string): PolicyObject => ({
  apiVersion: 'networking.smh.solo.io/v1alpha2',
  kind: 'TrafficPolicy',
  metadata: { name, namespace: 'default', uid, generation, resourceVersion: String(generation), annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"x":1}\n' } },
  spec: { destinationSelector: [{ kubeServiceRefs: { services: [{ name: 'ratings', namespace: 'default' }] } }], requestTimeout: timeout },
});

describe('KubernetesPolicySource', () => {
  const dir = mkdtempSync(join(tmpdir(), 'crossmesh-policy-source-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let changes = 0;
  const source = new KubernetesPolicySource(new k8s.KubeConfig(), { onChange: () => changes++, debounceMs: 0 });
  let paths = [defaultMeshDir()];
  const load = () => source.resolve((docs) => loadConfig(paths, docs));
  const timeoutOf = async (name: string) => {
    const r = await load();
    return r.config?.policies.trafficPolicies.find((p) => p.namespace === 'default' && p.name === name)?.requestTimeoutMs;
  };
  const entry = (name: string) => source.list().find((e) => e.name === name)!;

  it('an object is judged on its own: valid → served; invalid update → its last good version serves', async () => {
    source.listed('TrafficPolicy', [tp('a', 'u1', 1, '3s'), tp('b', 'u2', 1, 'soon')]);
    expect(await timeoutOf('a')).toBe(3000);
    expect(await timeoutOf('b')).toBeUndefined();
    expect(entry('a')).toMatchObject({ verdict: { accepted: true, generation: 1, messages: [] }, servingGeneration: 1 });
    expect(entry('b').verdict).toMatchObject({ accepted: false, generation: 1 });
    expect(entry('b').verdict!.messages[0]).toMatch(/^TrafficPolicy b: spec\.requestTimeout: invalid duration "soon"/);
    expect(entry('b').servingGeneration).toBeUndefined();

    source.event('TrafficPolicy', 'MODIFIED', tp('a', 'u1', 2, 'later'));
    expect(await timeoutOf('a')).toBe(3000);
    expect(entry('a')).toMatchObject({ generation: 2, verdict: { accepted: false, generation: 2 }, servingGeneration: 1 });
  });

  it('a status-only change reloads nothing; a spec change does', async () => {
    await new Promise((r) => setTimeout(r, 20));
    const before = changes;
    source.event('TrafficPolicy', 'MODIFIED', { ...tp('a', 'u1', 2, 'later'), metadata: { ...tp('a', 'u1', 2, 'later').metadata, resourceVersion: '99' }, status: { observedGeneration: 2 } });
    await new Promise((r) => setTimeout(r, 20));
    expect(changes).toBe(before);
    source.event('TrafficPolicy', 'MODIFIED', tp('a', 'u1', 3, 'later2'));
    await new Promise((r) => setTimeout(r, 20));
    expect(changes).toBe(before + 1);
  });

  it('a last good version that no longer fits (a file now defines the same policy) is dropped; the file serves', async () => {
    const file = join(dir, 'a.yaml');
    writeFileSync(file, `apiVersion: networking.smh.solo.io/v1alpha2\nkind: TrafficPolicy\nmetadata: {name: a, namespace: default}\nspec:\n  requestTimeout: 9s\n`);
    paths = [defaultMeshDir(), file];
    expect(await timeoutOf('a')).toBe(9000);
    expect(entry('a')).toMatchObject({ verdict: { accepted: false, generation: 3 }, servingGeneration: undefined });
    // Fixed, it is still a duplicate of the file: refused with the loader's duplicate message.
    source.event('TrafficPolicy', 'MODIFIED', tp('a', 'u1', 4, '4s'));
    expect(await timeoutOf('a')).toBe(9000);
    expect(entry('a').verdict!.messages).toEqual([`TrafficPolicy a: duplicate TrafficPolicy default/a: also defined at ${file}:1`]);
    paths = [defaultMeshDir()];
    expect(await timeoutOf('a')).toBe(4000);
  });

  it('deleted and created again under the same name, nothing of the old object carries over', async () => {
    source.event('TrafficPolicy', 'DELETED', tp('a', 'u1', 4, '4s'));
    source.event('TrafficPolicy', 'ADDED', tp('a', 'u9', 1, 'never'));
    expect(await timeoutOf('a')).toBeUndefined();
    expect(entry('a')).toMatchObject({ generation: 1, verdict: { accepted: false, generation: 1 }, servingGeneration: undefined });
    // A relist without it removes it.
    source.listed('TrafficPolicy', [tp('b', 'u2', 1, 'soon')]);
    expect(source.list().map((e) => e.name)).toEqual(['b']);
  });
});
