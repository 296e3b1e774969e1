// DuckDB as a peer (`npm run bench`): the same job expressed in SQL — read the CSV with type
// detection (rows that do not fit are skipped, as transform rejects them), write the typed rows
// as NDJSON (a peer of transform) or as Parquet (`parquet`: a peer of the Parquet output). Threads
// as asked (1: as a function has one core). Plain JS: no loader in the measured process.
// node bench/duckdb.mjs <file> [delimiter ('' detects it)] [threads] [json|parquet]
import { peakRssMB } from './peak-rss.mjs';
import { DuckDBInstance } from '@duckdb/node-api';
import { rmSync, statSync } from 'node:fs';

const [file, delimiter = ',', threads = '1', format = 'json'] = process.argv.slice(2);
const out = `${file}.duckdb.${format === 'parquet' ? 'parquet' : 'ndjson'}`;
const t0 = performance.now();
const db = await DuckDBInstance.create(':memory:', { threads });
const con = await db.connect();
const esc = (s) => s.replace(/'/g, "''");
const delim = delimiter ? `, delim = '${esc(delimiter)}'` : '';
await con.run(`COPY (SELECT * FROM read_csv('${esc(file)}'${delim}, quote = '"', header = true, auto_detect = true, ignore_errors = true, strict_mode = false, null_padding = true)) TO '${esc(out)}' (FORMAT ${format === 'parquet' ? 'parquet' : 'json'})`);
const seconds = (performance.now() - t0) / 1000;
const outBytes = statSync(out).size;
const reader = format === 'parquet' ? 'read_parquet' : 'read_json';
const rows = Number((await (await con.runAndReadAll(`SELECT count(*) FROM ${reader}('${esc(out)}')`)).getRows())[0][0]);
rmSync(out, { force: true });
process.stdout.write(JSON.stringify({ mode: `duckdb-${format}`, seconds, rows, outBytes, maxRssMB: peakRssMB() }) + '\n');
