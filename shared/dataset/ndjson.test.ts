import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Row } from './contract.js';
import { ndjsonRows } from './ndjson.js';

const perRow = (rows: Row[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

test('NDJSON rows: the same bytes as JSON.stringify row by row, whatever the text holds', () => {
  const text = fc.oneof(fc.string(), fc.constantFrom('],[', 'a],[b', '"],["', '\\', '\n', '], [', ']\n['));
  const cell = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), text);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }).chain((w) => fc.array(fc.array(cell, { minLength: w, maxLength: w }), { minLength: 1, maxLength: 30 })), (rows) => {
      assert.equal(ndjsonRows(rows), perRow(rows));
    }),
    { numRuns: 500 },
  );
  // The fallback is taken when a text value holds the separator.
  assert.equal(ndjsonRows([['a],[b', 1], ['c', 2]]), '["a],[b",1]\n["c",2]\n');
});
