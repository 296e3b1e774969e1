/**
 * Streaming CSV reader: bytes in, records (fields + physical line number) out. It works on bytes:
 * it detects binary input, encoding, delimiter and line endings from the first 64 KiB, checks that
 * UTF-8 is valid (windows-1252 is turned into UTF-8 first), and parses incrementally. Lines without
 * quotes are split here; lines with quotes go to papaparse's parser (see `scan`, the fused scanner).
 * Memory stays bounded by the limits.
 *
 * Two ways out, in file order:
 * - records: each batch of records is yielded (fields decoded as strings);
 * - a `LineSink` (the transform's typed path, set on `route` once the column types are known):
 *   runs of lines are handed over as bytes, and the sink takes the lines it can handle (quoted
 *   fields that end on their line included); every other record (declined by the sink, a field
 *   across lines) is read as without a sink and goes to `sink.record` in its place.
 *   Each parse slice then yields an empty batch, so that the caller can flush what the sink wrote.
 *
 * Chunk-size independent: whatever the source hands over is cut to ≤ 64 KiB, and bytes are parsed
 * in slices of `batchBytes`. Record terminators are CRLF, LF or a bare CR, anywhere in the file
 * (not only as detected at its start): outside quotes each becomes LF before parsing; inside quotes
 * they are field content and stay as they are.
 */
import { isUtf8 } from 'node:buffer';
import Papa from 'papaparse';
import type { Dialect } from '../dataset/contract.js';
import { sniffDelimiter, detectLineEndings } from './dialect.js';
import { assertText, countByte, firstInvalidUtf8, detectEncoding, hasUtf8Bom, Windows1252, type Encoding } from './encoding.js';
import { csvProblems } from './problems.js';

export interface ReadOptions {
  file?: string;
  encoding?: 'auto' | 'utf-8' | 'windows-1252' | 'latin1';
  delimiter?: 'auto' | ',' | ';' | '\t' | '|' | 'tab';
  maxFieldBytes: number;
  maxRecordBytes: number;
  maxColumns: number;
  onDialect?: (d: Dialect) => void;
  /** Bytes parsed at a time (default 16 KiB); small values let tests cross every boundary. */
  batchBytes?: number;
  /** Most bytes held for a rewind (default 8 MiB; see `ReadRoute.hold`). */
  holdBytes?: number;
}

export interface CsvRecord {
  /** Physical line (1-based) where the record starts. */
  line: number;
  fields: string[];
  /** Set when the parser found malformed quoting in this record. */
  error?: string;
}

export interface ReadStats {
  bytesIn: number;
  blankLines: number;
}

/**
 * Takes lines as bytes. `lines` is given `buf[from, to)`, where `to` is the end of the parse
 * slice; it takes whole lines (each ends with LF before `to`) that it reads exactly as papaparse
 * does (quoted fields included, when they end on their line), and returns where it stopped, with
 * `taken` the number of lines it took and `declined` true when it stopped at a whole line it will
 * not take: that record (read by papaparse when it has a quote) is handed to `record`. It may
 * stop earlier, at the start of any line: the record there is handed over too.
 */
export interface LineSink {
  lines(buf: Buffer, from: number, to: number): number;
  taken: number;
  declined: boolean;
  record(rec: CsvRecord): void;
}

/** Set `sink` to switch the reader from records to the sink, between two batches. */
export interface ReadRoute {
  sink?: LineSink;
  /**
   * Set before reading: keep the bytes read so far (up to `holdBytes`), so that a sink can read
   * the head's records again from their bytes (`rewind`). The reader clears it when it lets go.
   */
  hold?: boolean;
  /**
   * Set by the reader while it holds the bytes: switch to `sink` and read again from the record
   * that started at `line` (one of the first two records), with the line count and blank lines
   * as they were there. False, and nothing changes, when it cannot.
   */
  rewind?: (line: number, sink: LineSink) => boolean;
}

const SNIFF_BYTES = 64 * 1024;
/** Most bytes held for a rewind, by default (a larger head is typed from its records). */
const HOLD_BYTES = 8 * 1024 * 1024;
const PARSE_BATCH_BYTES = 16 * 1024;
/** Largest piece of input handled at once. */
const PIECE_BYTES = 64 * 1024;
const LF = 10;
const CR = 13;
const QUOTE = 34;

/**
 * Record terminators outside quotes — CRLF, LF or a bare CR — become LF, wherever they occur.
 * A CR inside a quoted field is content and stays. A CR at the end of a piece waits for the next
 * one (it may be the first half of a CRLF). Bytes in, bytes out: CR, LF and `"` are never part of
 * a UTF-8 multi-byte sequence.
 */
export class Terminators {
  private inQuotes = false;
  private heldCr = false;

  /** b's bytes with LF terminators, in a buffer of their own. */
  push(b: Buffer, last = false): Buffer {
    const out = Buffer.allocUnsafe(b.length + 1);
    return out.subarray(0, this.write(b, last, out, 0));
  }

  /**
   * b's bytes with LF terminators written into out at `at` (which has room for b.length + 1
   * bytes): the new end. Each run between CRs is copied once, one native copy per line.
   */
  write(b: Buffer, last: boolean, out: Buffer, at: number): number {
    let o = at;
    let i = 0;
    if (this.heldCr) {
      this.heldCr = false;
      out[o++] = LF;
      if (b.length && b[0] === LF) i = 1;
    }
    // The next quote at or after i (-1: none left): searched again only once passed, so that
    // sparse quotes are not looked for from every line.
    let q = b.indexOf(QUOTE, i);
    for (;;) {
      const cr = b.indexOf(CR, i);
      const end = cr === -1 ? b.length : cr;
      while (q !== -1 && q < end) {
        this.inQuotes = !this.inQuotes;
        q = b.indexOf(QUOTE, q + 1);
      }
      o += b.copy(out, o, i, end);
      if (cr === -1) return o;
      i = cr + 1;
      if (this.inQuotes) out[o++] = CR;
      else if (i < b.length) {
        out[o++] = LF;
        if (b[i] === LF) i++;
      } else if (last) out[o++] = LF;
      else this.heldCr = true;
    }
  }
}

/** Bytes of an unfinished UTF-8 sequence at the end of b (0–3): they wait for the next piece. */
function unfinishedUtf8(b: Buffer): number {
  const n = b.length;
  for (let k = 1; k <= 3 && k <= n; k++) {
    const c = b[n - k];
    if ((c & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > k ? k : 0;
  }
  return 0;
}

export async function* readCsv(source: AsyncIterable<Buffer | string>, opts: ReadOptions, stats: ReadStats = { bytesIn: 0, blankLines: 0 }, route: ReadRoute = {}): AsyncGenerator<CsvRecord[], ReadStats> {
  const it = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let done = false;
  while (headBytes < SNIFF_BYTES) {
    const n = await it.next();
    if (n.done) {
      done = true;
      break;
    }
    const b = typeof n.value === 'string' ? Buffer.from(n.value) : n.value;
    head.push(b);
    headBytes += b.length;
  }
  const sample = Buffer.concat(head);
  stats.bytesIn = sample.length;
  assertText(sample.subarray(0, SNIFF_BYTES), opts.file);
  const bom = hasUtf8Bom(sample);
  const encoding: Encoding =
    !opts.encoding || opts.encoding === 'auto'
      ? detectEncoding(sample, done)
      : opts.encoding === 'utf-8'
        ? 'utf-8'
        : 'windows-1252';
  const body = bom && encoding === 'utf-8' ? sample.subarray(3) : sample;
  const win = encoding === 'windows-1252' ? new Windows1252() : undefined;

  // The dialect, from the start of the text (a cut character at the end does not matter here).
  let first = win ? win.write(body.subarray(0, SNIFF_BYTES)) : body.toString('utf8', 0, Math.min(body.length, SNIFF_BYTES));
  if (first.charCodeAt(0) === 0xfeff) first = first.slice(1);
  const delimiter = !opts.delimiter || opts.delimiter === 'auto' ? sniffDelimiter(first) : opts.delimiter === 'tab' ? '\t' : opts.delimiter;
  const { newline } = detectLineEndings(first);
  opts.onDialect?.({ encoding, bom, delimiter, newline });

  let line = 1;
  // The parse buffer: bytes with LF terminators. [ws, we) is not parsed yet; the parser has been
  // given up to `lim`, and had seen up to `seen` when it last ran.
  let work = Buffer.allocUnsafe(256 * 1024);
  let ws = 0;
  let we = 0;
  let lim = 0;
  let seen = 0;
  const terminators = new Terminators();
  const parser = new Papa.Parser({ delimiter, newline: '\n', quoteChar: '"', escapeChar: '"' });
  const batchBytes = opts.batchBytes ?? PARSE_BATCH_BYTES;
  const holdBytes = opts.holdBytes ?? HOLD_BYTES;

  // UTF-8 is checked piece by piece (an unfinished character waits for the next piece).
  let checked = 0;
  let carry: Buffer | undefined;
  const invalidUtf8 = (b: Buffer, at: number): never => {
    const lineAt = line + countByte(work, LF, ws, we) + countByte(b, LF, 0, at);
    throw csvProblems.invalidEncoding(`byte ${checked + at} is not valid UTF-8 (set encoding=windows-1252 if the file is not UTF-8)`, { file: opts.file, line: lineAt, byteOffset: checked + at });
  };
  const utf8 = (piece: Buffer, last: boolean): Buffer => {
    let b = carry ? Buffer.concat([carry, piece]) : piece;
    carry = undefined;
    const keep = last ? 0 : unfinishedUtf8(b);
    if (keep) {
      carry = Buffer.from(b.subarray(b.length - keep));
      b = b.subarray(0, b.length - keep);
    }
    if (!isUtf8(b)) invalidUtf8(b, Math.max(0, firstInvalidUtf8(b, true)));
    checked += b.length;
    return b;
  };

  /** The text's bytes after the parse buffer's, their terminators made LF (a held CR may add one byte). */
  const append = (b: Buffer, last: boolean) => {
    const n = b.length + 1;
    if (route.hold && we + n > holdBytes) letGo();
    if (we + n > work.length) {
      // Move the unparsed bytes (all of them while held) to the front; grow if they still do not fit.
      const from = route.hold ? 0 : ws;
      const keep = we - from;
      const target = keep + n > work.length ? Buffer.allocUnsafe(Math.max(2 * work.length, keep + n)) : work;
      work.copy(target, 0, from, we);
      work = target;
      lim -= from;
      seen -= from;
      we = keep;
      ws -= from;
    }
    we = terminators.write(b, last, work, we);
  };

  // While held, work[0] is the first byte of the text, and the first two records' lines and the
  // blank lines before each are marked: what a rewind needs to start again at one of them.
  const marks: { line: number; blankLines: number }[] = [];
  let rewound = false;
  const letGo = () => {
    route.hold = false;
    route.rewind = undefined;
  };
  if (route.hold) {
    route.rewind = (at, sink) => {
      const mark = marks.find((m) => m.line === at);
      if (!route.hold || !mark) return false;
      let offset = 0;
      for (let l = 1; l < at; l++) offset = work.indexOf(LF, offset) + 1;
      letGo();
      ws = seen = offset;
      line = at;
      stats.blankLines = mark.blankLines;
      route.sink = sink;
      rewound = true;
      return true;
    };
  }

  /** One record: limits checked, blank lines counted, its physical lines counted. */
  const take = (out: CsvRecord[], fields: string[], careful: boolean, error: string | undefined) => {
    const start = line;
    if (fields.length === 1 && fields[0] === '') {
      stats.blankLines++;
      line++;
      return;
    }
    if (fields.length > opts.maxColumns) {
      throw csvProblems.tooManyColumns(`line ${start} has ${fields.length} fields; the limit is ${opts.maxColumns}`, { file: opts.file, line: start });
    }
    let extra = 0;
    if (careful) {
      for (let c = 0; c < fields.length; c++) {
        const f = fields[c];
        if (f.length > opts.maxFieldBytes) {
          throw csvProblems.fieldTooLarge(`field ${c + 1} on line ${start} is ${f.length} characters; the limit is ${opts.maxFieldBytes}`, { file: opts.file, line: start, column: c + 1 });
        }
        if (f.indexOf('\n') !== -1) extra += f.split('\n').length - 1;
      }
    }
    if (marks.length < 2 && route.hold) marks.push({ line: start, blankLines: stats.blankLines });
    line += 1 + extra;
    const rec: CsvRecord = error ? { line: start, fields, error } : { line: start, fields };
    if (route.sink) route.sink.record(rec);
    else out.push(rec);
  };

  /** Quote-free whole lines of buf[from, to) as records: decoded at once, then split. */
  const plainLines = (out: CsvRecord[], buf: Buffer, from: number, to: number) => {
    const text = buf.toString('utf8', from, to);
    let at = 0;
    for (;;) {
      const nl = text.indexOf('\n', at);
      if (nl === -1) return;
      take(out, splitFields(text.slice(at, nl), delimiter), nl - at > opts.maxFieldBytes, undefined);
      at = nl + 1;
    }
  };

  /**
   * Papaparse on buf[from, to), a region of whole lines that starts with a quote: the records it
   * completes, and how many bytes they took. `final`: the input ends with this region.
   */
  const slow = (out: CsvRecord[], buf: Buffer, from: number, to: number, final: boolean): number => {
    const region = buf.toString('utf8', from, to);
    const r = parser.parse(region, 0, !final);
    const rowErrors = new Map<number, string>();
    let unclosed: number | undefined;
    for (const e of r.errors) {
      if (e.code === 'MissingQuotes' && final) unclosed ??= e.row ?? 0;
      else if (e.row !== undefined) rowErrors.set(e.row, e.message);
    }
    const rows = r.data as string[][];
    if (unclosed !== undefined) {
      // The records before the one whose quote never closes are read, as the sink reads them
      // when it is given their lines; the read ends at that record.
      const at = line + countLines(rows, unclosed);
      for (let i = 0; i < unclosed; i++) take(out, rows[i], true, rowErrors.get(i));
      throw csvProblems.unterminatedQuote(`a quoted field opened at line ${at} is never closed (the input ends inside quotes)`, { file: opts.file, line: at });
    }
    // A final line break does not add a record: papaparse reports it as one empty row.
    if (final && rows.length && rows[rows.length - 1].length === 1 && rows[rows.length - 1][0] === '' && (region.length === 0 || region.charCodeAt(region.length - 1) === 10)) rows.pop();
    for (let i = 0; i < rows.length; i++) take(out, rows[i], true, rowErrors.get(i));
    const used = final ? region.length : r.meta.cursor;
    return used === region.length ? to - from : Buffer.byteLength(region.slice(0, used));
  };

  /**
   * The fused scanner, over the bytes given to the parser so far (`lim`). A line without a quote
   * is split on the delimiter here (for such a line that is exactly what papaparse does, in its
   * own fast mode), or taken by the sink; from a line with a quote, the lines up to where the
   * quotes balance go to papaparse, which decides quoting, escapes, fields across lines and
   * malformed quotes. So papaparse's character-by-character mode runs only where there are quotes.
   */
  const scan = (last: boolean, out: CsvRecord[]): void => {
    // The scan starts again from the beginning of an unfinished record each time. A long
    // record (a huge field, an unterminated quote) would make that quadratic, so new bytes wait
    // until they are at least as many as the unfinished record's: the work stays linear, and no
    // record ends later than it would otherwise (the final scan sees everything).
    const unfinished = seen - ws;
    if (!last && lim - seen < unfinished && lim - ws <= opts.maxRecordBytes) return;
    seen = lim;
    const buf = work.subarray(0, lim);
    const n = lim;
    let pos = ws;
    let quote = buf.indexOf(QUOTE, pos);
    while (pos < n) {
      const sink = route.sink;
      if (sink) {
        pos = sink.lines(buf, pos, n);
        line += sink.taken;
        if (pos >= n) break;
        if (quote !== -1 && quote < pos) quote = buf.indexOf(QUOTE, pos);
        const nl = buf.indexOf(LF, pos);
        if (sink.declined && (quote === -1 || quote > nl)) {
          plainLines(out, buf, pos, nl + 1);
          pos = nl + 1;
          continue;
        }
        // A line with a quote that the sink did not take: papaparse's, below.
      }
      const nl = buf.indexOf(LF, pos);
      if (quote === -1 || (nl !== -1 && quote > nl)) {
        if (nl === -1) {
          // The last line, unfinished: it waits for more bytes unless the input ends here.
          if (last) {
            const text = buf.toString('utf8', pos, n);
            take(out, splitFields(text, delimiter), n - pos > opts.maxFieldBytes, undefined);
            pos = n;
          }
          break;
        }
        const stop = quote === -1 ? n : quote;
        const end = sink ? nl + 1 : buf.lastIndexOf(LF, stop - 1) + 1;
        plainLines(out, buf, pos, end);
        pos = end;
        continue;
      }
      let end = balancedEnd(buf, pos);
      let used = slow(out, buf, pos, end, last && end === n);
      // Quotes that balance where papaparse still reads a quoted field (a quote opening a field
      // after another that was literal): give it the rest.
      if (used === 0 && end < n) {
        end = n;
        used = slow(out, buf, pos, n, last);
      }
      if (used === 0) break;
      pos += used;
      if (quote < pos) quote = buf.indexOf(QUOTE, pos);
    }
    ws = pos;
    if (lim - ws > opts.maxRecordBytes) {
      throw csvProblems.recordTooLarge(`a record starting at line ${line} is longer than ${opts.maxRecordBytes} bytes (unbalanced quotes or a missing line break?)`, { file: opts.file, line });
    }
  };

  /**
   * One scan's records. A problem the scan meets ends the read after the records before it are
   * yielded: the same records, with or without a sink (which has taken its lines already).
   */
  let problem: unknown;
  const scanned = (last: boolean): CsvRecord[] => {
    const out: CsvRecord[] = [];
    try {
      scan(last, out);
    } catch (err) {
      problem = err;
    }
    return out;
  };

  /** One piece of input (≤ 64 KiB): checked or converted to UTF-8, terminators made LF, parsed in slices. */
  async function* piece(b: Buffer, last: boolean): AsyncGenerator<CsvRecord[]> {
    const text = win ? Buffer.from(win.write(b), 'utf8') : utf8(b, last);
    append(text, last);
    while (we - lim >= batchBytes) {
      lim += batchBytes;
      do {
        rewound = false;
        const batch = scanned(false);
        if (batch.length || route.sink) yield batch;
      } while (again());
    }
  }

  /**
   * After a scan's records were yielded: whether to scan the same bytes again (the caller rewound
   * while it waited: a problem among them is met again, in its place), else the problem, if any.
   */
  const again = (): boolean => {
    if (rewound) {
      problem = undefined;
      return true;
    }
    if (problem) {
      letGo();
      throw problem;
    }
    return false;
  };

  for (let at = 0; at < body.length; at += PIECE_BYTES) yield* piece(body.subarray(at, Math.min(body.length, at + PIECE_BYTES)), false);
  if (!done) {
    for (;;) {
      const n = await it.next();
      if (n.done) break;
      const b = typeof n.value === 'string' ? Buffer.from(n.value) : n.value;
      stats.bytesIn += b.length;
      for (let at = 0; at < b.length; at += PIECE_BYTES) yield* piece(b.subarray(at, Math.min(b.length, at + PIECE_BYTES)), false);
    }
  }
  yield* piece(Buffer.alloc(0), true);
  lim = we;
  do {
    rewound = false;
    const batch = scanned(true);
    if (batch.length || route.sink) yield batch;
  } while (again());
  letGo();
  return stats;
}

/**
 * The fields of a line without quotes. A module function, not a closure made per file: V8 holds
 * optimised code weakly, so a closure's went with it and was compiled again for the next file.
 */
function splitFields(text: string, delimiter: string): string[] {
  const fields: string[] = [];
  let at = 0;
  for (;;) {
    const d = text.indexOf(delimiter, at);
    if (d === -1) {
      fields.push(text.slice(at));
      return fields;
    }
    fields.push(text.slice(at, d));
    at = d + 1;
  }
}

/** From a line that has a quote: the end of the first line after which its quotes balance (or the end). */
function balancedEnd(b: Buffer, from: number): number {
  let inQuotes = false;
  let q = b.indexOf(QUOTE, from);
  let at = from;
  for (;;) {
    const nl = b.indexOf(LF, at);
    if (nl === -1) return b.length;
    while (q !== -1 && q < nl) {
      inQuotes = !inQuotes;
      q = b.indexOf(QUOTE, q + 1);
    }
    if (!inQuotes) return nl + 1;
    at = nl + 1;
  }
}

function countLines(rows: unknown[], upto: number): number {
  let n = 0;
  for (let i = 0; i < upto && i < rows.length; i++) {
    const r = rows[i] as string[];
    n += 1;
    for (const f of r) if (f.indexOf('\n') !== -1) n += f.split('\n').length - 1;
  }
  return n;
}
