/**
 * Conformance: every case of the CSV corpus (`fixtures/csv-corpus/`, see its MANIFEST.md).
 * The raw table read must equal the expected header and rows exactly, with the expected
 * encoding, delimiter and blank-line count. Where the cleaned dataset deliberately differs
 * (ragged rows, duplicate or blank headers, decimal commas), the policy is asserted too.
 */
import assert from 'node:assert/strict';
import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fixturePath } from '../../test/kit.js';
import type { Dialect } from '../dataset/contract.js';
import { csvDefaults } from './config.js';
import { transformCsv, transformCsvEncoded, transformOptionsFrom, type DatasetEvent } from './clean.js';
import { encodeNdjson } from '../dataset/ndjson.js';
import { Problem } from '../runtime/problem.js';
import { readCsv, type ReadStats } from './reader.js';

interface Expected {
  file: string;
  header: string[];
  rows: string[][];
  encoding: string;
  bom: boolean;
  delimiter: string;
  blank_lines_omitted?: number;
  ragged_rows?: { row: number; fields: number }[];
}

const root = fixturePath('csv-corpus');
const cases: string[] = [];
for (const suite of ['spectrum/csvs', 'frictionless', 'csvkit', 'mini-pipeline']) {
  for (const f of readdirSync(join(root, suite))) if (f.endsWith('.expected.json')) cases.push(join(suite, f));
}
const limits = { maxFieldBytes: 1 << 20, maxRecordBytes: 1 << 24, maxColumns: 2000 };

async function readRaw(path: string) {
  let dialect: Dialect | undefined;
  const stats: ReadStats = { bytesIn: 0, blankLines: 0 };
  const records: string[][] = [];
  for await (const batch of readCsv(createReadStream(path, { highWaterMark: 7 }), { ...limits, onDialect: (d) => (dialect = d) }, stats)) {
    for (const r of batch) records.push(r.fields);
  }
  return { dialect: dialect!, stats, records };
}

describe('CSV corpus: raw tables', () => {
  assert.ok(cases.length >= 35, `found ${cases.length} cases`);
  for (const c of cases) {
    test(c, async () => {
      const exp = JSON.parse(readFileSync(join(root, c), 'utf8')) as Expected;
      // Tiny 7-byte chunks: multi-byte characters and CRLF pairs straddle chunk boundaries.
      const { dialect, stats, records } = await readRaw(join(root, c.replace('.expected.json', '.csv')));
      const table = exp.header.length ? [exp.header, ...exp.rows] : [];
      assert.deepEqual(records, table);
      if (exp.header.length) {
        assert.equal(dialect.encoding, exp.encoding === 'windows-1252' ? 'windows-1252' : 'utf-8');
        assert.equal(dialect.bom, exp.bom);
        assert.equal(dialect.delimiter, exp.delimiter);
      }
      assert.equal(stats.blankLines, exp.blank_lines_omitted ?? 0);
    });
  }
});

/** The dataset as NDJSON text (timestamps left out), by the string path or the typed one. */
async function ndjsonText(path: string, encoded: boolean): Promise<string> {
  const opts = transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: path }, { maxRejectRatio: 1, sampleRows: 2 });
  const out: string[] = [];
  try {
    const events = encoded ? transformCsvEncoded(createReadStream(path, { highWaterMark: 7 }), opts) : transformCsv(createReadStream(path, { highWaterMark: 7 }), opts);
    for await (const s of encodeNdjson(events)) out.push(String(s));
  } catch (err) {
    if (err instanceof Problem) return `problem ${err.status} ${err.detail}`;
    throw err;
  }
  return out.join('').replace(/"startedAt":"[^"]*"/, '').replace(/"durationMs":\d+/, '');
}

describe('CSV corpus: the typed path writes the string path’s bytes', () => {
  for (const c of cases) {
    test(c, async () => {
      const path = join(root, c.replace('.expected.json', '.csv'));
      // A sample of 2 rows: every later line goes through the typed path.
      assert.equal(await ndjsonText(path, true), await ndjsonText(path, false));
    });
  }
});

async function dataset(path: string, overrides = {}) {
  const opts = transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: path }, { maxRejectRatio: 1, ...overrides });
  const events: DatasetEvent[] = [];
  for await (const e of transformCsv(createReadStream(join(root, path)), opts)) events.push(e);
  const header = events.find((e) => e.kind === 'header')!;
  const rows = events.flatMap((e) => (e.kind === 'rows' ? e.rows : []));
  const rejects = events.flatMap((e) => (e.kind === 'reject' ? [e.reject] : []));
  const trailer = events.find((e) => e.kind === 'trailer')!;
  return { header: header.kind === 'header' ? header.header : undefined!, rows, rejects, trailer: trailer.kind === 'trailer' ? trailer.trailer : undefined! };
}

describe('CSV corpus: cleaning policy', () => {
  test('CRLF, LF and bare CR terminators mixed anywhere, with a quoted CRLF inside a field: every record, no reject', async () => {
    const d = await dataset('mini-pipeline/mixed_terminators.csv');
    assert.equal(d.rows.length, 6);
    assert.deepEqual(d.rejects, []);
    assert.equal(d.rows[1][2], 'two\r\nlines', 'the quoted CRLF is field content');
    assert.deepEqual(d.rows.map((r) => r[0]), [1, 2, 3, 4, 5, 6]);
  });

  test('ragged rows go to the rejects with their line; nothing shifts into wrong columns', async () => {
    const d = await dataset('frictionless/invalid.csv');
    assert.deepEqual(d.header.schema.columns.map((c) => c.name), ['id', 'name', 'column_3', 'name_2']);
    assert.deepEqual(d.rows, []);
    assert.deepEqual(d.rejects.map((r) => [r.line, r.reason]), [
      [2, 'expected 4 fields, found 2'],
      [3, 'expected 4 fields, found 2'],
      [5, 'expected 4 fields, found 5'],
    ]);
    assert.deepEqual(d.trailer.stats.rejectReasons, { 'too few fields': 2, 'too many fields': 1 });
    const bad = await dataset('csvkit/bad.csv');
    assert.equal(bad.rows.length, 1);
    assert.deepEqual(bad.rejects.map((r) => r.line), [2, 3]);
  });

  test('duplicate headers are made unique; leading-zero codes stay text', async () => {
    const d = await dataset('frictionless/duplicate-headers.csv');
    assert.deepEqual(d.header.schema.columns.map((c) => [c.name, c.sourceName]), [
      ['id', 'id'],
      ['name', 'name'],
      ['id_2', 'id'],
      ['age', 'age'],
      ['id_3', 'id'],
    ]);
    const raw = await readRaw(join(root, 'frictionless/duplicate-headers.csv'));
    const zeroCol = raw.records[0].findIndex((_, i) => raw.records.slice(1).some((r) => r[i] === '001101'));
    assert.ok(zeroCol >= 0);
    assert.equal(d.header.schema.columns[zeroCol].type, 'text');
    assert.ok(d.rows.some((r) => r[zeroCol] === '001101'));
  });

  test('European exports: windows-1252, ";" and decimal commas read as numbers', async () => {
    const d = await dataset('frictionless/table-with-accents.csv');
    const cols = Object.fromEntries(d.header.schema.columns.map((c) => [c.name, c]));
    assert.equal(cols['année'].sourceName, 'Année');
    assert.equal(cols['occupancy_rate'].type, 'decimal');
    assert.equal(cols['occupancy_rate'].decimalSeparator, ',');
    assert.equal(d.rows.length, 638);
    assert.equal(d.rows[0][4], 0.611553068);
  });

  test('quoted decimal comma and dot thousands with decimal=","', async () => {
    const d = await dataset('csvkit/test_locale.csv', { decimal: ',' });
    assert.deepEqual(d.rows, [[1.7, 200000000, null]]);
  });

  test('empty and header-only files', async () => {
    await assert.rejects(dataset('frictionless/empty.csv'), /no header/);
    await assert.rejects(dataset('csvkit/empty.csv'), /no header/);
    const d = await dataset('frictionless/without-rows.csv');
    assert.deepEqual(d.header.schema.columns.map((c) => c.name), ['id', 'name']);
    assert.equal(d.rows.length, 0);
    assert.equal(d.trailer.error, undefined);
  });

  test('the multi-line header cell is normalised; the raw name is kept', async () => {
    const d = await dataset('csvkit/test_header_newline.csv');
    assert.equal(d.header.schema.columns[0].name, 'start_end');
    assert.match(d.header.schema.columns[0].sourceName, /^\t\n/);
  });
});
