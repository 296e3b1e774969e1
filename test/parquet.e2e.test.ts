/**
 * Parquet in the output bucket, through the local stack (embedded S3, notifications, gateway,
 * function processes), read back by an independent reader (DuckDB): every example file and a
 * 300,000-row generated file with `OUTPUT_FORMATS=csv,parquet` (same rows as the manifest, typed
 * columns, values equal to the cleaned CSV, several row groups); `parquet` alone with Power BI
 * reading its rows back from the Parquet file; the ad-hoc answer through the gateway.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { readCleaned } from '../shared/csv/cleaned-csv.js';
import type { Cell, Column } from '../shared/dataset/contract.js';
import { examplePath, repoRoot } from './kit.js';
import { emulatorRows, objectExists, readObject, useTestStack, waitForJson, type TestStack } from './helpers.js';
import { DUCKDB_TYPE, readParquetWithDuckDB } from './parquet-reader.js';
import { typedLines } from '../bench/generate.js';

interface Manifest {
  status: string;
  schema: { columns: Column[] };
  stats: { rowsOut: number; rowsRejected: number };
  outputs: { cleaned?: string; parquet?: string };
  sinks: Record<string, { rowsSent?: number }>;
}

async function cleanedRows(t: TestStack, key: string, columns: Column[]): Promise<Cell[][]> {
  const rows: Cell[][] = [];
  for await (const batch of readCleaned(Readable.from([await readObject(t.s3, 'processed', key)]), columns, true)) rows.push(...batch);
  return rows;
}

/** Upload, wait for the manifest, and check the Parquet output against it and against the cleaned CSV. */
async function checkParquet(t: TestStack, key: string, body: Buffer, timeoutMs = 60_000): Promise<{ manifest: Manifest; rowGroups: number }> {
  await t.s3.putObject('incoming', key, body, body.length, { 'Content-Type': 'text/csv' });
  const manifest = await waitForJson<Manifest>(t.s3, 'processed', `manifests/${key}.json`, timeoutMs);
  assert.equal(manifest.status, 'published', key);
  assert.equal(manifest.outputs.parquet, `cleaned/${key}.parquet`);
  assert.equal(manifest.outputs.cleaned, `cleaned/${key}`);
  const columns = manifest.schema.columns;
  const parquet = await readParquetWithDuckDB(await readObject(t.s3, 'processed', manifest.outputs.parquet!));
  assert.equal(parquet.numRows, manifest.stats.rowsOut, `${key}: the Parquet file has the manifest's rows`);
  assert.deepEqual(parquet.columns, columns.map((c) => ({ name: c.name, type: DUCKDB_TYPE[c.type] })), `${key}: typed columns named as in the cleaned CSV`);
  const csv = await cleanedRows(t, manifest.outputs.cleaned!, columns);
  assert.equal(csv.length, parquet.rows.length);
  for (let i = 0; i < csv.length; i++) assert.deepEqual(parquet.rows[i], csv[i], `${key}: row ${i + 1}`);
  return { manifest, rowGroups: parquet.rowGroups };
}

describe('Parquet beside the cleaned CSV (OUTPUT_FORMATS=csv,parquet)', () => {
  const stack = useTestStack({ OUTPUT_FORMATS: 'csv,parquet', POWERBI_ENABLED: 'false' });

  test('every example file: a Parquet output DuckDB reads back typed, equal to the cleaned CSV', async () => {
    const t = stack();
    const names = readdirSync(`${repoRoot}/examples`).filter((n) => n.endsWith('.csv'));
    assert.ok(names.length >= 4);
    for (const name of names) {
      const { manifest } = await checkParquet(t, `examples/${name}`, readFileSync(examplePath(name)));
      assert.ok(manifest.stats.rowsOut > 0, name);
    }
  });

  test('a 300,000-row generated file: every row, several row groups, each type', async () => {
    const t = stack();
    const { manifest, rowGroups } = await checkParquet(t, 'big/generated_300k.csv', Buffer.from([...typedLines(300_000)].join('')), 240_000);
    assert.equal(manifest.stats.rowsOut + manifest.stats.rowsRejected, 300_000);
    assert.ok(manifest.stats.rowsOut > 299_000);
    assert.deepEqual(
      manifest.schema.columns.map((c) => c.type),
      ['integer', 'text', 'decimal', 'date', 'datetime', 'boolean', 'text'],
    );
    assert.ok(rowGroups >= 4, `${rowGroups} row groups`);
  });

  test('ad-hoc through the gateway: Accept: application/vnd.apache.parquet answers the same rows as text/csv', async () => {
    const t = stack();
    // The earlier uploads' chain has answered (a whole-suite run once saw this request reset while it had not).
    await t.stack.bridge!.settled();
    const body = readFileSync(examplePath('vendas_ptbr.csv'));
    const ask = async (accept: string) => {
      // A new connection for each request, as curl makes: a pooled one from an earlier suite (whose
      // gateway is gone, its port perhaps reused) was reset twice in whole-suite runs.
      const fresh = new Agent();
      try {
        const res = await request(`${t.stack.gateway.url}/function/transform`, { method: 'POST', headers: { 'content-type': 'text/csv', accept }, body, dispatcher: fresh });
        assert.equal(res.statusCode, 200);
        return { type: String(res.headers['content-type']), rows: res.headers['x-rows'], bytes: Buffer.from(await res.body.arrayBuffer()) };
      } finally {
        await fresh.close();
      }
    };
    const pq = await ask('application/vnd.apache.parquet');
    assert.equal(pq.type, 'application/vnd.apache.parquet');
    const csv = await ask('text/csv');
    const got = await readParquetWithDuckDB(pq.bytes);
    assert.equal(String(got.numRows), pq.rows);
    const columns = got.columns.map((c) => ({ name: c.name, type: (Object.entries(DUCKDB_TYPE).find(([, v]) => v === c.type)![0]) as Column['type'], sourceName: c.name, nullable: true, origin: 'inferred' as const }));
    const expected: Cell[][] = [];
    for await (const batch of readCleaned(Readable.from([csv.bytes]), columns, true)) expected.push(...batch);
    assert.deepEqual(got.rows, expected);
  });
});

describe('Parquet alone (OUTPUT_FORMATS=parquet): Power BI reads the rows back from it', () => {
  const stack = useTestStack({ OUTPUT_FORMATS: 'parquet' });

  test('no cleaned CSV; the emulator gets every row of the Parquet file, with its values', async () => {
    const t = stack();
    const body = readFileSync(examplePath('vendas_ptbr.csv'));
    await t.s3.putObject('incoming', 'vendas_ptbr.csv', body, body.length, { 'Content-Type': 'text/csv' });
    const manifest = await waitForJson<Manifest>(t.s3, 'processed', 'manifests/vendas_ptbr.csv.json', 60_000);
    assert.equal(manifest.status, 'published');
    assert.equal(manifest.outputs.cleaned, undefined);
    assert.equal(manifest.outputs.parquet, 'cleaned/vendas_ptbr.csv.parquet');
    assert.equal(await objectExists(t.s3, 'processed', 'cleaned/vendas_ptbr.csv'), false);
    const parquet = await readParquetWithDuckDB(await readObject(t.s3, 'processed', manifest.outputs.parquet!));
    assert.equal(parquet.numRows, manifest.stats.rowsOut);
    assert.equal(manifest.sinks['powerbi-push'].rowsSent, manifest.stats.rowsOut);
    const pbi = await emulatorRows(t);
    assert.equal(pbi.total, manifest.stats.rowsOut);
    const names = manifest.schema.columns.map((c) => c.name);
    const types = manifest.schema.columns.map((c) => c.type);
    // Power BI's rows in the order pushed; dates and datetimes travel as ISO date-times.
    const asPushed = (v: Cell, i: number) => (v !== null && types[i] === 'date' ? `${v}T00:00:00.000Z` : v);
    const pushed = pbi.rows.map((r) => names.map((n) => (r[n] ?? null) as Cell));
    assert.deepEqual(pushed.map((r) => r.map((v, i) => (types[i] === 'date' && typeof v === 'string' ? new Date(v).toISOString() : v))), parquet.rows.map((r) => r.map(asPushed)));
  });
});
