/**
 * publish's CSV from the dataset's bytes (`decodeNdjsonToCsv`, `RowsToCsv`) against the string
 * path it replaces (`decodeNdjson`, then `csvLine` of each row): the same bytes for any rows the
 * encoder writes and for hand-written lines it never writes (other number forms, escapes,
 * white space, nested values), cut into chunks anywhere (inside a UTF-8 sequence too), with and
 * without formula escaping; and the same problem for a line that is not JSON.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeNdjson, decodeNdjsonToCsv, encodeNdjson, ndjsonRows } from './ndjson.js';
import { csvDefaults } from '../csv/config.js';
import { transformCsv, transformOptionsFrom, type DatasetEvent } from '../csv/clean.js';
import { csvLine } from '../csv/writer.js';
import type { Row } from './contract.js';

async function headerAndTrailer(): Promise<[string, string]> {
  const opts = transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: 'a.csv' }, {});
  const events: DatasetEvent[] = [];
  for await (const e of transformCsv((async function* () { yield Buffer.from('a,b\n1,x\n'); })(), opts)) if (e.kind !== 'rows') events.push(e);
  const text: string[] = [];
  for await (const s of encodeNdjson((async function* () { yield* events; })())) text.push(String(s));
  const lines = text.join('').split('\n');
  return [lines[0], lines.at(-2)!];
}

const SPECIAL = ['"', ',', ' ', '=', '+', '-', '@', "'", '\\', '\t', '\r', '\n', '\u00a0', '\u3000', '\u2028', '\ufeff', 'é', '😀', '\ud800', '\u0001', '[', ']', 'a', '1', '.'];
const text = fc.string({ unit: fc.oneof(fc.constantFrom(...SPECIAL), fc.constantFrom(...SPECIAL), fc.string({ minLength: 1, maxLength: 1 })), maxLength: 12 });
const number = fc.oneof(
  fc.integer({ min: -1e6, max: 1e6 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 0.1 + 0.2, 1e21, 1e-7, 0.000001, 123456789012345, 1234567890123456, 0.5, -12.25, 99.9),
  fc.integer({ min: -999999, max: 999999 }).map((n) => n / 100),
);
const cell = fc.oneof(text, number, fc.constant(null), fc.boolean());
const row = fc.array(cell, { maxLength: 8 });
/** Lines the encoder never writes: JSON that is still one array a line. */
const odd = fc.constantFrom('[1.50,"a"]', '[1E3,-0,0.0]', '[ 1 , "x" ]', '[[1,2],{"a":1},"b"]', '["\\u0041\\"q\\"",2]', '[1e400,-1e-400]', '[true,false,null]', '[]', '["\\ud800x"]', '[0.0000001,100000000000000000000]', '[0.10000000000000001,12345678901234567,1.0000000000000002]', '["=1","\'\'+x"," lead","trail ","\\t"]', '[01]', '[1,]', '["a"', '[tru]', '[nul]', '[1 2]', '["a\u001fb"]', '["a\tb"]');

function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of at) {
    out.push(bytes.subarray(from, c));
    from = c;
  }
  out.push(bytes.subarray(from));
  return out;
}

async function viaStrings(parts: Buffer[], escape: boolean): Promise<{ csv: Buffer; rows: number } | string> {
  try {
    let csv = '';
    let rows = 0;
    for await (const e of decodeNdjson((async function* () { yield* parts; })())) {
      if (e.kind !== 'rows') continue;
      rows += e.rows.length;
      for (const r of e.rows as Row[]) csv += csvLine(r, escape);
    }
    return { csv: Buffer.from(csv), rows };
  } catch (err) {
    return `${(err as Error).message} ${JSON.stringify((err as { toJSON?: () => unknown }).toJSON?.())}`;
  }
}

async function viaBytes(parts: Buffer[], escape: boolean): Promise<{ csv: Buffer; rows: number } | string> {
  try {
    const out: Buffer[] = [];
    let rows = 0;
    for await (const e of decodeNdjsonToCsv((async function* () { yield* parts; })(), escape)) {
      if (e.kind === 'csv') {
        out.push(e.csv);
        rows += e.rows;
      }
    }
    return { csv: Buffer.concat(out), rows };
  } catch (err) {
    return `${(err as Error).message} ${JSON.stringify((err as { toJSON?: () => unknown }).toJSON?.())}`;
  }
}

test('rows as CSV from their bytes: the same bytes (or the same problem) as the string path', async () => {
  const [header, trailer] = await headerAndTrailer();
  await fc.assert(
    fc.asyncProperty(fc.array(fc.oneof({ weight: 6, arbitrary: row.map((r) => ndjsonRows([r]).slice(0, -1)) }, { weight: 1, arbitrary: odd }), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), async (lines, cuts, escape) => {
      const bytes = Buffer.from([header, ...lines, trailer].join('\n') + '\n');
      const parts = chunks(bytes, cuts);
      const want = await viaStrings(parts, escape);
      const got = await viaBytes(parts, escape);
      assert.deepEqual(got, want);
    }),
    { numRuns: 2000 },
  );
});

test('the rows counted in each CSV event are the rows written', async () => {
  const [header, trailer] = await headerAndTrailer();
  const rows: Row[] = [[1, 'a'], [null, ' b'], ['=x', 2.5]];
  let count = 0;
  for await (const e of decodeNdjsonToCsv((async function* () { yield Buffer.from(`${header}\n${ndjsonRows(rows)}${trailer}\n`); })(), true)) if (e.kind === 'csv') count += e.rows;
  assert.equal(count, 3);
});

test('text that is not UTF-8 becomes U+FFFD, as the string path decodes it', async () => {
  const [header, trailer] = await headerAndTrailer();
  const bytes = Buffer.concat([Buffer.from(`${header}\n["a`), Buffer.from([0xff, 0xc3]), Buffer.from(`b",1]\n${trailer}\n`)]);
  assert.deepEqual(await viaBytes([bytes], false), await viaStrings([bytes], false));
  const got = await viaBytes([bytes], false);
  assert.equal(typeof got === 'string' ? got : got.csv.toString(), 'a\ufffd\ufffdb,1\n');
});
