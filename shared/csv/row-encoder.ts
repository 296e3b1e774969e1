/**
 * Typed rows written straight from CSV bytes to NDJSON bytes: the transform's fast path.
 *
 * The reader hands over quote-free lines as bytes (it is a `LineSink`). For each line, each cell
 * is typed from its bytes and its JSON written into one output buffer: text copied as it is (the
 * bytes are valid UTF-8 already), integers and decimals copied from their source digits when those
 * are already the number's canonical form, dates rewritten to ISO. No string, array or number
 * object is made per cell. What this does not handle cheaply is handed back, never guessed:
 * - a cell of another shape (padded, an escape, a boolean, a datetime, grouping digits, …) is
 *   decoded and typed by the string path (`typeCell`), and its value written with JSON.stringify;
 * - a line that the string path would reject, or that is blank or ragged, is declined: the reader
 *   hands it over as a record, typed (and rejected, with its reason) as every record is.
 * So the bytes are exactly `JSON.stringify(row)` of the string path (row-encoder.property.test.ts).
 */
import type { Cell, ColumnStats, Row } from '../dataset/contract.js';
import type { CsvRecord, LineSink } from './reader.js';
import { INVALID, isCalendarDate, type ColumnTyping, type Parsed } from './types.js';

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
  /** Booleans and datetimes: always by the string path. */
  Other,
}

/** How a column's values are ordered for its min and max: not at all, as numbers (dates as yyyymmdd), as strings. */
const enum Order {
  None,
  Number,
  String,
}

const LF = 10;
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
/** Lead bytes of the non-ASCII characters String.prototype.trim removes (U+00A0, U+1680, U+2000–U+205F, U+3000, U+FEFF). */
const SPACE_LEAD = new Uint8Array(256);
for (const b of [0xc2, 0xe1, 0xe2, 0xe3, 0xef]) SPACE_LEAD[b] = 1;
const NULL_BYTES = Buffer.from('null');
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
}

export class RowEncoder implements LineSink {
  taken = 0;
  declined = false;
  /** Rows written since the last `flush`. */
  private pending = 0;
  private out = Buffer.allocUnsafe(OUT_BYTES);
  private o = 0;
  /** Bytes kept free for the rest of the slice being encoded (see lines). */
  private reserve = 0;
  private readonly width: number;
  private readonly delim: number;
  private readonly kinds: Uint8Array;
  private readonly dmy: Uint8Array;
  private readonly order: Uint8Array;
  private readonly maxFieldBytes: number;
  private readonly required: Uint8Array;
  // The null values as bytes, and a gate on their first byte and length.
  private readonly nulls: Buffer[];
  private readonly nullLead = new Uint8Array(256);
  private readonly maxNull: number;
  private readonly emptyIsNull: boolean;
  // Per line (committed to the stats only when the whole line is taken).
  private readonly isNull: Uint8Array;
  private readonly value: Float64Array;
  private readonly text: (string | undefined)[];
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
    this.maxFieldBytes = opts.maxFieldBytes;
    this.required = Uint8Array.from(opts.required, (r) => (r ? 1 : 0));
    this.kinds = Uint8Array.from(typings, kindOf);
    this.dmy = Uint8Array.from(typings, (t) => (t.dateOrder === 'mdy' ? 0 : 1));
    this.order = Uint8Array.from(typings, (t) => (t.type === 'integer' || t.type === 'decimal' || t.type === 'date' ? Order.Number : t.type === 'datetime' ? Order.String : Order.None));
    const values = [...opts.nullValues];
    this.emptyIsNull = values.includes('');
    this.nulls = values.filter((v) => v.length).map((v) => Buffer.from(v, 'utf8'));
    for (const n of this.nulls) this.nullLead[n[0]] = 1;
    this.maxNull = Math.max(0, ...this.nulls.map((n) => n.length));
    this.isNull = new Uint8Array(w);
    this.value = new Float64Array(w);
    this.text = new Array(w).fill(undefined);
    this.nullCount = new Float64Array(w);
    this.min = new Float64Array(w).fill(Infinity);
    this.max = new Float64Array(w).fill(-Infinity);
    this.textMin = new Array(w).fill(undefined);
    this.textMax = new Array(w).fill(undefined);
  }

  /** Rows typed by the string path, in their place. */
  writeRow(row: Row): void {
    const json = JSON.stringify(row);
    this.room(3 * json.length + 1);
    this.o += this.out.write(json, this.o);
    this.out[this.o++] = LF;
    this.pending++;
  }

  record(rec: CsvRecord): void {
    const row = this.host.typeRecord(rec);
    if (row) this.writeRow(row);
  }

  /** The NDJSON written since the last flush, and how many rows it holds. */
  flush(): { ndjson: Buffer; rows: number } | undefined {
    if (this.o === 0) return undefined;
    const ndjson = Buffer.allocUnsafe(this.o);
    this.out.copy(ndjson, 0, 0, this.o);
    const rows = this.pending;
    this.o = 0;
    this.pending = 0;
    if (this.out.length > 8 * OUT_BYTES) this.out = Buffer.allocUnsafe(OUT_BYTES); // after a huge row: let it go
    return { ndjson, rows };
  }

  /** The statistics of the lines taken here, added to the string path's. */
  mergeStats(stats: ColumnStats[]): void {
    for (let c = 0; c < this.width; c++) {
      const s = stats[c];
      s.nulls += this.nullCount[c];
      if (this.order[c] === Order.Number && this.min[c] !== Infinity) {
        const date = this.kinds[c] === Kind.Date;
        const lo = date ? isoOfKey(this.min[c]) : this.min[c];
        const hi = date ? isoOfKey(this.max[c]) : this.max[c];
        if (s.min === null || lo < s.min) s.min = lo;
        if (s.max === null || hi > s.max) s.max = hi;
      } else if (this.order[c] === Order.String && this.textMin[c] !== undefined) {
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
  }

  lines(b: Buffer, from: number, end: number): number {
    this.taken = 0;
    this.declined = false;
    // At most MAX_INPUT bytes a call, so that the room below stays small whatever the reader
    // holds (a line cut by this limit is the reader's to hand over as a record).
    const to = Math.min(end, from + MAX_INPUT);
    // Room for every line at once: a cell's JSON is at most 5 bytes per byte it takes with its
    // delimiter (an empty cell is `null,`), a line adds `[`, `]` and LF. Only the string path
    // (escapes) can write more, and it makes its own room.
    this.reserve = 8 * (to - from) + 64;
    this.room(this.reserve);
    let out = this.out;
    const { width, delim, kinds, isNull, value, nullLead, maxNull } = this;
    let pos = from;
    let taken = 0;
    while (pos < to) {
      const o0 = this.o;
      let o = o0;
      let i = pos;
      let c = 0;
      let end = -1;
      let fail = b[pos] === LF; // a blank line is the string path's to count
      let unfinished = false;
      if (!fail) out[o++] = 0x5b; // [
      while (!fail) {
        const kind = kinds[c];
        let j = i;
        let x = 0;
        let done = false;
        // Integers and text, the common cells, are scanned, checked and copied in one pass here; any
        // other cell, and any of these that may be null, padded or need an escape, goes to `cell`.
        if (kind === Kind.Integer) {
          // `-?[1-9]\d{0,14}` or `0`, ended by the delimiter or LF.
          const neg = b[j] === 45;
          if (neg) j++;
          const s = j;
          let n = 0;
          while (j < to) {
            x = b[j];
            const d = x - 48;
            if (d < 0 || d > 9) break;
            n = n * 10 + d;
            j++;
          }
          const len = j - s;
          if (j < to && (x === delim || x === LF) && len > 0 && len <= 15 && (b[s] !== 48 || len === 1) && !(neg && n === 0) && !(j - i <= maxNull && nullLead[b[i]] === 1)) {
            if (neg) out[o++] = 45;
            for (let k = s; k < j; k++) out[o++] = b[k];
            value[c] = neg ? -n : n;
            isNull[c] = 0;
            done = true;
          }
        } else if (kind === Kind.Text) {
          // Copied as it is, unless it needs an escape, is padded, or may be a null value.
          const o1 = o;
          let plain = true;
          out[o++] = 0x22;
          while (j < to) {
            x = b[j];
            if (x === delim || x === LF) break;
            if (x < 32 || x === 0x5c) plain = false;
            out[o++] = x;
            j++;
          }
          const len = j - i;
          if (j < to && plain && len > 0) {
            const c0 = b[i];
            const cl = b[j - 1];
            if (c0 > 32 && cl > 32 && !(c0 >= 0x80 && SPACE_LEAD[c0] === 1) && !(cl >= 0x80 && endsInSpace(b, i, j)) && !(len <= maxNull && nullLead[c0] === 1)) {
              out[o++] = 0x22;
              isNull[c] = 0;
              done = true;
            }
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
        break;
      }
      if (fail || c !== width || end - pos > this.maxFieldBytes) {
        this.o = o0;
        // Declined, if the line ends before `to`; otherwise it is not ours to finish yet.
        if (end === -1) {
          while (i < to && b[i] !== LF) i++;
          if (i >= to) break;
        }
        this.declined = true;
        break;
      }
      out[o++] = 0x5d; // ]
      out[o++] = LF;
      this.o = o;
      this.commit();
      taken++;
      pos = end + 1;
    }
    this.taken = taken;
    this.pending += taken;
    this.host.rowsIn += taken;
    this.host.rowsOut += taken;
    return pos;
  }

  private commit(): void {
    const { isNull, order, value } = this;
    for (let c = 0; c < this.width; c++) {
      if (isNull[c] === 1) this.nullCount[c]++;
      else if (order[c] === Order.Number) {
        const v = value[c];
        if (v < this.min[c]) this.min[c] = v;
        if (v > this.max[c]) this.max[c] = v;
      } else if (order[c] === Order.String) {
        const t = this.text[c]!;
        if (this.textMin[c] === undefined || t < this.textMin[c]!) this.textMin[c] = t;
        if (this.textMax[c] === undefined || t > this.textMax[c]!) this.textMax[c] = t;
      }
    }
  }

  /**
   * Cell c, bytes b[a, z), written at o: the new end, or -1 when the line must be declined. Null
   * values and padding are decided here; decimals and dates are typed from their bytes; the rest
   * (text and integers that `lines` did not take, booleans, datetimes) by the string path.
   */
  private cell(b: Buffer, a: number, z: number, c: number, o: number): number {
    const len = z - a;
    if (len === 0) {
      if (!this.emptyIsNull) return this.byString(b, a, z, c, o);
      return this.writeNull(c, o);
    }
    const c0 = b[a];
    const cl = b[z - 1];
    // Padding (the string path trims it, or sees a null value under it), or a non-ASCII space.
    if (c0 <= 32 || cl <= 32 || (c0 >= 0x80 && SPACE_LEAD[c0] === 1) || (cl >= 0x80 && endsInSpace(b, a, z))) return this.byString(b, a, z, c, o);
    if (len <= this.maxNull && this.nullLead[c0] === 1 && this.isNullValue(b, a, len)) return this.writeNull(c, o);
    this.isNull[c] = 0;
    switch (this.kinds[c]) {
      case Kind.DecimalDot:
      case Kind.DecimalComma:
        return this.decimal(b, a, z, c, o, this.kinds[c] === Kind.DecimalDot ? 46 : 44);
      case Kind.Date:
        return this.date(b, a, z, c, o);
      default:
        return this.byString(b, a, z, c, o);
    }
  }

  /**
   * `-?\d+([sep]\d+)?`, at most 15 digits, no leading zero: the same double as the string path
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
    const intEnd = i;
    let digits = intEnd - intStart;
    if (digits === 0 || (b[intStart] === 48 && digits > 1)) return this.byString(b, a, z, c, o);
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
    } else if (z - a > 15) return this.byString(b, a, z, c, o); // long digit strings are identifiers: the string path's rule
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
    this.value[c] = neg ? -v : v;
    if (neg) out[o++] = 45;
    for (let k = intStart; k < intEnd; k++) out[o++] = b[k];
    if (frac && fe > fracStart) {
      out[o++] = 46;
      for (let k = fracStart; k < fe; k++) out[o++] = b[k];
    }
    return o;
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
    out[o++] = 0x22;
    for (let k = yAt; k < yAt + 4; k++) out[o++] = b[k];
    out[o++] = 45;
    out[o++] = 48 + ((m / 10) | 0);
    out[o++] = 48 + (m % 10);
    out[o++] = 45;
    out[o++] = 48 + ((d / 10) | 0);
    out[o++] = 48 + (d % 10);
    out[o++] = 0x22;
    this.value[c] = y * 10000 + m * 100 + d;
    return o;
  }

  private writeNull(c: number, o: number): number {
    if (this.required[c] === 1) return -1; // the string path rejects the line
    this.isNull[c] = 1;
    NULL_BYTES.copy(this.out, o);
    return o + 4;
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
    const v = this.host.typeCell(b.toString('utf8', a, z), c);
    if (v === INVALID || v === MISSING) return -1;
    if (v === null) {
      this.isNull[c] = 1;
      NULL_BYTES.copy(this.out, o);
      return o + 4;
    }
    this.isNull[c] = 0;
    const json = JSON.stringify(v);
    if (o + 3 * json.length + this.reserve > this.out.length) {
      this.o = o;
      this.room(3 * json.length + this.reserve);
    }
    o += this.out.write(json, o);
    if (typeof v === 'number') this.value[c] = v;
    else if (typeof v === 'string') {
      if (this.kinds[c] === Kind.Date) this.value[c] = +v.slice(0, 4) * 10000 + +v.slice(5, 7) * 100 + +v.slice(8, 10);
      else this.text[c] = v;
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
    default:
      return Kind.Other;
  }
}

/** Whether the last character of b[a, z) (non-ASCII) may be a space String.prototype.trim removes. */
function endsInSpace(b: Buffer, a: number, z: number): boolean {
  let k = z - 1;
  while (k > a && (b[k] & 0xc0) === 0x80) k--;
  return SPACE_LEAD[b[k]] === 1;
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

function isoOfKey(k: number): string {
  const y = Math.floor(k / 10000);
  const m = Math.floor(k / 100) % 100;
  const d = k % 100;
  return `${String(y).padStart(4, '0')}-${m < 10 ? '0' : ''}${m}-${d < 10 ? '0' : ''}${d}`;
}

export type { Cell };
