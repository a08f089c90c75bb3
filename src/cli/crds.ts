/**
 * `crossmesh crds [--out DIR]`: prints the CustomResourceDefinitions of the four policy kinds
 * (`crossmesh crds | kubectl apply -f -`), or writes one file per kind into DIR (how
 * `deploy/crds/` is generated). Generated from the loader's schemas, so they never drift.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { POLICY_KINDS, POLICY_RESOURCES, policyCrdYaml } from '../config/kubernetes/crds.js';

/** File name of a kind's CRD in `deploy/crds/`. */
export function crdFileName(kind: (typeof POLICY_KINDS)[number]): string {
  return `${POLICY_RESOURCES[kind].plural}.yaml`;
}

/** Adds `crds` to the program. */
export function register(program: Command): void {
  program
    .command('crds')
    .description('print the CustomResourceDefinitions of VirtualMesh, TrafficPolicy, AccessPolicy and FailoverService (or write them into --out DIR)')
    .option('--out <dir>', 'write one <plural>.yaml per kind into this directory instead of printing')
    .action((opts: { out?: string }) => {
      if (opts.out) {
        mkdirSync(opts.out, { recursive: true });
        for (const kind of POLICY_KINDS) writeFileSync(join(opts.out, crdFileName(kind)), policyCrdYaml(kind));
        process.stderr.write(`crossmesh: wrote ${POLICY_KINDS.length} CRDs into ${opts.out}\n`);
        return;
      }
      process.stdout.write(POLICY_KINDS.map((k) => policyCrdYaml(k)).join('---\n'));
    });
}
