/** Temp-dir helpers for config tests: write YAML files, clean up afterwards. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  readonly dir: string;
  write(name: string, text: string): string;
  remove(): void;
}

/** A fresh temporary directory. */
export function tempDir(prefix = 'crossmesh-config-'): TempDir {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write(name, text) {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A minimal valid static cluster with one service and one workload. */
export const BASE_TOPOLOGY = `apiVersion: crossmesh.io/v1alpha1
kind: Cluster
metadata:
  name: c1
spec:
  network: n1
  locality:
    region: r1
    zone: z1
---
apiVersion: crossmesh.io/v1alpha1
kind: Service
metadata:
  name: reviews
  namespace: default
  cluster: c1
spec:
  selector:
    app: reviews
  ports:
  - name: http
    port: 9080
---
apiVersion: crossmesh.io/v1alpha1
kind: Workload
metadata:
  name: reviews-v1-0
  namespace: default
  cluster: c1
spec:
  address: 127.0.1.21
  labels:
    app: reviews
    version: v1
  serviceAccount: bookinfo-reviews
`;
