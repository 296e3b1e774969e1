// How the Parquet writer was chosen (README, Benchmarks): the same typed rows (every dataset type,
// ~5% nulls, unicode text) written by each candidate with the same row group size, each in a
// fresh process, candidates interleaved, best of 3; import cost (cold start) best of 5; bundle size
// through esbuild as dev/build.ts bundles a function. The candidates beside the project's own
// dependency are installed for the run only:
//   npm i --no-save parquet-wasm apache-arrow && node bench/parquet-libraries.mjs [rows]
import { execFileSync } from 'node:child_process';
import { peakRssMB } from './peak-rss.mjs';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const NAMES = ['id', 'valor', 'dia', 'quando', 'cidade', 'ativo'];
const GROUP = Math.floor(131_072 / NAMES.length);

function* batches(n, size = 1000) {
  let seed = 1;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const words = ['São Paulo', 'Curitiba', 'Ñandú', 'Zürich', 'naïve café', 'Lisboa', '東京', 'Ribeirão Preto'];
  for (let i = 0; i < n; i += size) {
    const rows = [];
    for (let j = i; j < Math.min(n, i + size); j++) {
      const nul = rnd() < 0.05;
      rows.push([j, nul ? null : Math.round(rnd() * 1e6) / 100, nul ? null : `2024-${String(1 + (j % 12)).padStart(2, '0')}-${String(1 + (j % 28)).padStart(2, '0')}`, new Date(1.7e12 + j * 1000).toISOString(), nul ? null : `${words[j % words.length]} ${j % 977}`, rnd() < 0.5]);
    }
    yield rows;
  }
}

async function hyparquetWriter(n) {
  const { ParquetWriter, ByteWriter } = await import('hyparquet-writer');
  let out = 0;
  const w = new ByteWriter();
  w.flush = () => {
    out += w.index;
    w.index = 0;
  };
  w.finish = w.flush;
  const schema = [
    { name: 'root', num_children: 6 },
    { name: 'id', type: 'INT64', repetition_type: 'OPTIONAL' },
    { name: 'valor', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
    { name: 'dia', type: 'INT32', converted_type: 'DATE', logical_type: { type: 'DATE' }, repetition_type: 'OPTIONAL' },
    { name: 'quando', type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' }, repetition_type: 'OPTIONAL' },
    { name: 'cidade', type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, repetition_type: 'OPTIONAL' },
    { name: 'ativo', type: 'BOOLEAN', repetition_type: 'OPTIONAL' },
  ];
  const pw = new ParquetWriter({ writer: w, schema });
  let cols = NAMES.map(() => []);
  let k = 0;
  const flush = async () => {
    if (!k) return;
    await pw.write({ columnData: NAMES.map((name, i) => ({ name, data: cols[i] })), rowGroupSize: k });
    cols = NAMES.map(() => []);
    k = 0;
  };
  for (const rows of batches(n)) {
    for (const r of rows) {
      cols[0].push(BigInt(r[0]));
      cols[1].push(r[1]);
      cols[2].push(r[2] === null ? null : Date.parse(r[2]) / 86_400_000);
      cols[3].push(BigInt(Date.parse(r[3])));
      cols[4].push(r[4]);
      cols[5].push(r[5]);
      if (++k === GROUP) await flush();
    }
  }
  await flush();
  await pw.finish();
  return out;
}

async function parquetWasm(n) {
  const arrow = await import('apache-arrow');
  const pq = await import('parquet-wasm');
  const types = [new arrow.Int64(), new arrow.Float64(), new arrow.DateDay(), new arrow.TimestampMillisecond('UTC'), new arrow.Utf8(), new arrow.Bool()];
  let cols = NAMES.map(() => []);
  let k = 0;
  const props = new pq.WriterPropertiesBuilder().setCompression(pq.Compression.SNAPPY).setMaxRowGroupSize(GROUP).build();
  const toBatch = () => {
    const table = new arrow.Table(Object.fromEntries(NAMES.map((nm, i) => [nm, arrow.vectorFromArray(cols[i], types[i])])));
    cols = NAMES.map(() => []);
    k = 0;
    return pq.Table.fromIPCStream(arrow.tableToIPC(table, 'stream')).recordBatch(0);
  };
  const stream = new ReadableStream({
    async start(c) {
      for (const rows of batches(n)) {
        for (const r of rows) {
          cols[0].push(BigInt(r[0]));
          cols[1].push(r[1]);
          cols[2].push(r[2] === null ? null : new Date(r[2]));
          cols[3].push(new Date(r[3]));
          cols[4].push(r[4]);
          cols[5].push(r[5]);
          if (++k === GROUP) {
            c.enqueue(toBatch());
            await new Promise(setImmediate);
          }
        }
      }
      if (k) c.enqueue(toBatch());
      c.close();
    },
  });
  let out = 0;
  for await (const chunk of await pq.transformParquetStream(stream, props)) out += chunk.length;
  return out;
}

const WRITERS = { 'hyparquet-writer': hyparquetWriter, 'parquet-wasm + apache-arrow': parquetWasm };
const IMPORTS = { 'hyparquet-writer': ['hyparquet-writer'], 'parquet-wasm + apache-arrow': ['apache-arrow', 'parquet-wasm'] };
const [mode, lib, arg] = process.argv.slice(2);

if (mode === 'write') {
  const t0 = performance.now();
  const bytes = await WRITERS[lib](Number(arg));
  process.stdout.write(JSON.stringify({ seconds: (performance.now() - t0) / 1000, bytes, maxRssMB: peakRssMB() }) + '\n');
} else if (mode === 'import') {
  const t0 = performance.now();
  for (const m of IMPORTS[lib]) await import(m);
  process.stdout.write(JSON.stringify({ ms: performance.now() - t0 }) + '\n');
} else {
  const rows = Number(mode ?? 300_000);
  const me = new URL(import.meta.url).pathname;
  const run = (...args) => JSON.parse(execFileSync(process.execPath, [me, ...args], { encoding: 'utf8' }).trim().split('\n').pop());
  const best = {};
  for (let i = 0; i < 3; i++) for (const lib of Object.keys(WRITERS)) {
    const r = run('write', lib, String(rows));
    if (!best[lib] || r.seconds < best[lib].seconds) best[lib] = { ...r, maxRssMB: Math.max(r.maxRssMB, best[lib]?.maxRssMB ?? 0) };
  }
  const cold = {};
  for (let i = 0; i < 5; i++) for (const lib of Object.keys(WRITERS)) cold[lib] = Math.min(cold[lib] ?? Infinity, run('import', lib).ms);
  // Bundle size as a function bundles it (esbuild, minified, CommonJS); a .wasm file ships beside it.
  const dir = mkdtempSync(join(tmpdir(), 'pq-bundle-'));
  const require = createRequire(join(process.cwd(), 'package.json'));
  const { buildSync } = require('esbuild');
  const bundle = {};
  for (const lib of Object.keys(WRITERS)) {
    const entry = join(dir, 'entry.mjs');
    writeFileSync(entry, IMPORTS[lib].map((m, i) => `import * as m${i} from '${m}'; globalThis.m${i} = m${i};`).join('\n'));
    buildSync({ entryPoints: [entry], outfile: join(dir, 'out.cjs'), bundle: true, minify: true, platform: 'node', format: 'cjs', nodePaths: [join(process.cwd(), 'node_modules')], logLevel: 'error' });
    const js = statSync(join(dir, 'out.cjs')).size;
    const wasm = lib.startsWith('parquet-wasm') ? statSync(join(process.cwd(), 'node_modules/parquet-wasm/node/parquet_wasm_bg.wasm')).size : 0;
    bundle[lib] = { js, wasm };
  }
  rmSync(dir, { recursive: true, force: true });
  console.log(`${rows.toLocaleString('en')} rows × 6 columns (every type), row groups of ${GROUP.toLocaleString('en')} rows, snappy; best of 3 fresh processes, interleaved`);
  console.log('| library | rows/s | MB/s written | peak RSS MB | file MB | import (best of 5) | bundle JS KiB | + WASM KiB |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const lib of Object.keys(WRITERS)) {
    const b = best[lib];
    console.log(`| ${lib} | ${Math.round(rows / b.seconds).toLocaleString('en')} | ${(b.bytes / 1e6 / b.seconds).toFixed(1)} | ${b.maxRssMB.toFixed(0)} | ${(b.bytes / 1e6).toFixed(1)} | ${cold[lib].toFixed(0)} ms | ${(bundle[lib].js / 1024).toFixed(0)} | ${(bundle[lib].wasm / 1024).toFixed(0)} |`);
  }
}
