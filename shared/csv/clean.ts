/**
 * The transform: CSV bytes in, the dataset out (header, typed rows, rejects, trailer).
 * Records are read in streaming batches; the first `sampleRows` records decide the column
 * types, then every record is checked against them. Ragged records and cells that do not
 * read as their column's type go to the rejects with their line; they never shift data.
 */
import type { CsvConfig } from './config.js';
import type { Cell, Column, ColumnStats, DatasetEvent, DatasetHeader, DatasetTrailer, Dialect, Reject, Row, Source } from '../dataset/contract.js';
export type { DatasetEvent } from '../dataset/contract.js';
import { DATASET_VERSION } from '../dataset/contract.js';
import { Problem } from '../runtime/problem.js';
import { normaliseHeaders, normaliseName } from './headers.js';
import type { PinnedSchema } from './pinned-schema.js';
import { readCsv, type CsvRecord, type ReadStats } from './reader.js';
import { inferColumn, INVALID, parserFor, type CellParser, type ColumnTyping } from './types.js';
import { csvProblems } from './problems.js';

export interface TransformOptions {
  source: Source;
  encoding: CsvConfig['CSV_ENCODING'];
  delimiter: CsvConfig['CSV_DELIMITER'];
  decimal: CsvConfig['CSV_DECIMAL'];
  /** Whether the first record is a header (default true). */
  header: boolean;
  nullValues: string[];
  snakeCase: boolean;
  foldAccents: boolean;
  sampleRows: number;
  maxFieldBytes: number;
  maxRecordBytes: number;
  maxColumns: number;
  maxRejectRatio: number;
  /** A pinned schema for this file (names, types, required columns). */
  schema?: PinnedSchema;
}

export function transformOptionsFrom(config: CsvConfig, source: Source, overrides: Partial<TransformOptions> = {}): TransformOptions {
  return {
    source,
    encoding: config.CSV_ENCODING,
    delimiter: config.CSV_DELIMITER,
    decimal: config.CSV_DECIMAL,
    header: true,
    nullValues: config.CSV_NULL_VALUES.concat(''),
    snakeCase: config.CSV_SNAKE_CASE,
    foldAccents: config.CSV_FOLD_ACCENTS,
    sampleRows: config.CSV_SAMPLE_ROWS,
    maxFieldBytes: config.CSV_MAX_FIELD_BYTES,
    maxRecordBytes: config.CSV_MAX_RECORD_BYTES,
    maxColumns: config.CSV_MAX_COLUMNS,
    maxRejectRatio: config.CSV_MAX_REJECT_RATIO,
    ...overrides,
  };
}


const MAX_TRAILER_REJECTS = 100;
const fileName = (s: Source) => (s.kind === 'object' ? s.key : s.name);

/**
 * Transform a CSV byte stream into dataset events. A problem before the header (not text,
 * empty) is thrown; a problem after it ends the stream with a trailer carrying `error`.
 */
export async function* transformCsv(bytes: AsyncIterable<Buffer | string>, opts: TransformOptions): AsyncGenerator<DatasetEvent> {
  const started = performance.now();
  const file = fileName(opts.source);
  let dialect: Dialect | undefined;
  const readStats: ReadStats = { bytesIn: 0, blankLines: 0 };
  const batches = readCsv(
    bytes,
    {
      file,
      encoding: opts.encoding,
      delimiter: opts.delimiter,
      maxFieldBytes: opts.maxFieldBytes,
      maxRecordBytes: opts.maxRecordBytes,
      maxColumns: opts.maxColumns,
      onDialect: (d) => (dialect = d),
    },
    readStats,
  );
  const nulls = new Set(opts.nullValues);

  // 1. Header and sample.
  let headerRecord: CsvRecord | undefined;
  const sample: CsvRecord[] = [];
  let exhausted = false;
  while (sample.length < opts.sampleRows) {
    const n = await batches.next();
    if (n.done) {
      exhausted = true;
      break;
    }
    for (const rec of n.value) {
      if (!headerRecord && opts.header) headerRecord = rec;
      else sample.push(rec);
    }
  }
  if (!headerRecord && opts.header) {
    throw csvProblems.emptyFile('the input is empty (no bytes, or only blank lines)', { file, line: 1 });
  }
  const width = headerRecord ? headerRecord.fields.length : Math.max(1, ...sample.map((r) => r.fields.length));
  const rawNames = headerRecord ? headerRecord.fields : Array.from({ length: width }, (_, i) => `column_${i + 1}`);
  const names = normaliseHeaders(rawNames, { snakeCase: opts.snakeCase, foldAccents: opts.foldAccents });
  // Pinned schema: rename, pin types, require columns.
  const pinned = new Map<number, { type?: Column['type']; required: boolean }>();
  if (opts.schema) {
    const hopts = { snakeCase: opts.snakeCase, foldAccents: opts.foldAccents };
    for (const pc of opts.schema.columns) {
      const idx = names.findIndex((h) =>
        pc.source !== undefined ? h.sourceName.trim().toLowerCase() === pc.source.trim().toLowerCase() : h.name === pc.name || h.name === normaliseName(pc.name, hopts),
      );
      if (idx === -1) {
        if (pc.required) {
          throw csvProblems.missingColumn(`the schema for "${opts.schema.prefix}" requires column ${JSON.stringify(pc.source ?? pc.name)}`, { file, line: 1, column: pc.name });
        }
        continue;
      }
      const clash = names.findIndex((h, i) => i !== idx && h.name === pc.name);
      if (clash !== -1) names[clash] = { ...names[clash], name: `${names[clash].name}_${clash + 1}` };
      names[idx] = { ...names[idx], name: pc.name };
      pinned.set(idx, { type: pc.type, required: pc.required });
    }
  }

  // Batches are large: infer from the first sampleRows records only (all of them get typed).
  const inferFrom = sample.slice(0, opts.sampleRows);
  const typings: ColumnTyping[] = names.map((h, c) => {
    const pin = pinned.get(c)?.type;
    if (pin === 'decimal') return { type: pin, decimalSeparator: opts.decimal === ',' ? ',' : '.' };
    if (pin) return { type: pin };
    const values: string[] = [];
    for (const r of inferFrom) {
      if (r.fields.length !== width || r.error) continue;
      const v = r.fields[c].trim();
      if (!nulls.has(v)) values.push(v);
    }
    return inferColumn(values, { decimal: opts.decimal === 'auto' ? undefined : opts.decimal });
  });
  const parsers: CellParser[] = typings.map(parserFor);
  const isText = typings.map((t) => t.type === 'text');
  const required = names.map((_, c) => !!pinned.get(c)?.required);
  const columns: Column[] = names.map((h, c) => ({
    name: h.name,
    sourceName: h.sourceName,
    type: typings[c].type,
    nullable: !pinned.get(c)?.required,
    origin: pinned.get(c)?.type ? 'pinned' : 'inferred',
    ...(typings[c].decimalSeparator ? { decimalSeparator: typings[c].decimalSeparator } : {}),
    ...(typings[c].format ? { format: typings[c].format } : {}),
  }));
  const header: DatasetHeader = {
    type: 'header',
    version: DATASET_VERSION,
    source: opts.source,
    dialect: dialect ?? { encoding: 'utf-8', bom: false, delimiter: ',', newline: '\n' },
    schema: { columns },
    startedAt: new Date().toISOString(),
  };
  yield { kind: 'header', header };

  // 2. Every record, typed.
  const stats = columns.map((): ColumnStats => ({ nulls: 0, min: null, max: null }));
  const numericOrOrdered = typings.map((t) => t.type !== 'text' && t.type !== 'boolean');
  let rowsIn = 0;
  let rowsOut = 0;
  let rejected = 0;
  const trailerRejects: Omit<Reject, 'type'>[] = [];
  const pendingRejects: Reject[] = [];
  const reasons: Record<string, number> = {};
  const reject = (r: Omit<Reject, 'type'>, kind: string) => {
    rejected++;
    reasons[kind] = (reasons[kind] ?? 0) + 1;
    if (trailerRejects.length < MAX_TRAILER_REJECTS) trailerRejects.push(r);
    pendingRejects.push({ type: 'reject', ...r });
  };

  const typeBatch = (records: CsvRecord[]): Row[] => {
    const out: Row[] = [];
    for (const rec of records) {
      rowsIn++;
      const f = rec.fields;
      if (rec.error) {
        reject({ line: rec.line, reason: `malformed quotes: ${rec.error}`, raw: f }, 'malformed quotes');
        continue;
      }
      if (f.length !== width) {
        reject({ line: rec.line, reason: `expected ${width} fields, found ${f.length}`, raw: f }, f.length < width ? 'too few fields' : 'too many fields');
        continue;
      }
      const row: Cell[] = new Array(width);
      let bad = -1;
      let missing = false;
      for (let c = 0; c < width; c++) {
        const rawCell = f[c];
        const v = isText[c] ? rawCell : rawCell.trim();
        if (nulls.has(isText[c] ? v.trim() : v)) {
          if (required[c]) {
            bad = c;
            missing = true;
            break;
          }
          row[c] = null;
          continue;
        }
        const p = parsers[c](v);
        if (p === INVALID) {
          bad = c;
          break;
        }
        row[c] = p;
      }
      if (bad !== -1) {
        const reason = missing ? 'required value is missing' : `${JSON.stringify(f[bad])} is not a valid ${describe(typings[bad])}`;
        reject({ line: rec.line, column: columns[bad].name, reason, raw: f }, `${columns[bad].name}: ${missing ? 'required value missing' : `not a valid ${typings[bad].type}`}`);
        continue;
      }
      for (let c = 0; c < width; c++) {
        const v = row[c];
        const s = stats[c];
        if (v === null) s.nulls++;
        else if (numericOrOrdered[c]) {
          if (s.min === null || (v as number | string) < s.min) s.min = v as number | string;
          if (s.max === null || (v as number | string) > s.max) s.max = v as number | string;
        }
      }
      rowsOut++;
      out.push(row);
    }
    return out;
  };

  let error: Problem | undefined;
  try {
    // Type the sample, then let go of it: this frame lives as long as the file is read.
    const buffered = sample.splice(0, sample.length);
    inferFrom.length = 0;
    let first: Row[] | undefined = typeBatch(buffered);
    buffered.length = 0;
    yield* drainRejects();
    if (first.length) yield { kind: 'rows', rows: first };
    first = undefined;
    while (!exhausted) {
      const n = await batches.next();
      if (n.done) break;
      const rows = typeBatch(n.value);
      yield* drainRejects();
      if (rows.length) yield { kind: 'rows', rows };
    }
  } catch (err) {
    if (!(err instanceof Problem)) throw err;
    error = err;
  }
  if (!error && rowsIn > 0 && rejected / rowsIn > opts.maxRejectRatio) {
    error = csvProblems.tooManyRejects(`${rejected} of ${rowsIn} rows (${((100 * rejected) / rowsIn).toFixed(1)}%) were rejected; the limit is ${(100 * opts.maxRejectRatio).toFixed(1)}%`, {
      file,
      line: trailerRejects[0]?.line,
    });
  }
  const trailer: DatasetTrailer = {
    type: 'trailer',
    stats: {
      rowsIn,
      rowsOut,
      rowsRejected: rejected,
      blankLines: readStats.blankLines,
      bytesIn: readStats.bytesIn,
      durationMs: Math.round(performance.now() - started),
      columns: Object.fromEntries(columns.map((c, i) => [c.name, stats[i]])),
      rejectReasons: reasons,
    },
    rejects: trailerRejects,
    rejectsTruncated: rejected > trailerRejects.length,
    ...(error ? { error: { ...error.toJSON(), file } } : {}),
  };
  yield { kind: 'trailer', trailer };

  function* drainRejects(): Generator<DatasetEvent> {
    while (pendingRejects.length) yield { kind: 'reject', reject: pendingRejects.shift()! };
  }
}

function describe(t: ColumnTyping): string {
  if (t.type === 'decimal') return `decimal (separator "${t.decimalSeparator ?? '.'}")`;
  if ((t.type === 'date' || t.type === 'datetime') && t.format) return `${t.type} (${t.format})`;
  return t.type;
}
