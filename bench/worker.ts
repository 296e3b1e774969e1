/**
 * One measurement in a fresh process (so peak RSS is its own): `node --import tsx bench/worker.ts <mode> <file>`.
 * Prints one JSON line: { mode, seconds, rows, outBytes, maxRssMB }.
 */
import { createReadStream } from 'node:fs';
import Papa from 'papaparse';
import { csvDefaults } from '../shared/csv/config.js';
import { encodeNdjson } from '../shared/dataset/ndjson.js';
import { transformCsv, transformOptionsFrom } from '../shared/csv/clean.js';
import { csvLine } from '../shared/csv/writer.js';

const [mode, file] = process.argv.slice(2);
const t0 = performance.now();
let rows = 0;
let outBytes = 0;

if (mode === 'papaparse') {
  // Bare papaparse, arrays, no typing: the parser's own streaming mode on a decoded stream.
  await new Promise<void>((resolve, reject) => {
    Papa.parse(createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 }) as unknown as File, {
      header: false,
      chunk: (r: Papa.ParseResult<string[]>) => {
        rows += r.data.length;
      },
      complete: () => resolve(),
      error: (e: Error) => reject(e),
    });
  });
} else if (mode === 'naive') {
  // The naive pipeline: header:true objects, normalise, Papa.unparse per chunk.
  await new Promise<void>((resolve, reject) => {
    Papa.parse(createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 }) as unknown as File, {
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
} else if (mode === 'transform' || mode === 'transform-csv') {
  const config = csvDefaults();
  const events = transformCsv(createReadStream(file, { highWaterMark: 1 << 20 }), transformOptionsFrom(config, { kind: 'adhoc', name: file }, { maxRejectRatio: 1 }));
  async function* counted() {
    for await (const e of events) {
      if (e.kind === 'rows') rows += e.rows.length;
      yield e;
    }
  }
  if (mode === 'transform') {
    for await (const s of encodeNdjson(counted())) outBytes += s.length;
  } else {
    for await (const e of counted()) if (e.kind === 'rows') for (const r of e.rows) outBytes += csvLine(r, true).length;
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
const seconds = (performance.now() - t0) / 1000;
process.stdout.write(JSON.stringify({ mode, seconds, rows, outBytes, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n');
