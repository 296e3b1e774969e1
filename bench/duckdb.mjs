// DuckDB as a peer of transform (`npm run bench`): the same job expressed in SQL — read the CSV
// with type detection (rows that do not fit are skipped, as transform rejects them), write the
// typed rows as NDJSON. Threads as asked (1: as transform has one core). Plain JS: no loader in the measured process.
// node bench/duckdb.mjs <file> [delimiter] [threads]
import { DuckDBInstance } from '@duckdb/node-api';
import { rmSync } from 'node:fs';

const [file, delimiter = ',', threads = '1'] = process.argv.slice(2);
const out = `${file}.duckdb.ndjson`;
const t0 = performance.now();
const db = await DuckDBInstance.create(':memory:', { threads });
const con = await db.connect();
const esc = (s) => s.replace(/'/g, "''");
await con.run(`COPY (SELECT * FROM read_csv('${esc(file)}', delim = '${esc(delimiter)}', quote = '"', header = true, auto_detect = true, ignore_errors = true, strict_mode = false, null_padding = true)) TO '${esc(out)}' (FORMAT json)`);
const seconds = (performance.now() - t0) / 1000;
const rows = Number((await (await con.runAndReadAll(`SELECT count(*) FROM read_json('${esc(out)}')`)).getRows())[0][0]);
rmSync(out, { force: true });
process.stdout.write(JSON.stringify({ mode: 'duckdb', seconds, rows, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n');
