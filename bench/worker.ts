/**
 * One measurement in a fresh process (so peak RSS is its own): `node bench/out/worker.mjs <mode> <file> [delimiter]`.
 * Prints one JSON line: { mode, seconds, rows, outBytes, maxRssMB }.
 * `parquet-writer` is the writer-only probe: BENCH_PROBE_ROWS rows (cycled from the file's first 20,000) into Parquet.
 */
import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import Papa from 'papaparse';
import { inferSchema, initParser } from 'udsv';
import { csvDefaults } from '../shared/csv/config.js';
import { encodeNdjson } from '../shared/dataset/ndjson.js';
import { transformCsv, transformCsvEncoded, transformOptionsFrom } from '../shared/csv/clean.js';
import { csvLine } from '../shared/csv/writer.js';
import { readCsv } from '../shared/csv/reader.js';
import { ParquetFileWriter } from '../shared/parquet/writer.js';
import { open } from 'node:fs/promises';
import type { Column, Row } from '../shared/dataset/contract.js';
import { peakRssMB } from './peak-rss.mjs';

const [mode, file, delimiter = ','] = process.argv.slice(2);
const t0 = performance.now();
let rows = 0;
let outBytes = 0;

/** Every peer reads the file the same way: 64 KiB at a time (1 MiB reads cost papaparse 3–4× in full GCs). */
const READ = 64 * 1024;

if (mode === 'floor') {
  // The floor: Node reading and decoding UTF-8, nothing else.
  const decoder = new StringDecoder('utf8');
  for await (const b of createReadStream(file, { highWaterMark: READ })) outBytes += decoder.write(b as Buffer).length;
} else if (mode === 'papaparse-stream') {
  // Bare papaparse, arrays, no typing, in its stream-input mode on a decoded stream.
  await new Promise<void>((resolve, reject) => {
    Papa.parse(createReadStream(file, { encoding: 'utf8', highWaterMark: READ }) as unknown as File, {
      header: false,
      delimiter,
      chunk: (r: Papa.ParseResult<string[]>) => {
        rows += r.data.length;
      },
      complete: () => resolve(),
      error: (e: Error) => reject(e),
    });
  });
} else if (mode === 'papaparse-parser') {
  // Bare papaparse's own parser fed 64 KiB decoded strings, carrying the unfinished record.
  const parser = new Papa.Parser({ delimiter, newline: '\n', quoteChar: '"' });
  const decoder = new StringDecoder('utf8');
  let partial = '';
  let base = 0;
  const feed = (text: string, last: boolean) => {
    const agg = partial + text;
    const r = parser.parse(agg, base, !last);
    partial = agg.substring(r.meta.cursor - base);
    base = r.meta.cursor;
    rows += r.data.length;
  };
  for await (const b of createReadStream(file, { highWaterMark: READ })) feed(decoder.write(b as Buffer), false);
  feed(decoder.end(), true);
} else if (mode === 'udsv-strings' || mode === 'udsv-typed') {
  // uDSV's incremental parser: string arrays, or typed by its own inferred schema, one row at a time.
  const decoder = new StringDecoder('utf8');
  let parser: ReturnType<typeof initParser> | undefined;
  const count = () => void rows++;
  for await (const b of createReadStream(file, { highWaterMark: READ })) {
    const text = decoder.write(b as Buffer);
    parser ??= initParser(inferSchema(text, { col: delimiter, encl: '"' }));
    parser.chunk(text, (mode === 'udsv-typed' ? parser.typedArrs : parser.stringArrs) as never, count);
  }
  parser?.end();
} else if (mode === 'naive') {
  // The naive pipeline: header:true objects, normalise, Papa.unparse per chunk.
  await new Promise<void>((resolve, reject) => {
    Papa.parse(createReadStream(file, { encoding: 'utf8', highWaterMark: READ }) as unknown as File, {
      header: true,
      dynamicTyping: true,
      skipEmptyLines: true,
      chunk: (r: Papa.ParseResult<Record<string, unknown>>) => {
        rows += r.data.length;
        outBytes += Papa.unparse(r.data).length;
      },
      complete: () => resolve(),
      error: (e: Error) => reject(e),
    });
  });
} else if (mode === 'reader') {
  // The transform's reader alone (decode, terminators, records): where the parsing time goes.
  const config = csvDefaults();
  const batches = readCsv(createReadStream(file, { highWaterMark: READ }), { maxFieldBytes: config.CSV_MAX_FIELD_BYTES, maxRecordBytes: config.CSV_MAX_RECORD_BYTES, maxColumns: config.CSV_MAX_COLUMNS });
  for await (const batch of batches) rows += batch.length;
} else if (mode === 'transform') {
  // What transform puts on the wire: the dataset as NDJSON bytes.
  const config = csvDefaults();
  const events = transformCsvEncoded(createReadStream(file, { highWaterMark: Number(process.env.BENCH_READ_BYTES ?? READ) }), transformOptionsFrom(config, { kind: 'adhoc', name: file }, { maxRejectRatio: 1 }));
  async function* counted() {
    for await (const e of events) {
      if (e.kind === 'encoded') rows += e.rows;
      yield e;
    }
  }
  for await (const s of encodeNdjson(counted())) outBytes += typeof s === 'string' ? Buffer.byteLength(s) : s.length;
} else if (mode === 'transform-csv') {
  // The ad-hoc clean CSV answer: rows typed from their bytes straight into CSV lines.
  const config = csvDefaults();
  const events = transformCsvEncoded(createReadStream(file, { highWaterMark: Number(process.env.BENCH_READ_BYTES ?? READ) }), transformOptionsFrom(config, { kind: 'adhoc', name: file }, { maxRejectRatio: 1 }), { format: 'csv', escapeFormulas: true });
  for await (const e of events) {
    if (e.kind === 'encoded-csv') {
      rows += e.rows;
      outBytes += e.csv.length;
    } else if (e.kind === 'rows') {
      rows += e.rows.length;
      for (const r of e.rows) outBytes += Buffer.byteLength(csvLine(r, true));
    }
  }
} else if (mode === 'transform-csv-strings') {
  // The same answer by the string path (records → typed rows → csvLine): what it was before the byte path.
  const config = csvDefaults();
  const events = transformCsv(createReadStream(file, { highWaterMark: Number(process.env.BENCH_READ_BYTES ?? READ) }), transformOptionsFrom(config, { kind: 'adhoc', name: file }, { maxRejectRatio: 1 }));
  for await (const e of events) {
    if (e.kind !== 'rows') continue;
    rows += e.rows.length;
    for (const r of e.rows) outBytes += Buffer.byteLength(csvLine(r, true));
  }
} else if (mode === 'transform-parquet') {
  // The typed rows into a Parquet file (as publish writes it, to a local file instead of the bucket).
  const config = csvDefaults();
  const events = transformCsv(createReadStream(file, { highWaterMark: Number(process.env.BENCH_READ_BYTES ?? READ) }), transformOptionsFrom(config, { kind: 'adhoc', name: file }, { maxRejectRatio: 1 }));
  const out = await open(`${file}.bench.parquet`, 'w');
  let w: ParquetFileWriter | undefined;
  for await (const e of events) {
    if (e.kind === 'header') {
      w = new ParquetFileWriter(e.header.schema.columns, async (b) => {
        outBytes += b.length;
        await out.write(b);
      });
    } else if (e.kind === 'rows') {
      rows += e.rows.length;
      await w!.writeRows(e.rows);
    }
  }
  await w!.end();
  await out.close();
} else if (mode === 'parquet-writer') {
  // The Parquet writer alone: the file's first 20,000 typed rows, written again and again until
  // BENCH_PROBE_ROWS rows (default 22,000,000: the 1 GB seed-shaped file's), bytes counted, not kept.
  const config = csvDefaults();
  const events = transformCsv(createReadStream(file, { highWaterMark: READ }), transformOptionsFrom(config, { kind: 'adhoc', name: file }, { maxRejectRatio: 1 }));
  const sample: Row[] = [];
  let columns: readonly Column[] = [];
  for await (const e of events) {
    if (e.kind === 'header') columns = e.header.schema.columns;
    else if (e.kind === 'rows' && sample.length < 20_000) sample.push(...e.rows);
  }
  const total = Number(process.env.BENCH_PROBE_ROWS ?? 22_000_000);
  const w = new ParquetFileWriter(columns, async (b) => void (outBytes += b.length));
  for (let at = 0; rows < total; at = (at + 1000) % sample.length) {
    const batch = sample.slice(at, Math.min(at + 1000, sample.length, at + total - rows));
    await w.writeRows(batch);
    rows += batch.length;
  }
  await w.end();
} else {
  throw new Error(`unknown mode ${mode}`);
}
const seconds = (performance.now() - t0) / 1000;
const usage = process.resourceUsage();
// CPU time too: on a shared machine it moves less than the wall time.
process.stdout.write(JSON.stringify({ mode, seconds, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6, rows, outBytes, maxRssMB: peakRssMB() }) + '\n');
