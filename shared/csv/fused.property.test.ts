/**
 * Property: the reader's fused scanner (quote-free lines split here, lines with quotes through
 * papaparse) reads any text exactly as papaparse reads the whole text at once, malformed quotes
 * included, whatever the chunks and the parse slices. Terminators are normalised first on both
 * sides (see Terminators). The text comes after 64 KiB of plain lines, so that it is parsed in
 * slices (the first 64 KiB are the dialect sample) and every boundary is crossed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import Papa from 'papaparse';
import { Problem } from '../runtime/problem.js';
import { readCsv, Terminators } from './reader.js';

const FILLER = 'id,name\n'.repeat(8200); // 65,600 characters, no quotes

async function read(text: string, cuts: number[], batchBytes: number): Promise<{ rows: string[][]; errors: boolean[] } | 'unterminated'> {
  const bytes = Buffer.from(text, 'utf8');
  const points = [...new Set(cuts.map((c) => FILLER.length + (c % (bytes.length - FILLER.length + 1))))].sort((a, b) => a - b);
  async function* chunks() {
    let last = 0;
    for (const p of [FILLER.length - 1000, ...points]) {
      if (p > last) yield bytes.subarray(last, p);
      last = Math.max(last, p);
    }
    if (last < bytes.length) yield bytes.subarray(last);
  }
  const rows: string[][] = [];
  const errors: boolean[] = [];
  try {
    for await (const batch of readCsv(chunks(), { delimiter: ',', encoding: 'utf-8', maxColumns: 1000, maxFieldBytes: 1 << 20, maxRecordBytes: 1 << 22, batchBytes })) {
      for (const r of batch) {
        rows.push(r.fields);
        errors.push(!!r.error);
      }
    }
  } catch (err) {
    if (err instanceof Problem && /never closed/.test(err.detail ?? '')) return 'unterminated';
    throw err;
  }
  return { rows, errors };
}

function papaparse(text: string): { rows: string[][]; errors: boolean[] } | 'unterminated' {
  const r = Papa.parse<string[]>(new Terminators().push(Buffer.from(text), true).toString(), { delimiter: ',', newline: '\n', quoteChar: '"', escapeChar: '"' });
  if (r.errors.some((e) => e.code === 'MissingQuotes')) return 'unterminated';
  const withErrors = new Set(r.errors.map((e) => e.row));
  const rows: string[][] = [];
  const errors: boolean[] = [];
  r.data.forEach((row, i) => {
    if (row.length === 1 && row[0] === '') return; // blank lines are skipped
    rows.push(row);
    errors.push(withErrors.has(i));
  });
  return { rows, errors };
}

const piece = fc.constantFrom('"', '""', ',', '\n', '\r', '\r\n', 'a', 'é', ' ', '1');

test('fused scanner: any text reads as papaparse reads it whole, at any chunks and slices', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(piece, { maxLength: 120 }), fc.array(fc.nat(), { maxLength: 6 }), fc.integer({ min: 1, max: 64 }), async (pieces, cuts, batchBytes) => {
      const text = FILLER + pieces.join('');
      const got = await read(text, cuts, batchBytes);
      const want = papaparse(text);
      if (want === 'unterminated' || got === 'unterminated') return assert.equal(got, want);
      assert.deepEqual(got.rows, want.rows);
      assert.deepEqual(got.errors, want.errors);
    }),
    { numRuns: 250 },
  );
});
