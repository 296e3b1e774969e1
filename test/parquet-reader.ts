/**
 * Reading a Parquet file with an independent reader (DuckDB, `@duckdb/node-api`), for the tests:
 * its column types as DuckDB names them, its rows as dataset cells (so that they compare with
 * the cleaned CSV read back by `readCleaned`), and its row groups.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cell, ColumnType } from '../shared/dataset/contract.js';

export interface ParquetRead {
  columns: { name: string; type: string }[];
  rows: Cell[][];
  rowGroups: number;
  numRows: number;
}

/** What DuckDB calls each dataset type once read from our Parquet. */
export const DUCKDB_TYPE: Record<ColumnType, string> = {
  integer: 'BIGINT',
  decimal: 'DOUBLE',
  boolean: 'BOOLEAN',
  date: 'DATE',
  datetime: 'TIMESTAMP WITH TIME ZONE',
  text: 'VARCHAR',
};

function toCell(v: unknown, type: string): Cell {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return type === 'DATE' ? v.toISOString().slice(0, 10) : v.toISOString();
  return v as Cell;
}

export async function readParquetWithDuckDB(bytes: Uint8Array): Promise<ParquetRead> {
  const dir = mkdtempSync(join(tmpdir(), 'parquet-read-'));
  const file = join(dir, 'f.parquet');
  writeFileSync(file, bytes);
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const con = await db.connect();
  try {
    const result = await con.runAndReadAll(`SELECT * FROM read_parquet('${file}')`);
    const types = result.columnTypes().map(String);
    const columns = result.columnNames().map((name, i) => ({ name, type: types[i] }));
    const rows = result.getRowsJS().map((r) => r.map((v, i) => toCell(v, types[i])));
    const meta = (await con.runAndReadAll(`SELECT count(*) AS groups, coalesce(sum(row_group_num_rows), 0) AS n FROM parquet_metadata('${file}') WHERE column_id = 0`)).getRowObjectsJS()[0];
    return { columns, rows, rowGroups: Number(meta.groups), numRows: Number(meta.n) };
  } finally {
    con.closeSync();
    db.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
}
