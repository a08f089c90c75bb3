// Prints what binding.gyp needs to compile RE2 from the sources the pinned `re2` npm package
// vendors (RE2 and Abseil), so crossmesh builds the exact RE2 of package-lock.json without a
// download: `sources` (RE2 and Abseil files of the package's own build list, for this OS) or
// `include` (the two include directories). Paths are relative to the repository root, where
// binding.gyp is. The package's own addon is not used: it does not expose ProgramSize.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const pkg = path.dirname(require.resolve('re2/package.json', { paths: [root] }));
const rel = (p) => path.relative(root, path.join(pkg, p)).split(path.sep).join('/');

const what = process.argv[2];
if (what === 'include') {
  process.stdout.write([rel('vendor/re2'), rel('vendor/abseil-cpp')].join('\n') + '\n');
} else if (what === 'sources') {
  const gyp = fs.readFileSync(path.join(pkg, 'binding.gyp'), 'utf8');
  // The first "sources" list is the target's own; the Windows-only files sit in a later condition.
  const list = /"sources"\s*:\s*\[([^\]]*)\]/.exec(gyp);
  if (!list) throw new Error(`no "sources" list in ${path.join(pkg, 'binding.gyp')}`);
  const files = [...list[1].matchAll(/"(vendor\/[^"]+\.cc)"/g)].map((m) => m[1]);
  if (files.length === 0) throw new Error(`no vendor/*.cc sources in ${path.join(pkg, 'binding.gyp')}`);
  process.stdout.write(files.map(rel).join('\n') + '\n');
} else {
  process.stderr.write('usage: node native/re2-sources.cjs sources|include\n');
  process.exit(2);
}
