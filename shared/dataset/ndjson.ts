/** The dataset on the wire: NDJSON encode and decode, batch by batch (never a whole file). */
import { StringDecoder } from 'node:string_decoder';
import { parseDatasetLine, type DatasetLine, type Row } from './contract.js';
import { Problem } from '../runtime/problem.js';
import type { DatasetEvent } from './contract.js';
import { datasetProblems } from './problems.js';
import { isUtf8 } from 'node:buffer';
import { RowsToCsv } from './rows-csv.js';

/** The dataset as NDJSON text; rows that come encoded already (`ndjson`, see transformCsvEncoded) pass as they are. */
export async function* encodeNdjson(events: AsyncIterable<DatasetEvent | { kind: 'encoded'; ndjson: Buffer }>): AsyncGenerator<string | Buffer> {
  for await (const e of events) {
    switch (e.kind) {
      case 'encoded':
        yield e.ndjson;
        break;
      case 'rows':
        if (e.rows.length) yield ndjsonRows(e.rows);
        break;
      case 'header':
        yield JSON.stringify(e.header) + '\n';
        break;
      case 'reject':
        yield JSON.stringify(e.reject) + '\n';
        break;
      case 'trailer':
        yield JSON.stringify(e.trailer) + '\n';
        break;
    }
  }
}

/**
 * A batch of rows as NDJSON, one JSON array a line. One `JSON.stringify` for the whole batch
 * (`[[…],[…]]`), whose row separators `],[` become `]\n[`: ~20% less than one call a row. A text
 * value may hold `],[` itself; then there are more than rows − 1 of them, and the batch is
 * encoded row by row instead. Same bytes either way (ndjson.test.ts).
 */
export function ndjsonRows(rows: Row[]): string {
  const all = JSON.stringify(rows);
  let separators = 0;
  const lines = all.slice(1, -1).replace(/\],\[/g, () => {
    separators++;
    return ']\n[';
  });
  if (separators === rows.length - 1) return lines + '\n';
  const each = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) each[i] = JSON.stringify(rows[i]);
  return each.join('\n') + '\n';
}

/**
 * The order of a dataset's lines, checked once for both decoders: one header first, rows after
 * it, one trailer; each problem names the line.
 */
class DatasetLines {
  lineNo = 0;
  private sawHeader = false;
  private sawTrailer = false;

  /** A row line may come now. */
  row(): void {
    if (!this.sawHeader) throw datasetProblems.invalid('rows before the header', { line: this.lineNo });
  }

  /** The problem of a line whose JSON was refused, naming the line. */
  invalid(err: unknown): Problem {
    return datasetProblems.invalid(`line ${this.lineNo}: ${(err as Error).message}`, { line: this.lineNo });
  }

  /** A line that is not a row, decoded. */
  parsed(line: string): DatasetLine {
    try {
      return parseDatasetLine(line);
    } catch (err) {
      throw this.invalid(err);
    }
  }

  /** A header, reject or trailer line as its event. */
  event(parsed: Exclude<DatasetLine, { kind: 'row' }>): DatasetEvent {
    if (parsed.kind === 'header') {
      if (this.sawHeader) throw datasetProblems.invalid('a second header', { line: this.lineNo });
      this.sawHeader = true;
      return { kind: 'header', header: parsed.header };
    }
    if (parsed.kind === 'reject') return { kind: 'reject', reject: parsed.reject };
    this.sawTrailer = true;
    return { kind: 'trailer', trailer: parsed.trailer };
  }

  /** The stream ended: it must have had its header and trailer. */
  end(): void {
    if (!this.sawHeader || !this.sawTrailer) {
      throw datasetProblems.truncated(this.sawHeader ? 'no trailer line: the sender stopped mid-file' : 'no header line');
    }
  }
}

/** Decode an NDJSON dataset stream; fails with 400 on a malformed stream or one that ends without its trailer. */
export async function* decodeNdjson(bytes: AsyncIterable<Buffer | string>): AsyncGenerator<DatasetEvent> {
  const dec = new StringDecoder('utf8');
  const lines = new DatasetLines();
  let rest = '';
  const parse = function* (text: string): Generator<DatasetEvent> {
    let rows: Row[] = [];
    let start = 0;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      const line = text.slice(start, nl);
      start = nl + 1;
      nl = text.indexOf('\n', start);
      lines.lineNo++;
      if (!line) continue;
      const parsed = lines.parsed(line);
      if (parsed.kind === 'row') {
        lines.row();
        rows.push(parsed.row);
        continue;
      }
      if (rows.length) {
        yield { kind: 'rows', rows };
        rows = [];
      }
      yield lines.event(parsed);
    }
    if (rows.length) yield { kind: 'rows', rows };
    rest = text.slice(start);
  };
  for await (const chunk of bytes) {
    const text = rest + (typeof chunk === 'string' ? chunk : dec.write(chunk));
    yield* parse(text);
  }
  yield* parse(rest + dec.end() + '\n');
  lines.end();
}

/** Rows already written as cleaned CSV lines (`decodeNdjsonToCsv`), and how many. */
export interface CsvRows {
  kind: 'csv';
  csv: Buffer;
  rows: number;
}

/**
 * Decode an NDJSON dataset stream whose rows are only written out as CSV (publish without a
 * Parquet output): row lines become cleaned CSV lines straight from their bytes (`RowsToCsv`),
 * the same bytes as `csvLine` of each decoded row; the header, rejects and trailer are decoded
 * and checked as in `decodeNdjson`, with the same problems for a malformed or truncated stream.
 */
export async function* decodeNdjsonToCsv(bytes: AsyncIterable<Buffer | string>, escapeFormulas: boolean): AsyncGenerator<DatasetEvent | CsvRows> {
  const rows = new RowsToCsv(escapeFormulas);
  const lines = new DatasetLines();
  let rest: Buffer | undefined;
  for await (const chunk of bytes) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const text = rest ? Buffer.concat([rest, b]) : b;
    const end = text.lastIndexOf(NEWLINE) + 1;
    rest = end < text.length ? Buffer.from(text.subarray(end)) : undefined;
    yield* csvLines(text, end, rows, lines);
  }
  const last = Buffer.concat([rest ?? Buffer.alloc(0), Buffer.from('\n')]);
  yield* csvLines(last, last.length, rows, lines);
  lines.end();
}

const NEWLINE = 10;

/** The whole lines of `b[0, end)`: rows into `rows` (flushed as one event), other lines decoded. */
function* csvLines(b: Buffer, end: number, rows: RowsToCsv, lines: DatasetLines): Generator<DatasetEvent | CsvRows> {
  // Text that is not UTF-8 is decoded as the string path decodes it (U+FFFD for each bad sequence).
  const utf8 = isUtf8(b.subarray(0, end));
  for (let start = 0; start < end; ) {
    const nl = b.indexOf(NEWLINE, start);
    const from = start;
    start = nl + 1;
    lines.lineNo++;
    if (nl === from) continue;
    if (b[from] === 91 /* [ */) {
      lines.row();
      try {
        if (utf8) rows.line(b, from, nl);
        else rows.parsed(b.toString('utf8', from, nl));
      } catch (err) {
        throw lines.invalid(err);
      }
      continue;
    }
    if (rows.rows) yield { kind: 'csv', rows: rows.rows, csv: rows.take() };
    const parsed = lines.parsed(b.toString('utf8', from, nl));
    if (parsed.kind !== 'row') yield lines.event(parsed); // a row line starts with [
  }
  if (rows.rows) yield { kind: 'csv', rows: rows.rows, csv: rows.take() };
}
