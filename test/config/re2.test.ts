import { expect, test } from 'vitest';
import { ENVOY_MAX_PROGRAM_SIZE, envoyRegexProblem, re2Check } from '../../src/config/re2.js';

// Sizes below are what Envoy 1.40 reports for the same patterns (`envoy --mode validate`:
// "regex 'a{97}' RE2 program size of 101 > max program size of 100"; a{96} loads).
test('program sizes are RE2 own: a{96} is exactly at the limit, a{97} one over', () => {
  expect(re2Check('a{96}')).toEqual({ ok: true, error: '', programSize: 100 });
  expect(re2Check('a{97}').programSize).toBe(101);
  expect(re2Check('[a-z]{97}').programSize).toBe(101);
  expect(envoyRegexProblem('a{96}')).toBeUndefined();
  expect(envoyRegexProblem('a{97}')).toBe(`regex "a{97}" compiles to an RE2 program of size 101, over Envoy's limit of ${ENVOY_MAX_PROGRAM_SIZE} (re2.max_program_size.error_level): simplify it`);
});

test('a look-ahead is not RE2', () => {
  expect(envoyRegexProblem('/api/(?!internal)')).toBe('regex "/api/(?!internal)" is not valid RE2 (Envoy refuses it): invalid perl operator: (?!');
});

test('a backreference is not RE2', () => {
  expect(envoyRegexProblem('(a)\\1')).toBe('regex "(a)\\\\1" is not valid RE2 (Envoy refuses it): invalid escape sequence: \\1');
});

test('RE2 syntax JavaScript lacks is accepted, JavaScript syntax RE2 lacks is not', () => {
  // (?P<name>) is RE2's spelling of a named group; JavaScript's RegExp rejects it.
  expect(envoyRegexProblem('(?P<v>[0-9]+)\\d')).toBeUndefined();
  // A Unicode class is valid but large: UTF-8 ranges for every number code point.
  expect(envoyRegexProblem('\\pN')).toMatch(/program of size \d+, over Envoy's limit of 100/);
  expect(envoyRegexProblem('(?<=/)x')).toMatch(/is not valid RE2/);
});

test('a limit other than the default is honoured (google_re2.max_program_size)', () => {
  expect(envoyRegexProblem('a{50}', 53)).toMatch(/size 54, over Envoy's limit of 53/);
  expect(envoyRegexProblem('a{50}', 54)).toBeUndefined();
});
