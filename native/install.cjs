/**
 * `npm install` hook: builds the RE2 program-size addon with node-gyp. Node's headers come from
 * the running Node's own installation when it ships them (<prefix>/include/node, as official
 * tarballs and Debian's nodejs do), so a machine without a configured `nodedir` and without access
 * to nodejs.org still builds; otherwise node-gyp finds them its usual way.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const prefix = path.resolve(process.execPath, '..', '..');
const args = ['rebuild', '-j', 'max'];
if (!process.env.npm_config_nodedir && existsSync(path.join(prefix, 'include', 'node', 'node.h'))) args.push(`--nodedir=${prefix}`);
// npm names its bundled node-gyp in lifecycle scripts; without npm, the one on PATH.
const gyp = process.env.npm_config_node_gyp;
const r = gyp ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' }) : spawnSync('node-gyp', args, { stdio: 'inherit', shell: process.platform === 'win32' });
if (r.error) {
  console.error(`crossmesh: cannot run node-gyp to build the RE2 addon: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
