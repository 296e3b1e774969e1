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
import { readCsv, type CsvRecord, type ReadRoute, type ReadStats } from './reader.js';
import { MISSING, RowEncoder, type EncoderHost, type RowOutput } from './row-encoder.js';
import { inferColumn, INVALID, parserFor, type CellParser, type ColumnTyping, type Parsed } from './types.js';
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
  /** Bytes the reader parses at a time (tests cross every boundary with small values). */
  batchBytes?: number;
  /** Most bytes the reader holds so that the sample is typed again from its bytes (default 8 MiB). */
  holdBytes?: number;
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

/** Rows already encoded as NDJSON lines (the typed path's output), and how many. */
export interface EncodedRows {
  kind: 'encoded';
  ndjson: Buffer;
  rows: number;
}

/** Rows already written as clean CSV lines (`csvLine`'s, comma-delimited, no header), and how many. */
export interface EncodedCsvRows {
  kind: 'encoded-csv';
  csv: Buffer;
  rows: number;
}

const NDJSON_OUTPUT: RowOutput = { format: 'ndjson' };

/**
 * Transform a CSV byte stream into dataset events. A problem before the header (not text,
 * empty) is thrown; a problem after it ends the stream with a trailer carrying `error`.
 * The steps: read the header and a sample, name the columns (and apply a pinned schema),
 * infer the types, emit the header, type every record, emit the trailer.
 */
export function transformCsv(bytes: AsyncIterable<Buffer | string>, opts: TransformOptions): AsyncGenerator<DatasetEvent> {
  return transform(bytes, opts) as AsyncGenerator<DatasetEvent>;
}

/**
 * The same dataset with its rows as NDJSON bytes (`encoded` events): what goes on the wire. After
 * the sample, lines are typed from their bytes straight into NDJSON (see RowEncoder); the bytes
 * are those `encodeNdjson` writes for `transformCsv`'s rows. With `output` csv, the rows are clean
 * CSV lines instead (`encoded-csv` events): those `csvLine(row, escapeFormulas)` writes for them.
 */
export function transformCsvEncoded(bytes: AsyncIterable<Buffer | string>, opts: TransformOptions, output?: { format: 'ndjson' }): AsyncGenerator<DatasetEvent | EncodedRows>;
export function transformCsvEncoded(bytes: AsyncIterable<Buffer | string>, opts: TransformOptions, output: { format: 'csv'; escapeFormulas: boolean }): AsyncGenerator<DatasetEvent | EncodedCsvRows>;
export function transformCsvEncoded(bytes: AsyncIterable<Buffer | string>, opts: TransformOptions, output: RowOutput = NDJSON_OUTPUT): AsyncGenerator<DatasetEvent | EncodedRows | EncodedCsvRows> {
  return transform(bytes, opts, output);
}

/** What the encoder wrote since its last flush, as the event of its output format. */
function flushed(encoder: RowEncoder, output: RowOutput | undefined): EncodedRows | EncodedCsvRows | undefined {
  const e = encoder.flush();
  if (!e) return undefined;
  return output?.format === 'csv' ? { kind: 'encoded-csv', csv: e.bytes, rows: e.rows } : { kind: 'encoded', ndjson: e.bytes, rows: e.rows };
}

type TransformEvent = DatasetEvent | EncodedRows | EncodedCsvRows;

/**
 * The head's events (header, the sample's rows and rejects), then the rest of the file's. Only
 * this small delegation is resumed once per batch; the head's code runs once.
 */
function transform(bytes: AsyncIterable<Buffer | string>, opts: TransformOptions, output?: RowOutput): AsyncGenerator<TransformEvent> {
  const head = transformHead(bytes, opts, output);
  // Not a generator: once the head is done, each `next` is the rest's own (no layer per batch).
  let rest: AsyncGenerator<TransformEvent> | undefined;
  const events: AsyncGenerator<TransformEvent> = {
    next: () => (rest ? rest.next() : head.next().then((n) => (n.done ? (rest = n.value).next() : n))),
    return: (v) => (rest ?? head).return(v as never),
    throw: (e) => (rest ?? head).throw(e),
    [Symbol.asyncIterator]: () => events,
  };
  return events;
}

/** What the rest of the file needs from the head. */
interface Run {
  /** The reader, unless the sample held the whole file or a problem ended the read. */
  batches?: AsyncGenerator<CsvRecord[], ReadStats>;
  typer: RowTyper;
  encoder?: RowEncoder;
  output?: RowOutput;
  opts: TransformOptions;
  file: string;
  readStats: ReadStats;
  started: number;
  error?: Problem;
}

/** Steps 1–6 for the sample: the header event, the sample's rows and rejects; returns the rest of the file's events. */
async function* transformHead(bytes: AsyncIterable<Buffer | string>, opts: TransformOptions, output?: RowOutput): AsyncGenerator<TransformEvent, AsyncGenerator<TransformEvent>> {
  const started = performance.now();
  const file = fileName(opts.source);
  let dialect: Dialect | undefined;
  const readStats: ReadStats = { bytesIn: 0, blankLines: 0 };
  // With an encoder, the reader holds the head's bytes: the sample is typed again from them.
  const route: ReadRoute = { hold: !!output };
  const batches = readCsv(
    bytes,
    { file, encoding: opts.encoding, delimiter: opts.delimiter, maxFieldBytes: opts.maxFieldBytes, maxRecordBytes: opts.maxRecordBytes, maxColumns: opts.maxColumns, onDialect: (d) => (dialect = d), batchBytes: opts.batchBytes, holdBytes: opts.holdBytes },
    readStats,
    route,
  );
  const nulls = new Set(opts.nullValues);

  const head = await readHeaderAndSample(batches, opts, file);
  const names = columnNames(head, opts);
  const pinned = applyPinnedSchema(names, opts, file);
  const typings = inferTypings(names, head.sample.slice(0, opts.sampleRows), head.width, pinned, nulls, opts);
  const columns = describeColumns(names, typings, pinned);
  const delimiter = dialect?.delimiter ?? ',';
  yield {
    kind: 'header',
    header: {
      type: 'header',
      version: DATASET_VERSION,
      source: opts.source,
      dialect: dialect ?? { encoding: 'utf-8', bom: false, delimiter: ',', newline: '\n' },
      schema: { columns },
      startedAt: new Date().toISOString(),
    },
  };

  const typer = new RowTyper(columns, typings, pinned, nulls, head.width);
  const encoder = output ? new RowEncoder(typings, { delimiter, nullValues: nulls, maxFieldBytes: opts.maxFieldBytes, required: columns.map((_, c) => !!pinned.get(c)?.required), output }, typer) : undefined;
  typer.encoder = encoder;
  const run: Run = { batches: head.exhausted ? undefined : batches, typer, encoder, output, opts, file, readStats, started };
  try {
    if (encoder && head.sample.length && route.rewind?.(head.sample[0].line, encoder)) {
      // The reader reads the sample again into the encoder, from its bytes.
      head.sample.length = 0;
      return restOfFile(run);
    }
    route.hold = false;
    // Type the sample, then let go of it: the rest of the file does not hold it.
    let first: Row[] | undefined = typer.typeBatch(head.sample.splice(0, head.sample.length));
    yield* typer.drainRejects();
    if (encoder) {
      for (const row of first) encoder.writeRow(row);
      const e = flushed(encoder, output);
      if (e) yield e;
      // From here on the reader hands its lines to the encoder; its batches are empty.
      route.sink = encoder;
    } else if (first.length) yield { kind: 'rows', rows: first };
    first = undefined;
  } catch (err) {
    if (!(err instanceof Problem)) throw err;
    run.error = err;
    run.batches = undefined;
  }
  return restOfFile(run);
}

/**
 * Step 6 for the records after the sample (typed rows, or what the encoder wrote from their
 * bytes), then step 7 and the trailer. A problem the reader meets ends the read: the trailer says it.
 */
async function* restOfFile(run: Run): AsyncGenerator<TransformEvent> {
  const { batches, typer, encoder, output, opts, file } = run;
  let error = run.error;
  try {
    for (;;) {
      const n = batches ? await batches.next() : undefined;
      if (!n || n.done) break;
      if (encoder) {
        yield* typer.drainRejects();
        const e = flushed(encoder, output);
        if (e) yield e;
        continue;
      }
      const rows = typer.typeBatch(n.value);
      yield* typer.drainRejects();
      if (rows.length) yield { kind: 'rows', rows };
    }
  } catch (err) {
    if (!(err instanceof Problem)) throw err;
    error = err;
  }
  if (encoder) {
    // What the encoder wrote before a problem ended the read.
    yield* typer.drainRejects();
    const e = flushed(encoder, output);
    if (e) yield e;
  }
  error ??= rejectCeiling(typer, opts, file);
  yield { kind: 'trailer', trailer: typer.trailer(run.readStats, Math.round(performance.now() - run.started), error && { ...error.toJSON(), file }) };
}

interface Head {
  header?: CsvRecord;
  sample: CsvRecord[];
  /** The whole file fit in the sample. */
  exhausted: boolean;
  /** Fields per record: the header's, or the widest sample record's. */
  width: number;
}

/** Step 1: the header record and the first `sampleRows` records. */
async function readHeaderAndSample(batches: AsyncGenerator<CsvRecord[], ReadStats>, opts: TransformOptions, file: string): Promise<Head> {
  let header: CsvRecord | undefined;
  const sample: CsvRecord[] = [];
  let exhausted = false;
  while (sample.length < opts.sampleRows) {
    const n = await batches.next();
    if (n.done) {
      exhausted = true;
      break;
    }
    for (const rec of n.value) {
      if (!header && opts.header) header = rec;
      else sample.push(rec);
    }
  }
  if (!header && opts.header) throw csvProblems.emptyFile('the input is empty (no bytes, or only blank lines)', { file, line: 1 });
  const width = header ? header.fields.length : Math.max(1, ...sample.map((r) => r.fields.length));
  return { header, sample, exhausted, width };
}

/** Step 2: normalised column names (by position when the file has no header). */
function columnNames(head: Head, opts: TransformOptions) {
  const raw = head.header ? head.header.fields : Array.from({ length: head.width }, (_, i) => `column_${i + 1}`);
  return normaliseHeaders(raw, { snakeCase: opts.snakeCase, foldAccents: opts.foldAccents });
}

type Pinned = Map<number, { type?: Column['type']; required: boolean }>;

/** Step 3: a pinned schema renames columns, pins types and requires columns. */
function applyPinnedSchema(names: ReturnType<typeof normaliseHeaders>, opts: TransformOptions, file: string): Pinned {
  const pinned: Pinned = new Map();
  if (!opts.schema) return pinned;
  const hopts = { snakeCase: opts.snakeCase, foldAccents: opts.foldAccents };
  for (const pc of opts.schema.columns) {
    const idx = names.findIndex((h) =>
      pc.source !== undefined ? h.sourceName.trim().toLowerCase() === pc.source.trim().toLowerCase() : h.name === pc.name || h.name === normaliseName(pc.name, hopts),
    );
    if (idx === -1) {
      if (pc.required) throw csvProblems.missingColumn(`the schema for "${opts.schema.prefix}" requires column ${JSON.stringify(pc.source ?? pc.name)}`, { file, line: 1, column: pc.name });
      continue;
    }
    const clash = names.findIndex((h, i) => i !== idx && h.name === pc.name);
    if (clash !== -1) names[clash] = { ...names[clash], name: `${names[clash].name}_${clash + 1}` };
    names[idx] = { ...names[idx], name: pc.name };
    pinned.set(idx, { type: pc.type, required: pc.required });
  }
  return pinned;
}

/** Step 4: each column's type, from the sample (or pinned). */
function inferTypings(names: unknown[], sample: CsvRecord[], width: number, pinned: Pinned, nulls: Set<string>, opts: TransformOptions): ColumnTyping[] {
  const nullGate = new NullGate(nulls);
  return names.map((_, c) => {
    const pin = pinned.get(c)?.type;
    if (pin === 'decimal') return { type: pin, decimalSeparator: opts.decimal === ',' ? ',' : '.' };
    if (pin) return { type: pin };
    return inferColumn(sampleValues(sample, c, width, nullGate), { decimal: opts.decimal === 'auto' ? undefined : opts.decimal });
  });
}

/** The null values, and a cheap gate before looking a value up among them. */
class NullGate {
  private readonly first: NullFirst;
  private readonly maxLength: number;
  constructor(readonly values: Set<string>) {
    this.first = new NullFirst([...values].filter((n) => n.length).map((n) => n.charCodeAt(0)));
    this.maxLength = Math.max(0, ...[...values].map((n) => n.length));
  }
  /** Whether a value (trimmed already) is a null value: only short values with the right first character are looked up. */
  has(v: string): boolean {
    return (v.length === 0 || (v.length <= this.maxLength && this.first.may(v.charCodeAt(0)))) && this.values.has(v);
  }
}

/** Column c's values in the sample records that have every field: trimmed, null values left out. */
function sampleValues(sample: CsvRecord[], c: number, width: number, nulls: NullGate): string[] {
  const values: string[] = [];
  for (const r of sample) {
    if (r.fields.length !== width || r.error) continue;
    const raw = r.fields[c];
    const v = raw.length && (mayTrim(raw.charCodeAt(0)) || mayTrim(raw.charCodeAt(raw.length - 1))) ? raw.trim() : raw;
    if (!nulls.has(v)) values.push(v);
  }
  return values;
}

/** Step 5: the header's column descriptions. */
function describeColumns(names: ReturnType<typeof normaliseHeaders>, typings: ColumnTyping[], pinned: Pinned): Column[] {
  return names.map((h, c) => ({
    name: h.name,
    sourceName: h.sourceName,
    type: typings[c].type,
    nullable: !pinned.get(c)?.required,
    origin: pinned.get(c)?.type ? 'pinned' : 'inferred',
    ...(typings[c].decimalSeparator ? { decimalSeparator: typings[c].decimalSeparator } : {}),
    ...(typings[c].format ? { format: typings[c].format } : {}),
  }));
}

/** The first characters of the null values: a table for ASCII (most cells), a Set beyond. */
class NullFirst {
  private readonly ascii = new Uint8Array(128);
  private readonly other: Set<number>;
  constructor(codes: number[]) {
    for (const c of codes) if (c < 128) this.ascii[c] = 1;
    this.other = new Set(codes.filter((c) => c >= 128));
  }
  may(c: number): boolean {
    return c < 128 ? this.ascii[c] === 1 : this.other.has(c);
  }
}

/** Whether String.prototype.trim could remove this character (a gate: true also for other controls). */
function mayTrim(c: number): boolean {
  return c <= 32 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/** Step 6: every record typed against the columns; rejects and per-column stats kept as it goes. */
class RowTyper implements EncoderHost {
  rowsIn = 0;
  /** The typed path's encoder, when there is one: its statistics join the trailer's. */
  encoder?: RowEncoder;
  rowsOut = 0;
  rejected = 0;
  readonly trailerRejects: Omit<Reject, 'type'>[] = [];
  private readonly pendingRejects: Reject[] = [];
  private readonly reasons: Record<string, number> = {};
  private readonly stats: ColumnStats[];
  private readonly parsers: CellParser[];
  private readonly isText: boolean[];
  private readonly ordered: boolean[];
  private readonly required: boolean[];
  /** First characters and longest length of the null values: a gate before the Set lookup. */
  private readonly nullFirst: NullFirst;
  private readonly maxNull: number;

  constructor(
    private readonly columns: Column[],
    private readonly typings: ColumnTyping[],
    pinned: Pinned,
    private readonly nulls: Set<string>,
    private readonly width: number,
  ) {
    this.stats = columns.map((): ColumnStats => ({ nulls: 0, min: null, max: null }));
    this.nullFirst = new NullFirst([...nulls].filter((n) => n.length).map((n) => n.charCodeAt(0)));
    this.maxNull = Math.max(0, ...[...nulls].map((n) => n.length));
    this.parsers = typings.map(parserFor);
    this.isText = typings.map((t) => t.type === 'text');
    this.ordered = typings.map((t) => t.type !== 'text' && t.type !== 'boolean');
    this.required = columns.map((_, c) => !!pinned.get(c)?.required);
  }

  /** What in the typing may surprise a reader, in words. */
  warnings(): string[] {
    const out: string[] = [];
    if (this.rowsIn === 0) out.push('the file has a header but no data rows: nothing was published');
    this.typings.forEach((t, c) => {
      const f = t.fellBackFrom;
      if (f) out.push(`column ${this.columns[c].name} is text: ${f.odd} of ${f.of} sampled values are not ${f.type === 'integer' ? 'an integer' : `a ${f.type}`} (e.g. ${f.examples.map((e) => JSON.stringify(e)).join(', ')}); pin its type with CSV_SCHEMA_FILE to reject those rows instead`);
    });
    return out;
  }

  private reject(r: Omit<Reject, 'type'>, kind: string): void {
    this.rejected++;
    this.reasons[kind] = (this.reasons[kind] ?? 0) + 1;
    if (this.trailerRejects.length < MAX_TRAILER_REJECTS) this.trailerRejects.push(r);
    this.pendingRejects.push({ type: 'reject', ...r });
  }

  *drainRejects(): Generator<DatasetEvent> {
    while (this.pendingRejects.length) yield { kind: 'reject', reject: this.pendingRejects.shift()! };
  }

  /** One cell: null (a null value, padded or not), its parsed value, INVALID, or MISSING (a null in a required column). */
  typeCell(rawCell: string, c: number): Parsed | typeof MISSING {
    // Cheap gates before any trim or hashing: most cells neither are padded nor could be a null value.
    const len = rawCell.length;
    const c0 = rawCell.charCodeAt(0);
    const padded = len > 0 && (mayTrim(c0) || mayTrim(rawCell.charCodeAt(len - 1)));
    if ((len === 0 || padded || (len <= this.maxNull && this.nullFirst.may(c0))) && this.nulls.has(padded ? rawCell.trim() : rawCell)) {
      return this.required[c] ? MISSING : null;
    }
    return this.parsers[c](this.isText[c] || !padded ? rawCell : rawCell.trim());
  }

  typeRecord(rec: CsvRecord): Row | undefined {
    return this.typeBatch([rec])[0];
  }

  typeBatch(records: CsvRecord[]): Row[] {
    const { width } = this;
    const out: Row[] = [];
    for (const rec of records) {
      this.rowsIn++;
      const f = rec.fields;
      if (rec.error) {
        this.reject({ line: rec.line, reason: `malformed quotes: ${rec.error}`, raw: f }, 'malformed quotes');
        continue;
      }
      if (f.length !== width) {
        this.reject({ line: rec.line, reason: `expected ${width} fields, found ${f.length}`, raw: f }, f.length < width ? 'too few fields' : 'too many fields');
        continue;
      }
      const row: Cell[] = new Array(width);
      let bad = -1;
      let missing = false;
      for (let c = 0; c < width; c++) {
        const p = this.typeCell(f[c], c);
        if (p === INVALID || p === MISSING) {
          bad = c;
          missing = p === MISSING;
          break;
        }
        row[c] = p;
      }
      if (bad !== -1) {
        const name = this.columns[bad].name;
        const reason = missing ? 'required value is missing' : `${JSON.stringify(f[bad])} is not a valid ${describe(this.typings[bad])}`;
        this.reject({ line: rec.line, column: name, reason, raw: f }, `${name}: ${missing ? 'required value missing' : `not a valid ${this.typings[bad].type}`}`);
        continue;
      }
      this.count(row);
      this.rowsOut++;
      out.push(row);
    }
    return out;
  }

  private count(row: Cell[]): void {
    for (let c = 0; c < this.width; c++) {
      const v = row[c];
      const s = this.stats[c];
      if (v === null) s.nulls++;
      else if (this.ordered[c]) {
        if (s.min === null || (v as number | string) < s.min) s.min = v as number | string;
        if (s.max === null || (v as number | string) > s.max) s.max = v as number | string;
      }
    }
  }

  trailer(read: ReadStats, durationMs: number, error?: DatasetTrailer['error']): DatasetTrailer {
    this.encoder?.mergeStats(this.stats);
    this.encoder = undefined;
    return {
      type: 'trailer',
      stats: {
        rowsIn: this.rowsIn,
        rowsOut: this.rowsOut,
        rowsRejected: this.rejected,
        blankLines: read.blankLines,
        bytesIn: read.bytesIn,
        durationMs,
        columns: Object.fromEntries(this.columns.map((c, i) => [c.name, this.stats[i]])),
        rejectReasons: this.reasons,
        ...(this.warnings().length ? { warnings: this.warnings() } : {}),
      },
      rejects: this.trailerRejects,
      rejectsTruncated: this.rejected > this.trailerRejects.length,
      ...(error ? { error } : {}),
    };
  }
}

/** Step 7: too many rejected rows fail the whole file. */
function rejectCeiling(typer: RowTyper, opts: TransformOptions, file: string): Problem | undefined {
  const { rejected, rowsIn } = typer;
  if (rowsIn === 0 || rejected / rowsIn <= opts.maxRejectRatio) return undefined;
  return csvProblems.tooManyRejects(`${rejected} of ${rowsIn} rows (${((100 * rejected) / rowsIn).toFixed(1)}%) were rejected; the limit is ${(100 * opts.maxRejectRatio).toFixed(1)}%`, {
    file,
    line: typer.trailerRejects[0]?.line,
  });
}

function describe(t: ColumnTyping): string {
  if (t.type === 'decimal') return `decimal (separator "${t.decimalSeparator ?? '.'}")`;
  if ((t.type === 'date' || t.type === 'datetime') && t.format) return `${t.type} (${t.format})`;
  return t.type;
}
