/** The output layout is one-to-one and keeps input keys out of reserved names, for any keys. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isReserved, keyProblem, outputNames, outputsOf, OUTPUT_PREFIXES } from './layout.js';

const segment = fc.oneof(
  fc.constantFrom('a.csv', 'a.CSV', 'A.csv', 'x.rejects.csv', 'x.manifest.json', 'x.csv.json', '_state', 'failed', 'cleaned', 'manifests', 'rejects', 'adhoc', 'relatórios', 'São Paulo (1).csv', 'ﬁ.csv', 'e\u0301.csv', '.hidden', 'a..b', 'a.csv.parquet', 'x.parquet'),
  fc.string({ minLength: 1, maxLength: 12 }),
);
const key = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));

test('no two input keys share an output name, and none reaches a reserved name', () => {
  fc.assert(
    fc.property(fc.uniqueArray(key, { minLength: 2, maxLength: 30 }), (keys) => {
      const valid = keys.filter((k) => keyProblem(k) === undefined);
      const owner = new Map<string, string>();
      for (const k of valid) {
        for (const name of Object.values(outputNames(k))) {
          assert.ok(!isReserved(name), `${JSON.stringify(k)} reaches ${name}`);
          assert.ok(OUTPUT_PREFIXES.some((p) => name.startsWith(p)));
          const prev = owner.get(name);
          assert.ok(prev === undefined, `${JSON.stringify(prev)} and ${JSON.stringify(k)} share ${name}`);
          owner.set(name, k);
        }
      }
    }),
    { numRuns: 300 },
  );
});

test("keys differing only in case, or named like another key's outputs, stay apart", () => {
  assert.notEqual(outputNames('a.csv').cleaned, outputNames('a.CSV').cleaned);
  assert.notEqual(outputNames('x.rejects.csv').cleaned, outputNames('x.csv').rejects);
  assert.equal(outputNames('_state/x.csv').cleaned, 'cleaned/_state/x.csv');
  assert.ok(outputsOf({ kind: 'adhoc', name: 'a.csv' }, 'id1').cleaned.startsWith('adhoc/id1/'));
});

test('keys that can never name outputs are refused with the reason', () => {
  assert.match(keyProblem('../x.csv')!, /segment/);
  assert.match(keyProblem('a/./x.csv')!, /segment/);
  assert.match(keyProblem('/x.csv')!, /starts with/);
  assert.match(keyProblem('a\u0000.csv')!, /control/);
  assert.match(keyProblem('a.csv.parquet')!, /Parquet output/);
  assert.equal(outputNames('a.csv').parquet, 'cleaned/a.csv.parquet');
  assert.match(keyProblem('x'.repeat(1010) + '.csv')!, /1024/);
  assert.equal(keyProblem('relatórios/novo arquivo (1).csv'), undefined);
  assert.equal(keyProblem('a..b.csv'), undefined);
});
