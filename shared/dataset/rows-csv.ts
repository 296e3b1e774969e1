/**
 * The dataset's row lines (`[1,"a",null]`) written as cleaned CSV lines straight from their
 * bytes: what `csvLine(JSON.parse(line), escapeFormulas)` gives, byte for byte, without a
 * `JSON.parse`, a string or a number per cell. publish spent most of its time there (a 100 MB
 * mixed file: `JSON.parse` 1.36 s, `csvCell` 1.33 s, strings and GC ~1.5 s), more than transform.
 *
 * The byte path takes the lines the encoders write: no whitespace, numbers that print as they
 * are written, text without escapes. Anything else takes the string path for that cell (a text
 * with `\"`, a number such as `1.50` or `1e21`) or for the whole line (anything that is not
 * a plain array of values), so the output never depends on which path was taken
 * (`rows-csv.property.test.ts` holds the two to the same bytes).
 */
import { csvCell, csvLine } from '../csv/writer.js';
import type { Row } from './contract.js';

const QUOTE = 34;
const COMMA = 44;
const BACKSLASH = 92;
const APOSTROPHE = 39;
const OPEN = 91;
const CLOSE = 93;
const NL = 10;
/** The most significant digits a decimal can have and still print as it is written (DBL_DIG). */
const EXACT_DIGITS = 15;

export class RowsToCsv {
  private out: Buffer = Buffer.allocUnsafe(64 * 1024);
  private at = 0;
  /** Rows written since the last `take`. */
  rows = 0;

  constructor(private readonly escapeFormulas: boolean) {}

  /** One row line (`b[start]` is `[`, `end` excludes the newline), appended as a CSV line. */
  line(b: Buffer, start: number, end: number): void {
    this.room((end - start) * 2 + 16);
    const mark = this.at;
    let done: boolean;
    try {
      done = this.cells(b, start, end);
    } catch {
      done = false; // a token JSON refuses: the whole line's parse says why, as it always did
    }
    if (!done) {
      this.at = mark;
      this.parsed(b.toString('utf8', start, end));
    }
  }

  /** One row line as text (the string path). */
  parsed(line: string): void {
    this.text(csvLine(JSON.parse(line) as Row, this.escapeFormulas));
    this.rows++;
  }

  /** The CSV written since the last call (a fresh buffer: the caller keeps it). */
  take(): Buffer {
    const done = Buffer.from(this.out.subarray(0, this.at));
    this.at = 0;
    this.rows = 0;
    return done;
  }

  /** The cells of `[v,v,…]`; false when the line is not a plain array of values (nothing is kept then). */
  private cells(b: Buffer, start: number, end: number): boolean {
    if (b[end - 1] !== CLOSE) return false;
    let i = start + 1;
    const last = end - 1;
    if (i === last) {
      this.rows++;
      return this.put(NL);
    }
    for (;;) {
      const next = b[i] === QUOTE ? this.string(b, i, last) : this.scalar(b, i, last);
      if (next < 0) return false;
      if (next === last) {
        this.rows++;
        return this.put(NL);
      }
      if (b[next] !== COMMA) return false;
      this.put(COMMA);
      i = next + 1;
    }
  }

  /** A string token from its opening quote; the index after it, or -1. */
  private string(b: Buffer, open: number, last: number): number {
    let i = open + 1;
    let plain = true;
    let quotes = false;
    for (; i < last; i++) {
      const c = b[i];
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        plain = false;
        i++;
      } else if (c < 0x20) return -1;
      else if (c === COMMA) quotes = true;
    }
    if (i >= last) return -1;
    const from = open + 1;
    // A space first or last is quoted; other white space (non-ASCII), escapes: the string path.
    if (!plain || (i > from && (b[from] >= 0x80 || b[i - 1] >= 0x80))) {
      this.text(csvCell(JSON.parse(b.toString('utf8', open, i + 1)) as string, this.escapeFormulas));
      return i + 1;
    }
    if (i > from && (b[from] === 0x20 || b[i - 1] === 0x20)) quotes = true;
    if (quotes) this.put(QUOTE);
    if (this.escapeFormulas && isFormula(b, from, i)) this.put(APOSTROPHE);
    this.copy(b, from, i);
    if (quotes) this.put(QUOTE);
    return i + 1;
  }

  /** A number, `true`, `false` or `null` up to the next `,` or `]`; the index after it, or -1. */
  private scalar(b: Buffer, from: number, last: number): number {
    let i = from;
    while (i < last && b[i] !== COMMA) i++;
    if (i === from) return -1;
    const c = b[from];
    if (c === 110 /* n */) return i - from === 4 && b[from + 1] === 117 && b[from + 2] === 108 && b[from + 3] === 108 ? i : -1;
    if (c === 116 /* t */ || c === 102 /* f */) {
      const word = b.toString('latin1', from, i);
      if (word !== 'true' && word !== 'false') return -1;
      this.copy(b, from, i);
      return i;
    }
    if (printsAsWritten(b, from, i)) this.copy(b, from, i);
    else {
      const v: unknown = JSON.parse(b.toString('latin1', from, i));
      if (typeof v !== 'number') return -1;
      this.text(String(v));
    }
    return i;
  }

  private put(c: number): true {
    this.out[this.at++] = c;
    return true;
  }

  private copy(b: Buffer, from: number, to: number): void {
    if (to - from > 24) {
      b.copy(this.out, this.at, from, to);
      this.at += to - from;
      return;
    }
    const out = this.out;
    let at = this.at;
    for (let k = from; k < to; k++) out[at++] = b[k];
    this.at = at;
  }

  private text(s: string): void {
    this.room(s.length * 3);
    this.at += this.out.write(s, this.at);
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.at + bytes));
    this.out.copy(bigger, 0, 0, this.at);
    this.out = bigger;
  }
}

/** `^'*[=+\-@\t\r]` (the writer's formula rule) on plain text bytes (a tab or CR is never plain). */
function isFormula(b: Buffer, from: number, to: number): boolean {
  let i = from;
  while (i < to && b[i] === APOSTROPHE) i++;
  const c = b[i];
  return i < to && (c === 61 || c === 43 || c === 45 || c === 64);
}

/**
 * Whether a JSON number prints back (`String(Number(x))`) as written: `-?(0|[1-9]\d*)(\.\d*[1-9])?`
 * with at most 15 significant digits, at least 1e-6 when it has a fraction, and not `-0`.
 */
function printsAsWritten(b: Buffer, from: number, to: number): boolean {
  let i = from;
  if (b[i] === 45) i++;
  const int = i;
  if (b[i] === 48) i++;
  else while (i < to && b[i] >= 48 && b[i] <= 57) i++;
  const intDigits = i - int;
  if (intDigits === 0 || (b[int] === 48 && intDigits > 1)) return false;
  if (i === to) return intDigits <= EXACT_DIGITS && !(b[from] === 45 && b[int] === 48);
  if (b[i] !== 46 /* . */) return false;
  const frac = ++i;
  while (i < to && b[i] >= 48 && b[i] <= 57) i++;
  if (i !== to || i === frac || b[to - 1] === 48) return false;
  if (b[int] !== 48) return intDigits + (to - frac) <= EXACT_DIGITS;
  let zeros = 0;
  while (b[frac + zeros] === 48) zeros++;
  return zeros <= 5 && to - frac - zeros <= EXACT_DIGITS;
}
