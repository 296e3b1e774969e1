/**
 * Property: any table of strings written as CSV in any supported dialect (delimiter `,` `;`
 * tab `|`, line ending LF / CRLF / CR, with or without BOM), fed in arbitrary chunk sizes,
 * reads back as the same table. Tables have at least two columns (a one-column record holding
 * an empty string cannot be told apart from a blank line, which is skipped by design).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { readCsv } from './reader.js';
import { csvField } from './writer.js';

const delimiters = [',', ';', '\t', '|'] as const;
const newlines = ['\n', '\r\n', '\r'] as const;

function write(table: string[][], delimiter: string, newline: string, mixed: readonly string[] = []): string {
  const rows = table.map((row) =>
      row
        .map((cell) => {
          const f = csvField(cell, delimiter);
          // A cell holding a quote char at the start must be quoted; csvField already does for `"`.
          return f === cell && /[\r\n]/.test(cell) ? `"${cell}"` : f;
        })
        .join(delimiter),
    );
  // Mixed: each record ends with its own terminator (CRLF, LF or CR), anywhere in the file.
  return rows.map((r, i) => r + (mixed.length ? mixed[i % mixed.length] : newline)).join('');
}

async function readBack(text: string, bom: boolean, cuts: number[], delimiter: string): Promise<string[][]> {
  const bytes = Buffer.concat([bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), Buffer.from(text, 'utf8')]);
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  async function* chunks() {
    let last = 0;
    for (const p of points) {
      if (p > last) yield bytes.subarray(last, p);
      last = Math.max(last, p);
    }
    if (last < bytes.length) yield bytes.subarray(last);
  }
  const out: string[][] = [];
  for await (const batch of readCsv(chunks(), { delimiter: delimiter as ',', encoding: 'utf-8', maxColumns: 100, maxFieldBytes: 1 << 20, maxRecordBytes: 1 << 22 })) {
    for (const r of batch) out.push(r.fields);
  }
  return out;
}

const oneChar = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }).filter((c) => !c.includes('\u0000'));
const cell = fc.string({ unit: fc.oneof(fc.constantFrom('"', ',', ';', '\t', '|', '\n', '\r', ' ', 'é', '😀', 'a', '0'), oneChar), maxLength: 12 });

test('round trip: write in any dialect, read back the same table', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 2, max: 6 }).chain((cols) => fc.array(fc.array(cell, { minLength: cols, maxLength: cols }), { minLength: 1, maxLength: 20 })),
      fc.constantFrom(...delimiters),
      fc.constantFrom(...newlines),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.array(fc.constantFrom(...newlines), { maxLength: 6 }),
      async (table, delimiter, newline, bom, cuts, mixed) => {
        // In a CR- or CRLF-ended file, a record cannot end in a bare CR of its own last cell without quotes; csvField quotes it.
        const text = write(table, delimiter, newline, mixed);
        const back = await readBack(text, bom, cuts, delimiter);
        assert.deepEqual(back, table);
      },
    ),
    { numRuns: 300 },
  );
});
