/**
 * What Envoy refuses in a TrafficPolicy, refused by `crossmesh validate` with file:line (one test
 * per rule) and left out by the loader while every other policy stays (what `serve` applies).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { runValidate } from '../../src/cli/validate.js';
import { loadConfig } from '../../src/config/loader.js';
import { BASE_TOPOLOGY, tempDir, type TempDir } from './helpers.js';

let tmp: TempDir;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => tmp.remove());

/** A TrafficPolicy on reviews with `spec` (indented YAML lines under spec:). */
function policy(name: string, spec: string): string {
  return `---\napiVersion: networking.smh.solo.io/v1alpha2\nkind: TrafficPolicy\nmetadata: {name: ${name}, namespace: default}\nspec:\n  destinationSelector:\n  - kubeServiceRefs: {services: [{name: reviews, namespace: default, clusterName: c1}]}\n${spec}`;
}

/** 1-based line of the first line containing `marker`. */
function lineOf(text: string, marker: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(marker));
  if (i < 0) throw new Error(`no line with ${marker}`);
  return i + 1;
}

async function validate(text: string): Promise<{ code: number; err: string[]; out: string[]; file: string }> {
  const file = tmp.write('mesh.yaml', text);
  const err: string[] = [];
  const out: string[] = [];
  const code = await runValidate([file], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, err, out, file };
}

/** Validates BASE_TOPOLOGY plus one policy and expects exactly one error at the line holding `marker`. */
async function expectRefused(name: string, spec: string, marker: string, message: string): Promise<void> {
  const text = `${BASE_TOPOLOGY}${policy(name, spec)}`;
  const r = await validate(text);
  expect(r.err).toEqual([`${r.file}:${lineOf(text, marker)}: TrafficPolicy ${name}: ${message}`]);
  expect(r.out).toEqual(['invalid: 1 error, 0 warnings']);
  expect(r.code).toBe(1);
}

test('a look-ahead in a path regex', async () => {
  await expectRefused(
    'lookahead',
    `  httpRequestMatchers:\n  - regex: "/api/(?!internal).*"\n`,
    '(?!internal)',
    'spec.httpRequestMatchers[0].regex: regex "/api/(?!internal).*" is not valid RE2 (Envoy refuses it): invalid perl operator: (?!',
  );
});

test('a backreference in a header regex', async () => {
  await expectRefused(
    'backref',
    `  httpRequestMatchers:\n  - headers:\n    - {name: x-pair, value: '(a+)-\\1', regex: true}\n`,
    'x-pair',
    'spec.httpRequestMatchers[0].headers[0].value: regex "(a+)-\\\\1" is not valid RE2 (Envoy refuses it): invalid escape sequence: \\1',
  );
});

test('an RE2 program of 101 in a query parameter regex is refused; 100 in a CORS origin passes', async () => {
  await expectRefused(
    'too-big',
    `  httpRequestMatchers:\n  - queryParameters:\n    - {name: id, value: 'a{97}', regex: true}\n`,
    'a{97}',
    `spec.httpRequestMatchers[0].queryParameters[0].value: regex "a{97}" compiles to an RE2 program of size 101, over Envoy's limit of 100 (re2.max_program_size.error_level): simplify it`,
  );
  const ok = await validate(`${BASE_TOPOLOGY}${policy('just-under', `  corsPolicy:\n    allowOrigins:\n    - regex: 'a{96}'\n`)}`);
  expect(ok.err).toEqual([]);
  expect(ok.code).toBe(0);
});

test('adding host', async () => {
  await expectRefused(
    'add-host',
    `  headerManipulation:\n    appendRequestHeaders:\n      host: other.example\n`,
    'host: other.example',
    'spec.headerManipulation.appendRequestHeaders.host: Envoy refuses to add or set header "host" (":-prefixed or host headers may not be modified")',
  );
});

test('removing Host (any case)', async () => {
  await expectRefused(
    'remove-host',
    `  headerManipulation:\n    removeRequestHeaders: [x-debug,\n      Host]\n`,
    '      Host]',
    'spec.headerManipulation.removeRequestHeaders[1]: Envoy refuses to remove header "Host" (":-prefixed or host headers may not be removed")',
  );
});

test('adding :authority (the list spelling) and removing :path, in requests and responses', async () => {
  const text = `${BASE_TOPOLOGY}${policy(
    'pseudo',
    `  headerManipulation:\n    appendRequestHeaders:\n    - {key: ":authority", value: x}\n    removeResponseHeaders:\n    - ":path"\n`,
  )}`;
  const r = await validate(text);
  expect(r.err).toEqual([
    `${r.file}:${lineOf(text, ':authority')}: TrafficPolicy pseudo: spec.headerManipulation.appendRequestHeaders[0].key: Envoy refuses to add or set header ":authority" (":-prefixed or host headers may not be modified")`,
    `${r.file}:${lineOf(text, '- ":path"')}: TrafficPolicy pseudo: spec.headerManipulation.removeResponseHeaders[0]: Envoy refuses to remove header ":path" (":-prefixed or host headers may not be removed")`,
  ]);
  expect(r.out).toEqual(['invalid: 2 errors, 0 warnings']);
});

test('the loader leaves the refused policy out and keeps the others (what serve applies)', async () => {
  const text = `${BASE_TOPOLOGY}${policy('bad', `  httpRequestMatchers:\n  - regex: "/(?!x)"\n`)}\n${policy('good', `  requestTimeout: 2s\n  headerManipulation:\n    appendRequestHeaders: {x-hostname: a}\n`)}`;
  const file = tmp.write('mesh.yaml', text);
  const r = await loadConfig([file]);
  expect(r.errors).toEqual([]);
  expect(r.config?.policies.trafficPolicies.map((t) => t.name)).toEqual(['good']);
  expect(r.config?.refused).toEqual([
    expect.objectContaining({ file, line: lineOf(text, '(?!x)'), kind: 'TrafficPolicy', name: 'bad', policy: 'default/bad', path: 'spec.httpRequestMatchers[0].regex' }),
  ]);
});

test('the crossmesh binary prints the refusal and exits 1', () => {
  const main = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
  const text = `${BASE_TOPOLOGY}${policy('lookahead', `  httpRequestMatchers:\n  - regex: "/(?!x)"\n`)}`;
  const file = tmp.write('mesh.yaml', text);
  let status = 0;
  let stderr = '';
  let stdout = '';
  try {
    stdout = execFileSync(process.execPath, [main, 'validate', '--config', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { status: number; stderr: string; stdout: string };
    status = err.status;
    stderr = err.stderr;
    stdout = err.stdout;
  }
  expect(status).toBe(1);
  expect(stderr).toBe(`${file}:${lineOf(text, '(?!x)')}: TrafficPolicy lookahead: spec.httpRequestMatchers[0].regex: regex "/(?!x)" is not valid RE2 (Envoy refuses it): invalid perl operator: (?!\n`);
  expect(stdout).toBe('invalid: 1 error, 0 warnings\n');
});
