/**
 * The Parquet writer, read back by an independent reader (DuckDB): the dataset's types, every
 * value (unicode, nulls, extremes), row groups as the rows arrive, an empty file. Its footer,
 * assembled from row groups kept as bytes (footer.ts), against hyparquet-writer's own: the same
 * file byte for byte, with many row groups and with page indexes, read back by hyparquet too.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Cell, Column, ColumnType, Row } from '../dataset/contract.js';
import { DUCKDB_TYPE, readParquetWithDuckDB } from '../../test/parquet-reader.js';
import { parquetChunks, ParquetFileWriter, parquetSchema, type ParquetOptions } from './writer.js';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { CompactFooter, FooterError } from './footer.js';

const col = (name: string, type: ColumnType): Column => ({ name, sourceName: name, type, nullable: true, origin: 'inferred' });
const COLUMNS = [col('id', 'integer'), col('valor', 'decimal'), col('ativo', 'boolean'), col('dia', 'date'), col('quando', 'datetime'), col('cidade', 'text')];

async function write(columns: Column[], batches: Row[][], opts?: ParquetOptions): Promise<{ bytes: Buffer; groups: number; sinkCalls: number }> {
  const parts: Buffer[] = [];
  const w = new ParquetFileWriter(columns, async (b) => void parts.push(Buffer.from(b)), opts);
  for (const rows of batches) await w.writeRows(rows);
  await w.end();
  return { bytes: Buffer.concat(parts), groups: w.rowGroups, sinkCalls: parts.length };
}

function rowsOf(n: number): Row[] {
  const cities = ['São Paulo', 'Zürich', '東京', 'Ñandú 😀', '', '=1+2', 'a "quoted", line\nbreak'];
  return Array.from({ length: n }, (_, i): Cell[] => [
    i % 11 === 0 ? null : i * 1_000_003 - 5e9,
    i % 13 === 0 ? null : (i % 2 ? -1 : 1) * (i / 7),
    i % 17 === 0 ? null : i % 3 === 0,
    i % 19 === 0 ? null : new Date(Date.UTC(1900 + (i % 300), i % 12, 1 + (i % 28))).toISOString().slice(0, 10),
    i % 23 === 0 ? null : new Date(-2e12 + i * 987_654_321).toISOString(),
    i % 29 === 0 ? null : `${cities[i % cities.length]} ${i}`,
  ]);
}

describe('Parquet writer, read back by DuckDB', () => {
  test('every type, unicode, nulls and extremes: the same cells, typed columns', async () => {
    const rows: Row[] = [
      [Number.MAX_SAFE_INTEGER, 1.5, true, '2024-02-29', '2024-03-01T12:34:56.789Z', 'ção 東京 😀'],
      [null, null, null, null, null, null],
      [Number.MIN_SAFE_INTEGER, -0.1, false, '0001-01-01', '1969-12-31T23:59:59.999Z', ''],
      [0, 1e-300, true, '9999-12-31', '2038-01-19T03:14:08.000Z', 'x'.repeat(100_000)],
    ];
    const { bytes } = await write(COLUMNS, [rows]);
    const got = await readParquetWithDuckDB(bytes);
    assert.deepEqual(got.columns, COLUMNS.map((c) => ({ name: c.name, type: DUCKDB_TYPE[c.type] })));
    assert.deepEqual(got.rows, rows);
  });

  test('row groups are written as the rows arrive, each to the sink before the next fills', async () => {
    const rows = rowsOf(10_000);
    const batches = Array.from({ length: 20 }, (_, i) => rows.slice(i * 500, i * 500 + 500));
    const { bytes, groups, sinkCalls } = await write(COLUMNS, batches, { rowGroupRows: 3000 });
    assert.equal(groups, 4);
    assert.equal(sinkCalls, 5, 'one chunk a row group, then the footer');
    const got = await readParquetWithDuckDB(bytes);
    assert.equal(got.rowGroups, 4);
    assert.equal(got.numRows, 10_000);
    assert.deepEqual(got.rows, rows);
  });

  test('a group ends at its cell or text budget', async () => {
    const columns = [col('k', 'integer'), col('t', 'text')];
    const rows: Row[] = Array.from({ length: 3000 }, (_, i) => [i, `${String.fromCharCode(0x41 + (i % 26))}${'é'.repeat(i % 400)}`]);
    const byText = await write(columns, [rows], { rowGroupTextChars: 32 * 1024 });
    assert.ok(byText.groups >= 10, `${byText.groups} groups`);
    assert.deepEqual((await readParquetWithDuckDB(byText.bytes)).rows, rows);
    const byCells = await write(columns, [rows], { rowGroupCells: 1000 });
    assert.equal(byCells.groups, 6); // 500 rows of 2 columns a group
    assert.deepEqual((await readParquetWithDuckDB(byCells.bytes)).rows, rows);
  });

  test('an empty dataset is a valid file with its columns and no rows', async () => {
    const { bytes } = await write(COLUMNS, []);
    const got = await readParquetWithDuckDB(bytes);
    assert.equal(got.rows.length, 0);
    assert.deepEqual(got.columns.map((c) => c.type), COLUMNS.map((c) => DUCKDB_TYPE[c.type]));
  });

  test('parquetChunks: the same file as chunks of a stream', async () => {
    const rows = rowsOf(2000);
    async function* batches() {
      for (let i = 0; i < rows.length; i += 300) yield rows.slice(i, i + 300);
    }
    const chunks: Uint8Array[] = [];
    for await (const c of parquetChunks(COLUMNS, batches(), { rowGroupRows: 700 })) chunks.push(c);
    const got = await readParquetWithDuckDB(Buffer.concat(chunks));
    assert.equal(got.rowGroups, 3);
    assert.deepEqual(got.rows, rows);
  });
});

/** The same rows written by hyparquet-writer alone (its own footer), `groupRows` rows a group; integer, decimal and text columns. */
async function libraryFile(columns: Column[], rows: Row[], groupRows: number): Promise<Buffer> {
  const out = new ByteWriter();
  const w = new ParquetWriter({ writer: out, schema: parquetSchema(columns), createdBy: 'mini-pipeline (hyparquet-writer)' });
  const physical = (v: Cell, c: Column) => (v === null ? null : c.type === 'integer' ? BigInt(v as number) : v);
  for (let at = 0; at < rows.length; at += groupRows) {
    const group = rows.slice(at, at + groupRows);
    await w.write({ columnData: columns.map((c, i) => ({ name: c.name, data: group.map((r) => physical(r[i], c)) })), rowGroupSize: group.length });
  }
  await w.finish();
  return Buffer.from(out.getBytes());
}

/** The rows as hyparquet reads them back (bigints as numbers). */
async function readWithHyparquet(bytes: Buffer): Promise<{ rows: Cell[][]; rowGroups: number; offsetIndexes: number }> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
  const metadata = parquetMetadata(file);
  const objects = await parquetReadObjects({ file, metadata });
  const names = metadata.schema.slice(1).map((e) => e.name);
  const rows = objects.map((o) => names.map((n) => (typeof o[n] === 'bigint' ? Number(o[n]) : (o[n] as Cell))));
  const offsetIndexes = metadata.row_groups.flatMap((g) => g.columns).filter((c) => c.offset_index_offset !== undefined).length;
  return { rows, rowGroups: metadata.row_groups.length, offsetIndexes };
}

describe('Parquet footer kept as bytes, against the library\'s own', () => {
  const columns = [col('id', 'integer'), col('valor', 'decimal'), col('cidade', 'text')];

  for (const groups of [1, 4, 14, 15, 45]) {
    test(`${groups} row groups: the same file as hyparquet-writer's, read back by hyparquet and DuckDB`, async () => {
      const rows: Row[] = Array.from({ length: groups * 150 }, (_, i) => [i % 7 === 0 ? null : i * 1_000_003 - 5e9, i % 5 === 0 ? null : i / 8, i % 9 === 0 ? null : `São Paulo ${i % 40} ${'x'.repeat(i % 13)}`]);
      const ours = await write(columns, [rows.slice(0, 1000), rows.slice(1000)], { rowGroupRows: 150 });
      assert.equal(ours.groups, groups);
      assert.ok(ours.bytes.equals(await libraryFile(columns, rows, 150)), 'byte for byte the library\'s file');
      const back = await readWithHyparquet(ours.bytes);
      assert.equal(back.rowGroups, groups);
      assert.deepEqual(back.rows, rows);
      if (groups >= 40) assert.deepEqual((await readParquetWithDuckDB(ours.bytes)).rows, rows);
    });
  }

  test('multi-page column chunks: their offset indexes after the last group, offsets in the footer as the library writes them', async () => {
    // Unique 600-character texts, 2,000 a group: over the library's 1 MiB page size, so two pages a chunk.
    const rows: Row[] = Array.from({ length: 6000 }, (_, i) => [i, i / 3, `${i}:${'ç'.repeat(300)}${String(i * 7919).padStart(300, '0')}`]);
    const ours = await write(columns, [rows], { rowGroupRows: 2000, rowGroupTextChars: 1e9 });
    const library = await libraryFile(columns, rows, 2000);
    const back = await readWithHyparquet(library);
    assert.ok(back.offsetIndexes >= 3, `the library's file has offset indexes (${back.offsetIndexes})`);
    assert.ok(ours.bytes.equals(library), 'byte for byte the library\'s file');
    assert.deepEqual((await readParquetWithDuckDB(ours.bytes)).rows, rows);
  });

  test('what the footer cannot splice (a bloom filter, written after the indexes) is refused, not written', async () => {
    const schema = parquetSchema(columns);
    const w = new ParquetWriter({ writer: new ByteWriter(), schema });
    await w.write({ columnData: [{ name: 'id', data: [1n, 2n], bloomFilter: true }, { name: 'valor', data: [1, 2] }, { name: 'cidade', data: ['a', 'b'] }] });
    const footer = new CompactFooter({ schema, createdBy: 'x' });
    assert.throws(() => footer.add(w.row_groups[0], w.pendingIndexes), FooterError);
  });

  test('an empty file: the library\'s bytes', async () => {
    const ours = await write(columns, []);
    assert.ok(ours.bytes.equals(await libraryFile(columns, [], 1)));
  });
});
