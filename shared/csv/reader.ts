/**
 * Streaming CSV reader: bytes in, batches of records (fields + physical line number) out.
 * Detects binary input, encoding, delimiter and line endings from the first 64 KiB, decodes
 * with a streaming decoder (never raw Buffers: characters split across chunks would garble),
 * and parses incrementally: lines without quotes are split here, lines with quotes go to
 * papaparse's parser (see `parse`, the fused scanner). Memory stays bounded by the limits.
 *
 * Chunk-size independent: whatever the source hands over is cut to ≤ 64 KiB before decoding,
 * and the text waiting for the parser never grows past a slice and a piece. Record terminators
 * are CRLF, LF or a bare CR, anywhere in the file (not only as detected at its start): outside
 * quotes each becomes LF before parsing; inside quotes they are field content and stay as they are.
 */
import Papa from 'papaparse';
import type { Dialect } from '../dataset/contract.js';
import { Problem } from '../runtime/problem.js';
import { sniffDelimiter, detectLineEndings } from './dialect.js';
import { assertText, createDecoder, detectEncoding, hasUtf8Bom, type Encoding } from './encoding.js';
import { csvProblems } from './problems.js';

export interface ReadOptions {
  file?: string;
  encoding?: 'auto' | 'utf-8' | 'windows-1252' | 'latin1';
  delimiter?: 'auto' | ',' | ';' | '\t' | '|' | 'tab';
  maxFieldBytes: number;
  maxRecordBytes: number;
  maxColumns: number;
  onDialect?: (d: Dialect) => void;
  /** Characters parsed at a time (default 16 Ki); small values let tests cross every boundary. */
  batchChars?: number;
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

const SNIFF_BYTES = 64 * 1024;
const PARSE_BATCH_CHARS = 16 * 1024;
/** Largest piece of input decoded at once. */
const PIECE_BYTES = 64 * 1024;

/**
 * Record terminators outside quotes — CRLF, LF or a bare CR — become LF, wherever they occur.
 * A CR inside a quoted field is content and stays. A CR at the end of a piece waits for the next
 * one (it may be the first half of a CRLF).
 */
export class Terminators {
  private inQuotes = false;
  private heldCr = false;

  push(text: string, last = false): string {
    let out = '';
    let i = 0;
    if (this.heldCr) {
      this.heldCr = false;
      out = '\n';
      if (text.charCodeAt(0) === 10) i = 1;
    }
    if (i === 0 && out === '' && text.indexOf('\r') === -1) {
      this.track(text, 0, text.length);
      return text;
    }
    for (;;) {
      const cr = text.indexOf('\r', i);
      const end = cr === -1 ? text.length : cr;
      this.track(text, i, end);
      if (cr === -1) return out + text.slice(i);
      out += text.slice(i, cr);
      i = cr + 1;
      if (this.inQuotes) out += '\r';
      else if (i < text.length) {
        out += '\n';
        if (text.charCodeAt(i) === 10) i++;
      } else if (last) out += '\n';
      else this.heldCr = true;
    }
  }

  /** Flip the quote state at each `"` between from and to (an escaped `""` flips twice). */
  private track(text: string, from: number, to: number): void {
    let q = text.indexOf('"', from);
    while (q !== -1 && q < to) {
      this.inQuotes = !this.inQuotes;
      q = text.indexOf('"', q + 1);
    }
  }
}

export async function* readCsv(source: AsyncIterable<Buffer | string>, opts: ReadOptions, stats: ReadStats = { bytesIn: 0, blankLines: 0 }): AsyncGenerator<CsvRecord[], ReadStats> {
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

  let line = 1;
  let partial = ''; // the start of a record the parser has not finished
  let waiting = ''; // text not given to the parser yet (see parse)
  let pending = '';
  const countIn = (text: string, ch: string) => (text.length ? text.split(ch).length - 1 : 0);
  // Only on a decoding error: lines parsed so far plus those decoded but not parsed yet.
  const nl = () => (pending.includes('\n') || partial.includes('\n') || waiting.includes('\n') ? '\n' : '\r');
  const decoder = createDecoder(encoding, { file: opts.file, lineAt: () => line + countIn(partial, nl()) + countIn(waiting, nl()) + countIn(pending, nl()) });
  let first = decoder.write(bom && encoding === 'utf-8' ? sample.subarray(3) : sample);
  if (done) first += decoder.end();
  if (first.charCodeAt(0) === 0xfeff) first = first.slice(1);

  const delimiter = !opts.delimiter || opts.delimiter === 'auto' ? sniffDelimiter(first) : opts.delimiter === 'tab' ? '\t' : opts.delimiter;
  const { newline } = detectLineEndings(first);
  opts.onDialect?.({ encoding, bom, delimiter, newline });

  // Every terminator reaches the parser as LF (see Terminators).
  const terminators = new Terminators();
  const parser = new Papa.Parser({ delimiter, newline: '\n', quoteChar: '"', escapeChar: '"' });
  const nlChar = '\n';
  const batchChars = opts.batchChars ?? PARSE_BATCH_CHARS;

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
        if (f.indexOf(nlChar) !== -1) extra += f.split(nlChar).length - 1;
      }
    }
    line += 1 + extra;
    out.push(error ? { line: start, fields, error } : { line: start, fields });
  };

  /**
   * Papaparse on a region of whole lines (it starts with a quote): the records it completes, and
   * how much of the region they took. `final`: the input ends with this region.
   */
  const slow = (out: CsvRecord[], region: string, final: boolean): number => {
    const r = parser.parse(region, 0, !final);
    const rowErrors = new Map<number, string>();
    for (const e of r.errors) {
      if (e.code === 'MissingQuotes' && final) {
        const at = line + countLines(r.data, e.row ?? 0, nlChar);
        throw csvProblems.unterminatedQuote(`a quoted field opened at line ${at} is never closed (the input ends inside quotes)`, { file: opts.file, line: at });
      }
      if (e.row !== undefined) rowErrors.set(e.row, e.message);
    }
    const rows = r.data as string[][];
    // A final line break does not add a record: papaparse reports it as one empty row.
    if (final && rows.length && rows[rows.length - 1].length === 1 && rows[rows.length - 1][0] === '' && (region.length === 0 || region.charCodeAt(region.length - 1) === 10)) rows.pop();
    for (let i = 0; i < rows.length; i++) take(out, rows[i], true, rowErrors.get(i));
    return final ? region.length : r.meta.cursor;
  };

  /**
   * The fused scanner. A line without a quote is split on the delimiter here (for such a line
   * that is exactly what papaparse does, in its own fast mode); from a line with a quote, the
   * lines up to where the quotes balance go to papaparse, which decides quoting, escapes, fields
   * across lines and malformed quotes. So papaparse's slow, character-by-character mode runs only
   * where there are quotes, not on every chunk that has one quote somewhere.
   */
  const parse = (text: string, last: boolean): CsvRecord[] => {
    // The scan starts again from the beginning of an unfinished record each time. A long
    // record (a huge field, an unterminated quote) would make that quadratic, so new text waits
    // until it is at least as long as the unfinished record: the work stays linear, and no
    // record ends later than it would otherwise (the final parse sees everything).
    waiting += text;
    if (!last && waiting.length < partial.length && partial.length + waiting.length <= opts.maxRecordBytes) return [];
    const agg = partial + waiting;
    waiting = '';
    const out: CsvRecord[] = [];
    const n = agg.length;
    const longLines = n > opts.maxFieldBytes;
    let pos = 0;
    let quote = agg.indexOf('"');
    // The next delimiter at or after the line being split (-1: none left): kept across lines, so a
    // file with few delimiters is not searched to its end on every line.
    let delim = -2;
    /** The fields of agg[from, to), a line without quotes: `split` without slicing the line first. */
    const splitLine = (from: number, to: number): string[] => {
      const fields: string[] = [];
      let at = from;
      for (;;) {
        if (delim !== -1 && delim < at) delim = agg.indexOf(delimiter, at);
        if (delim === -1 || delim >= to) {
          fields.push(agg.slice(at, to));
          return fields;
        }
        fields.push(agg.slice(at, delim));
        at = delim + 1;
      }
    };
    while (pos < n) {
      const nl = agg.indexOf(nlChar, pos);
      if (quote === -1 || (nl !== -1 && quote > nl)) {
        if (nl === -1) {
          // The last line, unfinished: it waits for more text unless the input ends here.
          if (last) {
            take(out, splitLine(pos, n), longLines, undefined);
            pos = n;
          }
          break;
        }
        take(out, splitLine(pos, nl), longLines && nl - pos > opts.maxFieldBytes, undefined);
        pos = nl + 1;
        continue;
      }
      let end = balancedEnd(agg, pos);
      let used = slow(out, agg.slice(pos, end), last && end === n);
      // Quotes that balance where papaparse still reads a quoted field (a quote opening a field
      // after another that was literal): give it the rest.
      if (used === 0 && end < n) {
        end = n;
        used = slow(out, agg.slice(pos), last);
      }
      if (used === 0) break;
      pos += used;
      if (quote < pos) quote = agg.indexOf('"', pos);
    }
    partial = agg.slice(pos);
    if (partial.length > opts.maxRecordBytes) {
      throw csvProblems.recordTooLarge(`a record starting at line ${line} is longer than ${opts.maxRecordBytes} characters (unbalanced quotes or a missing line break?)`, { file: opts.file, line });
    }
    return out;
  };

  pending = terminators.push(first, done);
  const flush = (last: boolean) => {
    const text = pending;
    pending = '';
    return parse(text, last);
  };
  if (!done) {
    while (true) {
      const n = await it.next();
      if (n.done) break;
      const b = typeof n.value === 'string' ? Buffer.from(n.value) : n.value;
      stats.bytesIn += b.length;
      // Pieces of ≤ 64 KiB whatever the source's chunk size, parsed in slices of PARSE_BATCH_CHARS:
      // small batches die young (cheap scavenges) instead of being promoted to the old generation.
      for (let at = 0; at < b.length; at += PIECE_BYTES) {
        pending += terminators.push(decoder.write(b.subarray(at, Math.min(b.length, at + PIECE_BYTES))));
        let from = 0;
        while (pending.length - from >= batchChars) {
          const batch = parse(pending.slice(from, from + batchChars), false);
          from += batchChars;
          if (batch.length) yield batch;
        }
        pending = pending.slice(from);
      }
    }
    pending += terminators.push(decoder.end(), true);
  }
  const batch = flush(true);
  if (batch.length) yield batch;
  return stats;
}

/** From a line that has a quote: the end of the first line after which its quotes balance (or the end). */
function balancedEnd(text: string, from: number): number {
  let inQuotes = false;
  let q = text.indexOf('"', from);
  let at = from;
  for (;;) {
    const nl = text.indexOf('\n', at);
    if (nl === -1) return text.length;
    while (q !== -1 && q < nl) {
      inQuotes = !inQuotes;
      q = text.indexOf('"', q + 1);
    }
    if (!inQuotes) return nl + 1;
    at = nl + 1;
  }
}

function countLines(rows: unknown[], upto: number, nl: string): number {
  let n = 0;
  for (let i = 0; i < upto && i < rows.length; i++) {
    const r = rows[i] as string[];
    n += 1;
    for (const f of r) if (f.indexOf(nl) !== -1) n += f.split(nl).length - 1;
  }
  return n;
}
