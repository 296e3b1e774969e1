/**
 * Typed rows written straight from CSV bytes to NDJSON bytes (or clean CSV): the transform's fast path.
 *
 * The reader hands over lines as bytes (it is a `LineSink`). For each line, each cell (a quoted
 * field's content too, `""` read as `"`) is typed from its bytes and its JSON written into one
 * output buffer: text copied as it is (the bytes are valid UTF-8 already), integers and decimals
 * copied from their source digits (thousands groups dropped) when those are already the number's
 * canonical form, dates and datetimes rewritten to ISO by arithmetic (no Date), booleans matched
 * as bytes. No string, array or number object is made per cell. What this does not handle
 * cheaply is handed back, never guessed:
 * - a cell of another shape (padded, an escape, an exponent, a leading zero, …) is decoded and
 *   typed by the string path (`typeCell`), and its value written with JSON.stringify;
 * - a line that the string path would reject, that is blank or ragged, or has a quoted field
 *   that goes on past its line, is declined: the reader hands it over as a record (read by
 *   papaparse when it has a quote), typed (and rejected, with its reason) as every record is.
 * So the bytes are exactly `JSON.stringify(row)` of the string path (row-encoder.property.test.ts).
 *
 * The same cells, typed by the same code, can be written as clean CSV instead (`output` csv):
 * each row the line `csvLine(row, escapeFormulas)` writes for the string path's row. Only the
 * writing differs: no brackets, null empty, dates and datetimes unquoted, text with `'` before
 * a formula and quoted when it holds a quote (doubled, as the field had it) or a comma.
 */
import type { Cell, ColumnStats, Row } from '../dataset/contract.js';
import type { CsvRecord, LineSink } from './reader.js';
import { FALSE, INVALID, isCalendarDate, TRUE, type ColumnTyping, type Parsed } from './types.js';
import { csvCell, csvLine } from './writer.js';

/** A required value that is missing (a null in a required column). */
export const MISSING: unique symbol = Symbol('missing');

/** What the encoder needs of the row typer: the string path, and its row counts. */
export interface EncoderHost {
  rowsIn: number;
  rowsOut: number;
  /** One cell by the string path: its value, INVALID, or MISSING. */
  typeCell(raw: string, c: number): Parsed | typeof MISSING;
  /** A whole record by the string path: its row, or undefined when it was rejected or blank. */
  typeRecord(rec: CsvRecord): Row | undefined;
}

const enum Kind {
  Text,
  Integer,
  DecimalDot,
  DecimalComma,
  Date,
  DateTime,
  Boolean,
}

/**
 * How a column's values are ordered for its min and max: not at all, as numbers (dates as
 * yyyymmdd), as times (datetimes as epoch milliseconds from the bytes, or as ISO strings from
 * the string path: merged as the strings, whose order is the string path's).
 */
const enum Order {
  None,
  Number,
  Time,
}

/** What a line changed in a column's statistics (RowEncoder's undo log). */
const enum Stat {
  Nulls,
  Min,
  Max,
}
/** Undo log entries a line may write per column: a null count, or a min and a max (twice that, to spare). */
const UNDO_PER_COLUMN = 4;

/** A byte's class in text (RowEncoder.textClass). */
const enum Byte {
  Plain,
  End,
  Escaped,
}

const LF = 10;
const QUOTE = 0x22;
const COMMA = 0x2c;
const APOSTROPHE = 0x27;
/** The bytes after leading apostrophes that make a spreadsheet run a text as a formula (writer.ts FORMULA: = + - @ tab CR). */
const FORMULA_LEAD = new Uint8Array(256);
for (const b of [0x3d, 0x2b, 0x2d, 0x40, 9, 13]) FORMULA_LEAD[b] = 1;
const DAY_MS = 86_400_000;
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
/** Lead bytes of the non-ASCII characters String.prototype.trim removes (U+00A0, U+1680, U+2000–U+205F, U+3000, U+FEFF). */
const SPACE_LEAD = new Uint8Array(256);
for (const b of [0xc2, 0xe1, 0xe2, 0xe3, 0xef]) SPACE_LEAD[b] = 1;
const NULL_BYTES = Buffer.from('null');
/** The boolean words as UTF-8 bytes, and their JSON (which is also what csvLine writes for them). */
const BOOLEAN_WORDS = [...[...TRUE].map((w) => ({ bytes: Buffer.from(w), json: Buffer.from('true') })), ...[...FALSE].map((w) => ({ bytes: Buffer.from(w), json: Buffer.from('false') }))];
/** What `line` returns for a line it does not take: the string path's, or not ended before `to`. */
const DECLINED = -1;
const UNFINISHED = -2;
/** Input bytes taken per call of `lines`, at most. */
const MAX_INPUT = 256 * 1024;
const OUT_BYTES = 128 * 1024;

export interface RowEncoderOptions {
  delimiter: string;
  nullValues: Iterable<string>;
  /** Lines longer than this (in bytes) are declined: the string path checks the field limit. */
  maxFieldBytes: number;
  /** Columns where a null rejects the line. */
  required: boolean[];
  /** What the rows are written as: NDJSON (the default), or clean CSV lines (comma-delimited). */
  output?: RowOutput;
}

export type RowOutput = { format: 'ndjson' } | { format: 'csv'; escapeFormulas: boolean };

export class RowEncoder implements LineSink {
  taken = 0;
  declined = false;
  /** Rows written since the last `flush`. */
  private pending = 0;
  private out = Buffer.allocUnsafe(OUT_BYTES);
  /**
   * `out`'s bytes as a DataView (several bytes moved at once), and the input's: the buffer `lines`
   * was last given, which every cell is typed from.
   */
  private outView = viewOf(this.out);
  private input?: Buffer;
  private inView = viewOf(this.out);
  private o = 0;
  /** Whether the text `copyText` last copied needed no escape. */
  private plain = true;
  /** Where the cell typed by one of the `…At` methods ended (its delimiter or LF). */
  private at = 0;
  /** Bytes kept free for the rest of the slice being encoded (see lines). */
  private reserve = 0;
  private readonly width: number;
  private readonly delim: number;
  /** Clean CSV out (else NDJSON), and whether its text is formula-escaped. */
  private readonly csv: boolean;
  private readonly escapeFormulas: boolean;
  private readonly kinds: Uint8Array;
  private readonly dmy: Uint8Array;
  private readonly order: Uint8Array;
  private readonly maxFieldBytes: number;
  private readonly required: Uint8Array;
  // The null values as bytes, and a gate on their first byte and length.
  private readonly nulls: Buffer[];
  private readonly nullLead = new Uint8Array(256);
  /** What each byte is in text: plain, the end of the cell (the delimiter, LF), or in need of an escape in JSON. */
  private readonly textClass = new Uint8Array(256);
  /** The same within quotes: the end is a quote (closing, or the first of a doubled one) or LF. */
  private readonly quotedClass = new Uint8Array(256);
  private readonly maxNull: number;
  private readonly emptyIsNull: boolean;
  private readonly nullHasQuote: boolean;
  // The statistics take each cell as it is typed; what a line changed is logged (its column, what,
  // the value before) and undone when the line is not taken. A datetime the string path typed (an
  // ISO string) waits for the line to be taken.
  private readonly undoColumn: Int32Array;
  private readonly undoStat: Uint8Array;
  private readonly undoValue: Float64Array;
  private undone = 0;
  private readonly lineText: (string | undefined)[];
  private readonly lineTextColumn: Int32Array;
  private lineTexts = 0;
  // Per column, for the lines taken here.
  private readonly nullCount: Float64Array;
  private readonly min: Float64Array;
  private readonly max: Float64Array;
  private readonly textMin: (string | undefined)[];
  private readonly textMax: (string | undefined)[];

  constructor(
    typings: ColumnTyping[],
    opts: RowEncoderOptions,
    private readonly host: EncoderHost,
  ) {
    const w = (this.width = typings.length);
    this.delim = opts.delimiter.charCodeAt(0);
    this.csv = opts.output?.format === 'csv';
    this.escapeFormulas = opts.output?.format === 'csv' && opts.output.escapeFormulas;
    this.maxFieldBytes = opts.maxFieldBytes;
    this.required = Uint8Array.from(opts.required, (r) => (r ? 1 : 0));
    this.kinds = Uint8Array.from(typings, kindOf);
    this.dmy = Uint8Array.from(typings, (t) => (t.dateOrder === 'mdy' ? 0 : 1));
    this.order = Uint8Array.from(typings, (t) => (t.type === 'integer' || t.type === 'decimal' || t.type === 'date' ? Order.Number : t.type === 'datetime' ? Order.Time : Order.None));
    const values = [...opts.nullValues];
    this.nullHasQuote = values.some((v) => v.includes('"'));
    this.emptyIsNull = values.includes('');
    this.nulls = values.filter((v) => v.length).map((v) => Buffer.from(v, 'utf8'));
    for (const n of this.nulls) this.nullLead[n[0]] = 1;
    this.maxNull = Math.max(0, ...this.nulls.map((n) => n.length));
    for (let x = 0; x < 32; x++) this.textClass[x] = Byte.Escaped;
    this.textClass[0x5c] = this.textClass[QUOTE] = Byte.Escaped;
    this.quotedClass.set(this.textClass);
    this.quotedClass[this.delim] = this.delim < 32 ? Byte.Escaped : Byte.Plain;
    this.quotedClass[QUOTE] = this.quotedClass[LF] = Byte.End;
    this.textClass[this.delim] = this.textClass[LF] = Byte.End;
    // A line changes a column's null count, or its min and max, once (UNDO_PER_COLUMN: room to spare).
    this.undoColumn = new Int32Array(UNDO_PER_COLUMN * w);
    this.undoStat = new Uint8Array(UNDO_PER_COLUMN * w);
    this.undoValue = new Float64Array(UNDO_PER_COLUMN * w);
    this.lineText = new Array(w).fill(undefined);
    this.lineTextColumn = new Int32Array(w);
    this.nullCount = new Float64Array(w);
    this.min = new Float64Array(w).fill(Infinity);
    this.max = new Float64Array(w).fill(-Infinity);
    this.textMin = new Array(w).fill(undefined);
    this.textMax = new Array(w).fill(undefined);
  }

  /** Rows typed by the string path, in their place. */
  writeRow(row: Row): void {
    const text = this.csv ? csvLine(row, this.escapeFormulas) : JSON.stringify(row);
    this.room(3 * text.length + 1);
    this.o += this.out.write(text, this.o);
    if (!this.csv) this.out[this.o++] = LF;
    this.pending++;
  }

  record(rec: CsvRecord): void {
    const row = this.host.typeRecord(rec);
    if (row) this.writeRow(row);
  }

  /** The NDJSON (or CSV) written since the last flush, and how many rows it holds. */
  flush(): { bytes: Buffer; rows: number } | undefined {
    if (this.o === 0) return undefined;
    const bytes = Buffer.allocUnsafe(this.o);
    this.out.copy(bytes, 0, 0, this.o);
    const rows = this.pending;
    this.o = 0;
    this.pending = 0;
    if (this.out.length > 8 * OUT_BYTES) this.outView = viewOf((this.out = Buffer.allocUnsafe(OUT_BYTES))); // after a huge row: let it go
    return { bytes, rows };
  }

  /** The statistics of the lines taken here, added to the string path's. */
  mergeStats(stats: ColumnStats[]): void {
    for (let c = 0; c < this.width; c++) {
      const s = stats[c];
      s.nulls += this.nullCount[c];
      if (this.order[c] === Order.None) continue;
      if (this.min[c] !== Infinity) {
        const kind = this.kinds[c];
        const lo = kind === Kind.Date ? isoOfKey(this.min[c]) : kind === Kind.DateTime ? new Date(this.min[c]).toISOString() : this.min[c];
        const hi = kind === Kind.Date ? isoOfKey(this.max[c]) : kind === Kind.DateTime ? new Date(this.max[c]).toISOString() : this.max[c];
        if (s.min === null || lo < s.min) s.min = lo;
        if (s.max === null || hi > s.max) s.max = hi;
      }
      if (this.textMin[c] !== undefined) {
        if (s.min === null || this.textMin[c]! < s.min) s.min = this.textMin[c]!;
        if (s.max === null || this.textMax[c]! > s.max) s.max = this.textMax[c]!;
      }
    }
  }

  private room(bytes: number): void {
    if (this.o + bytes <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(2 * this.out.length, this.o + bytes));
    this.out.copy(bigger, 0, 0, this.o);
    this.out = bigger;
    this.outView = viewOf(bigger);
  }

  lines(b: Buffer, from: number, end: number): number {
    this.taken = 0;
    this.declined = false;
    if (b !== this.input) this.inView = viewOf((this.input = b));
    // Whole lines only, at most MAX_INPUT bytes a call, so that the room below stays small
    // whatever the reader holds (a line cut by this limit is the reader's to hand over as a
    // record; an unfinished last line waits for the bytes that end it).
    const limit = Math.min(end, from + MAX_INPUT);
    const lastLine = b.lastIndexOf(LF, limit - 1) + 1;
    const to = lastLine > from ? lastLine : from;
    // Room for every line at once: a cell's JSON is at most 5 bytes per byte it takes with its
    // delimiter (an empty cell is `null,`), a line adds `[`, `]` and LF. Only the string path
    // (escapes) can write more, and it makes its own room.
    this.reserve = 8 * (to - from) + 64;
    this.room(this.reserve);
    let pos = from;
    let taken = 0;
    while (pos < to) {
      const next = this.line(b, pos, to);
      if (next < 0) {
        this.declined = next === DECLINED;
        break;
      }
      taken++;
      pos = next;
    }
    this.taken = taken;
    this.pending += taken;
    this.host.rowsIn += taken;
    this.host.rowsOut += taken;
    return pos;
  }

  /**
   * The line at b[pos], typed and written at the output's end (cells on the byte path; any other
   * cell by the string path): the start of the next line; DECLINED when the line is the string
   * path's (a record), UNFINISHED when it does not end before `to`. Nothing is kept of a line
   * that is not taken (its output and its statistics).
   */
  private line(b: Buffer, pos: number, to: number): number {
    let out = this.out;
    const { width, delim, kinds, nullLead, maxNull, textClass, quotedClass } = this;
    const json = !this.csv;
    const o0 = this.o;
    let o = o0;
    let i = pos;
    let c = 0;
    let end = -1;
    let fail = b[pos] === LF; // a blank line is the string path's to count
    let unfinished = false;
    if (!fail && json) out[o++] = 0x5b; // [
    while (!fail) {
      if (i >= to) {
        // The line is cut after a delimiter (read no further: b may end here).
        unfinished = true;
        break;
      }
      const kind = kinds[c];
      let j = i;
      let x = 0;
      let done = false;
      // Integers and text, the common cells, are scanned, checked and copied in one pass here; any
      // other cell, and any of these that may be null, padded or need an escape, goes to `cell`.
      if (b[i] === QUOTE) {
        // A quoted field: its content, `""` read as `"`, typed as the same text unquoted. A field
        // that goes on past its line, or a closing quote with more after it, is papaparse's.
        // Text is copied as it is scanned (`""` written as JSON's `\"`, or kept for CSV), and kept
        // when it needs no other escape and is neither padded nor maybe a null value.
        const text = kind === Kind.Text;
        const o1 = o;
        if (text && json) out[o++] = QUOTE;
        let q = i + 1;
        let escaped = false;
        let plain = true;
        for (;;) {
          if (text) {
            const stop = this.copyText(b, q, to, out, o, quotedClass);
            o += stop - q;
            q = stop;
            plain &&= this.plain;
            x = q < to ? b[q] : 0;
          } else while (q < to && (x = b[q]) !== QUOTE && x !== LF) q++;
          if (q + 1 < to && x === QUOTE && b[q + 1] === QUOTE) {
            escaped = true;
            if (text) {
              out[o++] = json ? 0x5c : QUOTE;
              out[o++] = QUOTE;
            }
            q += 2;
            continue;
          }
          break;
        }
        j = q + 1;
        if (j >= to) {
          unfinished = true;
          break;
        }
        // (A line of just `""` is a blank line to the string path.)
        if (x === LF || ((x = b[j]) !== delim && x !== LF) || (x === LF && c === 0 && q === i + 1)) {
          fail = true;
          break;
        }
        const len = q - i - 1;
        if (text && plain && len > 0 && unpadded(b, i + 1, q) && (escaped ? !this.nullHasQuote : !(len <= maxNull && nullLead[b[i + 1]] === 1))) {
          if (json) out[o++] = QUOTE;
          else o = this.csvText(o1, o, escaped, !escaped);
        } else o = escaped ? this.escapedCell(b, i + 1, q, c, o1) : this.cell(b, i + 1, q, c, o1);
        out = this.out;
        if (o < 0) {
          fail = true;
          break;
        }
        done = true;
      } else if (kind === Kind.Integer) {
        // `-?[1-9]\d{0,14}` or `0`, ended by the delimiter or LF: copied as it is scanned.
        const o1 = o;
        const neg = b[j] === 45;
        if (neg) {
          j++;
          out[o++] = 45;
        }
        const s = j;
        let n = 0;
        while (j < to) {
          x = b[j];
          const d = x - 48;
          if (d < 0 || d > 9) break;
          n = n * 10 + d;
          out[o++] = x;
          j++;
        }
        const len = j - s;
        if (j < to && (x === delim || x === LF) && len > 0 && len <= 15 && (b[s] !== 48 || len === 1) && !(neg && n === 0) && !(j - i <= maxNull && nullLead[b[i]] === 1)) {
          this.number(c, neg ? -n : n);
          done = true;
        } else o = o1;
      } else if (kind >= Kind.DecimalDot && kind <= Kind.DateTime) {
        // Decimals, and dates and datetimes in fixed layouts (ISO, dd/mm/yyyy), typed as they are
        // scanned (their bytes read once); any other form of them is scanned below and goes to `cell`.
        const o1 =
          kind === Kind.DateTime ? this.dateTimeAt(b, i, to, c, o) : kind === Kind.Date ? this.dateAt(b, i, to, c, o) : this.decimalAt(b, i, to, c, o, kind === Kind.DecimalDot ? 46 : 44);
        out = this.out;
        if (o1 >= 0) {
          o = o1;
          j = this.at;
          x = b[j];
          done = true;
        }
      } else if (kind === Kind.Text) {
        // Copied as it is, unless it needs an escape, is padded, or may be a null value.
        const o1 = o;
        if (json) out[o++] = 0x22;
        j = this.copyText(b, i, to, out, o, textClass);
        o += j - i;
        x = j < to ? b[j] : 0;
        const len = j - i;
        if (j < to && this.plain && len > 0 && unpadded(b, i, j) && !(len <= maxNull && nullLead[b[i]] === 1)) {
          if (json) out[o++] = 0x22;
          else o = this.csvText(o1, o, false, delim !== COMMA);
          done = true;
        }
        if (!done) o = o1;
      }
      if (!done) {
        while (j < to && (x = b[j]) !== delim && x !== LF) j++;
        if (j >= to) {
          unfinished = true;
          break;
        }
        o = this.cell(b, i, j, c, o);
        out = this.out;
        if (o < 0) {
          fail = true;
          break;
        }
      } else if (j >= to) {
        unfinished = true;
        break;
      }
      c++;
      if (x === LF) {
        end = j;
        break;
      }
      if (c === width) {
        fail = true; // too many fields
        break;
      }
      out[o++] = 0x2c; // ,
      i = j + 1;
    }
    if (unfinished) {
      // The line does not end before `to`: not ours to finish.
      this.o = o0;
      this.undoLine();
      return UNFINISHED;
    }
    if (fail || c !== width || end - pos > this.maxFieldBytes) {
      this.o = o0;
      this.undoLine();
      // Declined, if the line ends before `to`; otherwise it is not ours to finish yet.
      if (end === -1) {
        while (i < to && b[i] !== LF) i++;
        if (i >= to) return UNFINISHED;
      }
      return DECLINED;
    }
    if (json) out[o++] = 0x5d; // ]
    out[o++] = LF;
    this.o = o;
    this.commit();
    return end + 1;
  }

  /**
   * Text from b[a] copied to out at o up to the first byte of class End in `classes` (or `to`): that
   * byte's position. `plain` says whether no byte on the way needed an escape.
   */
  private copyText(b: Buffer, a: number, to: number, out: Buffer, o: number, classes: Uint8Array): number {
    let plain = true;
    let j = a;
    while (j < to) {
      const x = b[j];
      const k = classes[x];
      if (k !== Byte.Plain) {
        if (k === Byte.End) break;
        plain = false;
      }
      out[o++] = x;
      j++;
    }
    this.plain = plain;
    return j;
  }

  /** A number in column c (integers, decimals, dates as yyyymmdd, datetimes as epoch milliseconds): its min and max. */
  private number(c: number, v: number): void {
    const { min, max } = this;
    if (v < min[c]) {
      this.logUndo(c, Stat.Min, min[c]);
      min[c] = v;
    }
    if (v > max[c]) {
      this.logUndo(c, Stat.Max, max[c]);
      max[c] = v;
    }
  }

  private null(c: number): void {
    this.nullCount[c]++;
    this.logUndo(c, Stat.Nulls, 0);
  }

  private logUndo(c: number, stat: Stat, before: number): void {
    const k = this.undone++;
    this.undoColumn[k] = c;
    this.undoStat[k] = stat;
    this.undoValue[k] = before;
  }

  /** The line is not taken: what its cells changed in the statistics is undone, last first. */
  private undoLine(): void {
    for (let k = this.undone - 1; k >= 0; k--) {
      const c = this.undoColumn[k];
      const stat = this.undoStat[k];
      if (stat === Stat.Nulls) this.nullCount[c]--;
      else if (stat === Stat.Min) this.min[c] = this.undoValue[k];
      else this.max[c] = this.undoValue[k];
    }
    this.undone = 0;
    this.lineTexts = 0;
  }

  /** The line is taken: its statistics stay; a datetime the string path typed is ordered as its ISO string. */
  private commit(): void {
    this.undone = 0;
    for (let k = 0; k < this.lineTexts; k++) {
      const c = this.lineTextColumn[k];
      const t = this.lineText[c]!;
      if (this.textMin[c] === undefined || t < this.textMin[c]!) this.textMin[c] = t;
      if (this.textMax[c] === undefined || t > this.textMax[c]!) this.textMax[c] = t;
    }
    this.lineTexts = 0;
  }

  /**
   * Cell c, bytes b[a, z), written at o: the new end, or -1 when the line must be declined. Null
   * values and padding are decided here; then the cell is typed from its bytes by its column's
   * type (each hands what it does not take to the string path).
   */
  private cell(b: Buffer, a: number, z: number, c: number, o: number): number {
    const len = z - a;
    if (len === 0) {
      if (!this.emptyIsNull) return this.byString(b, a, z, c, o);
      return this.writeNull(c, o);
    }
    // Padding (the string path trims it, or sees a null value under it), or a non-ASCII space.
    if (!unpadded(b, a, z)) return this.byString(b, a, z, c, o);
    if (len <= this.maxNull && this.nullLead[b[a]] === 1 && this.isNullValue(b, a, len)) return this.writeNull(c, o);
    switch (this.kinds[c]) {
      case Kind.Text:
        return this.plainText(b, a, z, c, o);
      case Kind.Integer:
        return this.integer(b, a, z, c, o);
      case Kind.DecimalDot:
      case Kind.DecimalComma:
        return this.decimal(b, a, z, c, o, this.kinds[c] === Kind.DecimalDot ? 46 : 44);
      case Kind.Date:
        return this.date(b, a, z, c, o);
      case Kind.DateTime:
        return this.dateTime(b, a, z, c, o);
      default:
        return this.boolean(b, a, z, c, o);
    }
  }

  /** Text without escapes, copied as it is (a quoted field's content: `lines` copies the rest inline). */
  private plainText(b: Buffer, a: number, z: number, c: number, o: number): number {
    const out = this.out;
    const o1 = o;
    if (!this.csv) out[o++] = QUOTE;
    for (let k = a; k < z; k++) {
      const x = b[k];
      if (x < 32 || x === 0x5c || x === QUOTE) return this.byString(b, a, z, c, o1);
      out[o++] = x;
    }
    if (this.csv) return this.csvText(o1, o, false, true);
    out[o++] = QUOTE;
    return o;
  }

  /** `-?[1-9]\d{0,14}` or `0` (a quoted field's content: `lines` takes the rest inline). */
  private integer(b: Buffer, a: number, z: number, c: number, o: number): number {
    const neg = b[a] === 45;
    const s = neg ? a + 1 : a;
    const len = z - s;
    if (len === 0 || len > 15 || (b[s] === 48 && (len > 1 || neg))) return this.byString(b, a, z, c, o);
    const n = digitsOf(b, s, z);
    if (n < 0) return this.byString(b, a, z, c, o);
    this.number(c, neg ? -n : n);
    const out = this.out;
    for (let k = a; k < z; k++) out[o++] = b[k];
    return o;
  }

  /**
   * One of the boolean words, its ASCII letters in any case (a non-ASCII capital, as in `NÃO`,
   * goes by the string path, which lowercases it).
   */
  private boolean(b: Buffer, a: number, z: number, c: number, o: number): number {
    const len = z - a;
    for (const w of BOOLEAN_WORDS) {
      if (w.bytes.length !== len) continue;
      let k = 0;
      for (; k < len; k++) {
        const x = b[a + k];
        if ((x >= 65 && x <= 90 ? x + 32 : x) !== w.bytes[k]) break;
      }
      if (k === len) return writeBytes(this.out, o, w.json);
    }
    return this.byString(b, a, z, c, o);
  }

  /**
   * A quoted field's content with doubled quotes: text copied with each `""` written `\"`; any
   * other type, or text that needs another escape or may be a null value, by the string path.
   */
  private escapedCell(b: Buffer, a: number, z: number, c: number, o: number): number {
    if (this.kinds[c] !== Kind.Text || this.nullHasQuote || !unpadded(b, a, z)) {
      return this.byValue(b.toString('utf8', a, z).replaceAll('""', '"'), c, o);
    }
    const out = this.out;
    const o1 = o;
    if (!this.csv) out[o++] = QUOTE;
    for (let k = a; k < z; k++) {
      const x = b[k];
      if (x === QUOTE) {
        out[o++] = this.csv ? QUOTE : 0x5c; // CSV keeps the quote doubled
        k++;
      } else if (x < 32 || x === 0x5c) return this.byValue(b.toString('utf8', a, z).replaceAll('""', '"'), c, o1);
      out[o++] = x;
    }
    if (this.csv) return this.csvText(o1, o, true, false);
    out[o++] = QUOTE;
    return o;
  }

  /**
   * Text just copied to out[from, to) made the field csvLine writes for it: `'` before what a
   * spreadsheet would run as a formula (when escaping), and quoted when it holds a quote
   * (`hasQuote`: copied doubled already) or a comma (looked for when `mayHoldComma`). Text here
   * is never padded and holds no control characters: those went by the string path.
   */
  private csvText(from: number, to: number, hasQuote: boolean, mayHoldComma: boolean): number {
    const out = this.out;
    let lead = from;
    while (lead < to && out[lead] === APOSTROPHE) lead++;
    const formula = this.escapeFormulas && lead < to && FORMULA_LEAD[out[lead]] === 1;
    let quote = hasQuote;
    for (let k = from; !quote && mayHoldComma && k < to; k++) quote = out[k] === COMMA;
    if (!formula && !quote) return to;
    const before = (quote ? 1 : 0) + (formula ? 1 : 0);
    out.copyWithin(from + before, from, to);
    if (quote) out[from] = QUOTE;
    if (formula) out[from + before - 1] = APOSTROPHE;
    let o = to + before;
    if (quote) out[o++] = QUOTE;
    return o;
  }

  /**
   * `-?\d+([sep]\d+)?`, the integer part maybe grouped by the other separator (`1.234,5`), at
   * most 15 digits, no leading zero: the same double as the string path
   * (digits as an exact integer, one correctly rounded division). Its JSON is its digits without
   * trailing fraction zeros: a number of ≤ 15 significant digits prints as those digits, unless
   * it is below 1e-6 (exponent form) or −0; those, and every other form, go by the string path.
   */
  private decimal(b: Buffer, a: number, z: number, c: number, o: number, sep: number): number {
    const out = this.out;
    let i = a;
    const neg = b[a] === 45;
    if (neg) i++;
    const intStart = i;
    let n = 0;
    while (i < z) {
      const d = b[i] - 48;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
      i++;
    }
    let digits = i - intStart;
    if (digits === 0 || (b[intStart] === 48 && digits > 1)) return this.byString(b, a, z, c, o);
    // Thousands grouped by the other separator (`1.234.567,89`, `1,234.5`): 1–3 digits, then groups of 3.
    const group = sep === 46 ? 44 : 46;
    const grouped = i < z && b[i] === group;
    if (grouped) {
      if (digits > 3 || b[intStart] === 48) return this.byString(b, a, z, c, o);
      while (i < z && b[i] === group) {
        const g = i + 4 <= z ? digitsOf(b, i + 1, i + 4) : -1;
        if (g < 0) return this.byString(b, a, z, c, o);
        n = n * 1000 + g;
        digits += 3;
        i += 4;
      }
    }
    const intEnd = i;
    let frac = 0;
    const fracStart = i + 1;
    if (i < z) {
      if (b[i] !== sep || i + 1 === z) return this.byString(b, a, z, c, o);
      for (i++; i < z; i++) {
        const d = b[i] - 48;
        if (d < 0 || d > 9) return this.byString(b, a, z, c, o);
        n = n * 10 + d;
      }
      frac = z - fracStart;
      digits += frac;
    } else if (z - a > 15 && !grouped) return this.byString(b, a, z, c, o); // long digit strings are identifiers: the string path's rule
    if (digits > 15) return this.byString(b, a, z, c, o);
    let fe = z;
    if (frac) {
      while (fe > fracStart && b[fe - 1] === 48) fe--;
      if (n === 0) {
        if (neg) return this.byString(b, a, z, c, o); // −0
      } else if (b[intStart] === 48 && intEnd - intStart === 1) {
        // 0.000000x is written 1e-7 and so on.
        let lz = fracStart;
        while (lz < fe && b[lz] === 48) lz++;
        if (lz - fracStart >= 6) return this.byString(b, a, z, c, o);
      }
    } else if (neg && n === 0) return this.byString(b, a, z, c, o);
    const v = frac ? n / POW10[frac] : n;
    this.number(c, neg ? -v : v);
    if (neg) out[o++] = 45;
    for (let k = intStart; k < intEnd; k++) if (b[k] !== group) out[o++] = b[k];
    if (frac && fe > fracStart) {
      out[o++] = 46;
      for (let k = fracStart; k < fe; k++) out[o++] = b[k];
    }
    return o;
  }

  /**
   * A decimal cell from b[a] in its plain form, `-?\d+([sep]\d+)?`, its integer part maybe
   * grouped by the other separator (`1.234,56`), ended by the delimiter or LF before `to`, typed as
   * it is scanned: what `decimal` writes for it, and its end in `at`. -1: another form (padded, a
   * null value, too long, −0, below 1e-6, …), for `cell`.
   */
  private decimalAt(b: Buffer, a: number, to: number, c: number, o: number, sep: number): number {
    // Written as it is scanned (its bytes read once): the digits, `.` for the separator, no group
    // separators; the fraction's trailing zeros (and a `.` left alone) are taken back at its end.
    const delim = this.delim;
    const out = this.out;
    let i = a;
    const neg = b[a] === 45;
    if (neg) {
      i++;
      out[o++] = 45;
    }
    const intStart = i;
    let n = 0;
    let x = -1;
    while (i < to && (x = b[i]) >= 48 && x <= 57) {
      n = n * 10 + (x - 48);
      out[o++] = x;
      i++;
    }
    let digits = i - intStart;
    if (i >= to || digits === 0 || (b[intStart] === 48 && digits > 1)) return -1;
    // Thousands grouped by the other separator (`1.234.567,89`, `1,234.5` unless `,` is the delimiter): 1–3 digits, then groups of 3.
    const group = sep === 46 ? 44 : 46;
    const grouped = x === group && group !== delim;
    if (grouped) {
      if (digits > 3 || b[intStart] === 48) return -1;
      while (x === group) {
        if (i + 4 >= to) return -1;
        const g = threeDigits(b, i + 1);
        if (g < 0) return -1;
        n = n * 1000 + g;
        digits += 3;
        out[o++] = b[i + 1];
        out[o++] = b[i + 2];
        out[o++] = b[i + 3];
        i += 4;
        x = b[i];
      }
    }
    let frac = 0;
    let kept = 0; // fraction digits written (its trailing zeros taken back)
    const fracStart = i + 1;
    const whole = n;
    if (x === sep && sep !== delim) {
      const dot = o;
      out[o++] = 46;
      for (i++; i < to && (x = b[i]) >= 48 && x <= 57; i++) {
        n = n * 10 + (x - 48);
        out[o++] = x;
      }
      frac = i - fracStart;
      if (i >= to || frac === 0) return -1;
      digits += frac;
      while (o > dot + 1 && out[o - 1] === 48) o--;
      kept = o - dot - 1;
      if (kept === 0) o = dot;
    } else if (i - a > 15 && !grouped) return -1; // long digit strings are identifiers: the string path's rule
    if ((x !== delim && x !== LF) || digits > 15 || (neg && n === 0) || (i - a <= this.maxNull && this.nullLead[b[a]] === 1)) return -1;
    if (kept && n !== 0 && b[intStart] === 48 && digits - frac === 1) {
      // 0.000000x is written 1e-7 and so on.
      let lz = fracStart;
      while (b[lz] === 48) lz++;
      if (lz - fracStart >= 6) return -1;
    }
    // Its value lies within [whole, whole + 1), or (-(whole + 1), -whole]: worked out (a division)
    // only when that range reaches past the column's min or max.
    const lo = neg ? -(whole + 1) : whole;
    const hi = neg ? -whole : whole + 1;
    if (lo < this.min[c] || hi > this.max[c]) {
      const v = frac ? n / POW10[frac] : n;
      this.number(c, neg ? -v : v);
    }
    this.at = i;
    return o;
  }

  /**
   * A date cell from b[a] in a fixed layout, `yyyy-mm-dd` or `dd?mm?yyyy` (in the column's order,
   * separators / . -), ended by the delimiter or LF before `to`: what `date` writes, its end in
   * `at`; -1: another form, for `cell`.
   */
  private dateAt(b: Buffer, a: number, to: number, c: number, o: number): number {
    const z = a + 10;
    const x = z < to ? b[z] : -1;
    if ((x !== this.delim && x !== LF) || (10 <= this.maxNull && this.nullLead[b[a]] === 1)) return -1;
    const key = fixedDateKey(b, a, this.dmy[c] === 1);
    if (key < 0) return -1;
    const out = this.out;
    const view = this.inView;
    const outView = this.outView;
    if (!this.csv) out[o++] = QUOTE;
    if (b[a + 4] === 45) {
      // `yyyy-mm-dd` in three moves (see copyIso).
      outView.setUint32(o, view.getUint32(a, true), true);
      outView.setUint32(o + 4, view.getUint32(a + 4, true), true);
      outView.setUint16(o + 8, view.getUint16(a + 8, true), true);
    } else {
      // `dd?mm?yyyy` (or `mm?dd?yyyy`): its year, month and day moved into ISO's order.
      const dayFirst = this.dmy[c] === 1;
      outView.setUint32(o, view.getUint32(a + 6, true), true);
      out[o + 4] = 45;
      outView.setUint16(o + 5, view.getUint16(dayFirst ? a + 3 : a, true), true);
      out[o + 7] = 45;
      outView.setUint16(o + 8, view.getUint16(dayFirst ? a : a + 3, true), true);
    }
    o += 10;
    if (!this.csv) out[o++] = QUOTE;
    this.number(c, key);
    this.at = z;
    return o;
  }

  /**
   * A datetime cell from b[a], ISO (`yyyy-mm-dd[T ]hh:mm[:ss[.f{1,9}]][Z|±hh[:]mm]`) or
   * `dd?mm?yyyy[ T]hh:mm[:ss]` in the column's order, ended by the delimiter or LF before `to`,
   * read in one pass over its bytes: what `dateTime` writes, its end in `at`. -1: any other
   * form, or a part out of range, for `cell` (whose `dateTime` decides it as before).
   */
  private dateTimeAt(b: Buffer, a: number, to: number, c: number, o: number): number {
    let z = a + 16;
    if (z >= to || b[a + 13] !== 58 || (b[a + 10] !== 84 && b[a + 10] !== 32)) return -1;
    const iso = b[a + 4] === 45;
    let y: number, m: number, d: number;
    if (iso) {
      // ISO's parts read straight (fixedDateKey's, without making and taking apart its key).
      y = fourDigits(b, a);
      m = twoDigits(b, a + 5);
      d = twoDigits(b, a + 8);
      if (b[a + 7] !== 45 || y < 0 || m < 0 || d < 0 || !isCalendarDate(y, m, d)) return -1;
    } else {
      const key = fixedDateKey(b, a, this.dmy[c] === 1);
      if (key < 0) return -1;
      y = (key / 10000) | 0;
      m = ((key / 100) | 0) % 100;
      d = key % 100;
    }
    const h = twoDigits(b, a + 11);
    const mi = twoDigits(b, a + 14);
    if (h < 0 || mi < 0 || h > 23 || mi > 59) return -1;
    let s = 0;
    let sAt = -1;
    let fAt = -1;
    let fLen = 0;
    let ms = 0;
    let x = b[z];
    if (x === 58) {
      if (z + 3 >= to) return -1;
      s = twoDigits(b, z + 1);
      if (s < 0 || s > 59) return -1;
      sAt = z + 1;
      z += 3;
      x = b[z];
      if (x === 46 && iso) {
        fAt = z + 1;
        for (z++; z < to && (x = b[z]) >= 48 && x <= 57; z++);
        fLen = z - fAt;
        if (z >= to || fLen < 1 || fLen > 9) return -1;
        ms = (b[fAt] - 48) * 100 + (fLen > 1 ? (b[fAt + 1] - 48) * 10 : 0) + (fLen > 2 ? b[fAt + 2] - 48 : 0);
      }
    }
    let shift = 0; // the zone's offset, in minutes
    if (iso && x === 90) {
      z++;
      x = z < to ? b[z] : -1;
    } else if (iso && (x === 43 || x === 45)) {
      if (z + 5 >= to) return -1; // (read no further: b may end here)
      const colon = z + 6 < to && b[z + 3] === 58;
      const oh = twoDigits(b, z + 1);
      const om = colon ? twoDigits(b, z + 4) : z + 5 < to ? twoDigits(b, z + 3) : -1;
      if (oh < 0 || om < 0 || oh > 23 || om > 59) return -1;
      shift = x === 43 ? oh * 60 + om : -(oh * 60 + om);
      z += colon ? 6 : 5;
      x = b[z];
    }
    if ((x !== this.delim && x !== LF) || (z - a <= this.maxNull && this.nullLead[b[a]] === 1)) return -1;
    const t = epochDays(y, m, d) * DAY_MS + ((h * 60 + mi - shift) * 60 + s) * 1000 + ms;
    if (t < MIN_TIME || t >= END_TIME) return -1;
    this.number(c, t);
    this.at = z;
    if (shift === 0 && iso) return copyIso(this.out, this.outView, o, b, this.inView, a, sAt, fAt, fLen, !this.csv);
    const minutes = h * 60 + mi - shift;
    // A zone that keeps the day: the UTC time's parts without the day arithmetic of writeIso; in
    // ISO, its own digits with the hour and minute written over.
    if (minutes >= 0 && minutes < 1440) {
      if (!iso) return writeIsoParts(this.out, o, y, m, d, (minutes / 60) | 0, minutes % 60, s, ms, !this.csv);
      const end = copyIso(this.out, this.outView, o, b, this.inView, a, sAt, fAt, fLen, !this.csv);
      const at = this.csv ? o : o + 1;
      two(this.out, at + 11, (minutes / 60) | 0);
      two(this.out, at + 14, minutes % 60);
      return end;
    }
    return writeIso(this.out, o, t, !this.csv);
  }

  /** `yyyy-mm-dd`, or `d/m/yyyy` in the column's order (separators / . -), written as ISO; the string path's parseDate in bytes. */
  private date(b: Buffer, a: number, z: number, c: number, o: number): number {
    const out = this.out;
    const len = z - a;
    let y = -1;
    let m = -1;
    let d = -1;
    let yAt = -1;
    if (len === 10 && b[a + 4] === 45 && b[a + 7] === 45) {
      y = digitsOf(b, a, a + 4);
      m = digitsOf(b, a + 5, a + 7);
      d = digitsOf(b, a + 8, a + 10);
      if (y >= 0 && m >= 0 && d >= 0) yAt = a;
    }
    if (yAt === -1) {
      if (len < 8 || len > 10) return this.byString(b, a, z, c, o);
      const s1 = isDateSeparator(b[a + 1]) ? 1 : isDateSeparator(b[a + 2]) ? 2 : -1;
      if (s1 === -1) return this.byString(b, a, z, c, o);
      const s2 = isDateSeparator(b[a + s1 + 2]) ? s1 + 2 : isDateSeparator(b[a + s1 + 3]) ? s1 + 3 : -1;
      if (s2 === -1 || len - s2 - 1 !== 4) return this.byString(b, a, z, c, o);
      const p = digitsOf(b, a, a + s1);
      const q = digitsOf(b, a + s1 + 1, a + s2);
      y = digitsOf(b, a + s2 + 1, z);
      if (p < 0 || q < 0 || y < 0) return this.byString(b, a, z, c, o);
      if (this.dmy[c] === 1) (d = p), (m = q);
      else (m = p), (d = q);
      yAt = a + s2 + 1;
    }
    if (!isCalendarDate(y, m, d)) return this.byString(b, a, z, c, o);
    if (!this.csv) out[o++] = 0x22;
    for (let k = yAt; k < yAt + 4; k++) out[o++] = b[k];
    out[o++] = 45;
    out[o++] = 48 + ((m / 10) | 0);
    out[o++] = 48 + (m % 10);
    out[o++] = 45;
    out[o++] = 48 + ((d / 10) | 0);
    out[o++] = 48 + (d % 10);
    if (!this.csv) out[o++] = 0x22;
    this.number(c, y * 10000 + m * 100 + d);
    return o;
  }

  /**
   * `yyyy-mm-dd[T ]hh:mm[:ss[.f{1,9}]][Z|±hh[:]mm]` (UTC when it has no zone) or
   * `d/m/yyyy[ T]h:mm[:ss]` in the column's order, written as ISO in UTC with milliseconds: the
   * string path's parseDateTime in bytes, without a Date. A zone is applied by day arithmetic; a
   * time that would leave years 0000–9999, or any other form, goes by the string path.
   */
  private dateTime(b: Buffer, a: number, z: number, c: number, o: number): number {
    const len = z - a;
    let y: number, m: number, d: number, h: number, mi: number;
    let s = 0;
    let ms = 0;
    let shift = 0; // the zone's offset, in minutes
    let iso = false; // read from ISO's fixed layout (its digits can be copied)
    let sAt = -1; // where its seconds' digits are, if it has them
    let fAt = -1; // where its fraction's digits are, and how many
    let fLen = 0;
    if (len >= 16 && b[a + 4] === 45 && b[a + 7] === 45 && (b[a + 10] === 84 || b[a + 10] === 32) && b[a + 13] === 58) {
      y = digitsOf(b, a, a + 4);
      m = digitsOf(b, a + 5, a + 7);
      d = digitsOf(b, a + 8, a + 10);
      h = digitsOf(b, a + 11, a + 13);
      mi = digitsOf(b, a + 14, a + 16);
      let i = a + 16;
      iso = true;
      if (i < z && b[i] === 58) {
        s = i + 3 <= z ? digitsOf(b, i + 1, i + 3) : -1;
        sAt = i + 1;
        i += 3;
        if (i < z && b[i] === 46) {
          let k = i + 1;
          while (k < z && b[k] >= 48 && b[k] <= 57) k++;
          const n = k - i - 1;
          if (n < 1 || n > 9) return this.byString(b, a, z, c, o);
          ms = (b[i + 1] - 48) * 100 + (n > 1 ? (b[i + 2] - 48) * 10 : 0) + (n > 2 ? b[i + 3] - 48 : 0);
          fAt = i + 1;
          fLen = n;
          i = k;
        }
      }
      if (i < z) {
        const x = b[i];
        if (x === 90 && i + 1 === z) i++;
        else if ((x === 43 || x === 45) && (z - i === 6 ? b[i + 3] === 58 : z - i === 5)) {
          const oh = digitsOf(b, i + 1, i + 3);
          const om = digitsOf(b, z - 2, z);
          if (oh < 0 || om < 0 || oh > 23 || om > 59) return this.byString(b, a, z, c, o);
          shift = x === 43 ? oh * 60 + om : -(oh * 60 + om);
          i = z;
        }
        if (i !== z) return this.byString(b, a, z, c, o);
      }
    } else {
      // d/m/yyyy h:mm[:ss]: 1–2 digit day, month and hour, separators / . - between the date's parts.
      const s1 = isDateSeparator(b[a + 1]) ? 1 : isDateSeparator(b[a + 2]) ? 2 : -1;
      if (s1 === -1 || len < 13) return this.byString(b, a, z, c, o);
      const s2 = isDateSeparator(b[a + s1 + 2]) ? s1 + 2 : isDateSeparator(b[a + s1 + 3]) ? s1 + 3 : -1;
      if (s2 === -1 || (b[a + s2 + 5] !== 32 && b[a + s2 + 5] !== 84)) return this.byString(b, a, z, c, o);
      const p = digitsOf(b, a, a + s1);
      const q = digitsOf(b, a + s1 + 1, a + s2);
      y = digitsOf(b, a + s2 + 1, a + s2 + 5);
      const hAt = a + s2 + 6;
      const colon = b[hAt + 1] === 58 ? hAt + 1 : b[hAt + 2] === 58 ? hAt + 2 : -1;
      if (colon === -1 || (z - colon !== 3 && (z - colon !== 6 || b[colon + 3] !== 58))) return this.byString(b, a, z, c, o);
      h = digitsOf(b, hAt, colon);
      mi = digitsOf(b, colon + 1, colon + 3);
      if (z - colon === 6) s = digitsOf(b, colon + 4, z);
      if (this.dmy[c] === 1) (d = p), (m = q);
      else (m = p), (d = q);
    }
    if (y < 0 || m < 0 || d < 0 || h < 0 || mi < 0 || s < 0 || h > 23 || mi > 59 || s > 59 || !isCalendarDate(y, m, d)) return this.byString(b, a, z, c, o);
    const t = epochDays(y, m, d) * DAY_MS + ((h * 60 + mi - shift) * 60 + s) * 1000 + ms;
    if (t < MIN_TIME || t >= END_TIME) return this.byString(b, a, z, c, o);
    this.number(c, t);
    // Without a zone to apply, the parts read are the UTC time's already: ISO's digits are copied.
    if (shift === 0 && iso) return copyIso(this.out, this.outView, o, b, this.inView, a, sAt, fAt, fLen, !this.csv);
    if (shift === 0) return writeIsoParts(this.out, o, y, m, d, h, mi, s, ms, !this.csv);
    return writeIso(this.out, o, t, !this.csv);
  }

  private writeNull(c: number, o: number): number {
    if (this.required[c] === 1) return -1; // the string path rejects the line
    this.null(c);
    return this.csv ? o : writeBytes(this.out, o, NULL_BYTES); // CSV: an empty field
  }

  private isNullValue(b: Buffer, a: number, len: number): boolean {
    for (const n of this.nulls) {
      if (n.length !== len) continue;
      let k = 0;
      while (k < len && b[a + k] === n[k]) k++;
      if (k === len) return true;
    }
    return false;
  }

  /** The cell by the string path: decoded, typed, its value written as JSON.stringify writes it. */
  private byString(b: Buffer, a: number, z: number, c: number, o: number): number {
    return this.byValue(b.toString('utf8', a, z), c, o);
  }

  /** A cell's text by the string path. */
  private byValue(raw: string, c: number, o: number): number {
    const v = this.host.typeCell(raw, c);
    if (v === INVALID || v === MISSING) return -1;
    if (v === null) {
      this.null(c);
      return this.csv ? o : writeBytes(this.out, o, NULL_BYTES);
    }
    const text = this.csv ? csvCell(v, this.escapeFormulas) : JSON.stringify(v);
    if (o + 3 * text.length + this.reserve > this.out.length) {
      this.o = o;
      this.room(3 * text.length + this.reserve);
    }
    o += this.out.write(text, o);
    if (this.order[c] === Order.None) return o;
    if (typeof v === 'number') this.number(c, v);
    else if (typeof v === 'string') {
      if (this.kinds[c] === Kind.Date) this.number(c, +v.slice(0, 4) * 10000 + +v.slice(5, 7) * 100 + +v.slice(8, 10));
      else {
        // A datetime: ordered as its ISO string once the line is taken.
        this.lineText[c] = v;
        this.lineTextColumn[this.lineTexts++] = c;
      }
    }
    return o;
  }
}

function kindOf(t: ColumnTyping): Kind {
  switch (t.type) {
    case 'text':
      return Kind.Text;
    case 'integer':
      return Kind.Integer;
    case 'decimal':
      return t.decimalSeparator === ',' ? Kind.DecimalComma : Kind.DecimalDot;
    case 'date':
      return Kind.Date;
    case 'datetime':
      return Kind.DateTime;
    case 'boolean':
      return Kind.Boolean;
  }
}

/** Whether the last character of b[a, z) (non-ASCII) may be a space String.prototype.trim removes. */
/** Whether b[a, z) (not empty) has nothing the string path trims at either end: no space or control byte, no non-ASCII space. */
function unpadded(b: Buffer, a: number, z: number): boolean {
  const c0 = b[a];
  const cl = b[z - 1];
  return c0 > 32 && cl > 32 && !(c0 >= 0x80 && SPACE_LEAD[c0] === 1) && !(cl >= 0x80 && endsInSpace(b, a, z));
}

function endsInSpace(b: Buffer, a: number, z: number): boolean {
  let k = z - 1;
  while (k > a && (b[k] & 0xc0) === 0x80) k--;
  return SPACE_LEAD[b[k]] === 1;
}

/**
 * The date at b[a] in a fixed layout, `yyyy-mm-dd` or `dd?mm?yyyy` (day first when `dayFirst`,
 * separators / . -), as its key y·10000 + m·100 + d; -1 when it is in neither or is not a day.
 */
function fixedDateKey(b: Buffer, a: number, dayFirst: boolean): number {
  let y: number, m: number, d: number;
  if (b[a + 4] === 45 && b[a + 7] === 45) {
    y = fourDigits(b, a);
    m = twoDigits(b, a + 5);
    d = twoDigits(b, a + 8);
  } else {
    if (!isDateSeparator(b[a + 2]) || !isDateSeparator(b[a + 5])) return -1;
    const p = twoDigits(b, a);
    const q = twoDigits(b, a + 3);
    y = fourDigits(b, a + 6);
    if (dayFirst) (d = p), (m = q);
    else (m = p), (d = q);
  }
  return y >= 0 && m >= 0 && d >= 0 && isCalendarDate(y, m, d) ? y * 10000 + m * 100 + d : -1;
}

/** The two ASCII digits at b[k] as a number, else -1 (`>>> 0` makes a byte below '0' large: one compare each). */
function twoDigits(b: Buffer, k: number): number {
  const p = b[k] - 48;
  const q = b[k + 1] - 48;
  return (p >>> 0) <= 9 && (q >>> 0) <= 9 ? p * 10 + q : -1;
}

/** The three ASCII digits at b[k] as a number, else -1. */
function threeDigits(b: Buffer, k: number): number {
  const p = b[k] - 48;
  const q = twoDigits(b, k + 1);
  return p >= 0 && p <= 9 && q >= 0 ? p * 100 + q : -1;
}

/** The four ASCII digits at b[k] as a number, else -1. */
function fourDigits(b: Buffer, k: number): number {
  const hi = twoDigits(b, k);
  const lo = twoDigits(b, k + 2);
  return hi < 0 || lo < 0 ? -1 : hi * 100 + lo;
}

/** The value of b[from, to) when it is all ASCII digits, else -1. */
function digitsOf(b: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = b[i] - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

const isDateSeparator = (x: number) => x === 47 || x === 46 || x === 45; // / . -

/** A few bytes written at o, byte by byte (Buffer.copy costs more than it moves at this size): the new end. */
function writeBytes(out: Buffer, o: number, bytes: Uint8Array): number {
  for (let k = 0; k < bytes.length; k++) out[o++] = bytes[k];
  return o;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  if (m <= 2) y--;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** daysFromCivil of a checked calendar date with a four-digit year, in integer arithmetic (the hot path's). */
function epochDays(y: number, m: number, d: number): number {
  if (y === 0) return daysFromCivil(y, m, d); // its January and February are in the year before 0
  if (m <= 2) y--;
  const era = (y / 400) | 0;
  const yoe = y - era * 400;
  const doy = (((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) | 0) + d - 1;
  return era * 146097 + yoe * 365 + ((yoe / 4) | 0) - ((yoe / 100) | 0) + doy - 719468;
}

/** Epoch milliseconds of 0000-01-01T00:00Z and 10000-01-01T00:00Z: ISO's four-digit years. */
const MIN_TIME = daysFromCivil(0, 1, 1) * DAY_MS;
const END_TIME = daysFromCivil(10000, 1, 1) * DAY_MS;

/** `"yyyy-mm-ddThh:mm:ss.mmmZ"` (quoted for JSON) of an epoch time in [MIN_TIME, END_TIME), at o: the new end (H. Hinnant's civil_from_days). */
function writeIso(out: Buffer, o: number, t: number, quoted: boolean): number {
  const days = Math.floor(t / DAY_MS);
  const rest = t - days * DAY_MS;
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const ms = rest % 1000;
  const sec = (rest - ms) / 1000;
  return writeIsoParts(out, o, y, m, d, Math.floor(sec / 3600), Math.floor(sec / 60) % 60, sec % 60, ms, quoted);
}

/** `"yyyy-mm-ddThh:mm:ss.mmmZ"` (quoted for JSON) of a UTC time's parts (a year of four digits), at o: the new end. */
function writeIsoParts(out: Buffer, o: number, y: number, m: number, d: number, h: number, mi: number, s: number, ms: number, quoted: boolean): number {
  if (quoted) out[o++] = QUOTE;
  out[o++] = 48 + ((y / 1000) | 0);
  out[o++] = 48 + (((y / 100) | 0) % 10);
  out[o++] = 48 + (((y / 10) | 0) % 10);
  out[o++] = 48 + (y % 10);
  out[o++] = 45;
  o = two(out, o, m);
  out[o++] = 45;
  o = two(out, o, d);
  out[o++] = 84;
  o = two(out, o, h);
  out[o++] = 58;
  o = two(out, o, mi);
  out[o++] = 58;
  o = two(out, o, s);
  out[o++] = 46;
  out[o++] = 48 + ((ms / 100) | 0);
  out[o++] = 48 + (((ms / 10) | 0) % 10);
  out[o++] = 48 + (ms % 10);
  out[o++] = 90;
  if (quoted) out[o++] = QUOTE;
  return o;
}

/**
 * `"yyyy-mm-ddThh:mm:ss.mmmZ"` (quoted for JSON) copied from a checked ISO datetime's digits at
 * b[a] (`yyyy-mm-dd[T ]hh:mm`), seconds at sAt (-1: none, written 00), fraction at fAt (its first
 * three digits, zero-padded; -1: none), at o: the new end. The same bytes as writeIsoParts of its parts.
 */
function copyIso(out: Buffer, outView: DataView, o: number, b: Buffer, view: DataView, a: number, sAt: number, fAt: number, fLen: number, quoted: boolean): number {
  if (quoted) out[o++] = QUOTE;
  // `yyyy-mm-dd?hh:mm` in four 32-bit moves, then `T` between the date and the time.
  outView.setUint32(o, view.getUint32(a, true), true);
  outView.setUint32(o + 4, view.getUint32(a + 4, true), true);
  outView.setUint32(o + 8, view.getUint32(a + 8, true), true);
  outView.setUint32(o + 12, view.getUint32(a + 12, true), true);
  out[o + 10] = 84;
  o += 16;
  out[o++] = 58;
  out[o++] = sAt < 0 ? 48 : b[sAt];
  out[o++] = sAt < 0 ? 48 : b[sAt + 1];
  out[o++] = 46;
  out[o++] = fAt < 0 ? 48 : b[fAt];
  out[o++] = fLen > 1 ? b[fAt + 1] : 48;
  out[o++] = fLen > 2 ? b[fAt + 2] : 48;
  out[o++] = 90;
  if (quoted) out[o++] = QUOTE;
  return o;
}

/** A DataView over a buffer's bytes (its offsets are the buffer's): several bytes are moved at once. */
function viewOf(b: Buffer): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}


function two(out: Buffer, o: number, n: number): number {
  out[o++] = 48 + ((n / 10) | 0);
  out[o++] = 48 + (n % 10);
  return o;
}

function isoOfKey(k: number): string {
  const y = Math.floor(k / 10000);
  const m = Math.floor(k / 100) % 100;
  const d = k % 100;
  return `${String(y).padStart(4, '0')}-${m < 10 ? '0' : ''}${m}-${d < 10 ? '0' : ''}${d}`;
}

export type { Cell };
