/**
 * Column typing: infer a type per column from a sample, then parse every cell with the
 * chosen column parser. Decisions are per column, never per cell: a decimal-comma column
 * reads `1.234,56`; a decimal-point column rejects it.
 */
import type { Cell, ColumnType } from '../dataset/contract.js';

export const INVALID: unique symbol = Symbol('invalid');
export type Parsed = Cell | typeof INVALID;

export interface ColumnTyping {
  type: ColumnType;
  decimalSeparator?: '.' | ',';
  /** Date order for slash/dot dates: `dmy` or `mdy`; `assumed` when the sample could not tell. */
  dateOrder?: 'dmy' | 'mdy';
  format?: string;
  /**
   * A text column that most values would have typed otherwise: the type it fell back from, and
   * the values that kept it text (how many, and the first few).
   */
  fellBackFrom?: { type: ColumnType; odd: number; of: number; examples: string[] };
}

const INT = /^[+-]?(0|[1-9]\d*)$/;
const DEC_DOT = /^[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][+-]?\d+)?$/;
const DEC_COMMA = /^[+-]?(\d{1,3}(\.\d{3})+|\d+)?(,\d+)?$/;
// Unambiguous forms (decide the separator of a column).
const ONLY_DOT = /^[+-]?(\d{1,3}(,\d{3})+\.\d+|\d*\.\d+|\d+\.\d{1,2}|\d+\.\d{4,}|\d+[eE][+-]?\d+|\d*\.\d+[eE][+-]?\d+)$/;
const ONLY_COMMA = /^[+-]?(\d{1,3}(\.\d{3})+,\d+|\d*,\d{1,2}|\d*,\d{4,}|\d{4,},\d+|0,\d+)$/;
const SLASH_DATE = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/;
const SLASH_DATETIME = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$/;
/** The words a boolean column reads (case-insensitive). */
export const TRUE: ReadonlySet<string> = new Set(['true', 'sim', 'yes', 'verdadeiro', 'vrai', 'y', 's']);
export const FALSE: ReadonlySet<string> = new Set(['false', 'não', 'nao', 'no', 'falso', 'faux', 'n']);

/** Whether y-m-d is a day of the proleptic Gregorian calendar (months of 31 days: 1, 3, 5, 7, 8, 10, 12). */
export function isCalendarDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1) return false;
  if (m === 2) return d <= (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28);
  return d <= 30 + ((m + (m >> 3)) & 1);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function isoDate(y: number, m: number, d: number): string | typeof INVALID {
  return isCalendarDate(y, m, d) ? `${pad(y, 4)}-${pad(m)}-${pad(d)}` : INVALID;
}

export function parseInteger(s: string): Parsed {
  // Hot path: a charCode loop instead of a regex (no allocation, no backtracking).
  const len = s.length;
  if (len === 0 || len > 16) return INVALID;
  let i = 0;
  let neg = false;
  const c0 = s.charCodeAt(0);
  if (c0 === 45 || c0 === 43) {
    neg = c0 === 45;
    i = 1;
    if (len === 1) return INVALID;
  }
  if (s.charCodeAt(i) === 48 && len > i + 1) return INVALID; // leading zero: a code, not a number
  let n = 0;
  for (; i < len; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return INVALID;
    n = n * 10 + d;
  }
  if (!Number.isSafeInteger(n)) return INVALID;
  return neg ? -n : n;
}

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/**
 * `-?\d+(\.\d+)?` with at most 15 digits in all, by hand, as its number: the common decimal without
 * a regex or `Number()` per cell. Exact: the digits as an integer are below 2^53 and 10^k is exact,
 * so one division is the correctly rounded value, the same double as `Number(s)` (types.test.ts).
 * NaN when the text is not of that form.
 */
export function simpleDecimal(s: string): number {
  const len = s.length;
  const neg = s.charCodeAt(0) === 45;
  let i = neg ? 1 : 0;
  let n = 0;
  let digits = 0;
  while (i < len) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
    i++;
    digits++;
  }
  if (digits === 0) return NaN;
  let frac = 0;
  if (i < len) {
    if (s.charCodeAt(i) !== 46 || ++i === len) return NaN;
    while (i < len) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return NaN;
      n = n * 10 + d;
      i++;
      frac++;
    }
    digits += frac;
  }
  if (digits > 15) return NaN;
  const v = frac ? n / POW10[frac] : n;
  return neg ? -v : v;
}

export function parseDecimal(s: string, sep: '.' | ','): Parsed {
  if (s.length > 15 && /^[+-]?\d+$/.test(s)) return INVALID; // long digit strings are identifiers
  if (sep === '.') {
    const quick = simpleDecimal(s);
    if (quick === quick) return quick; // not NaN; the rest (grouping, exponents, long digits) by regex
    if (!DEC_DOT.test(s) || !/\d/.test(s)) return INVALID;
    const n = Number(s.replace(/,/g, ''));
    return Number.isFinite(n) ? n : INVALID;
  }
  if (!DEC_COMMA.test(s) || !/\d/.test(s)) return INVALID;
  const n = Number(s.replace(/\./g, '').replace(',', '.'));
  return Number.isFinite(n) ? n : INVALID;
}

export function parseBoolean(s: string): Parsed {
  const l = s.toLowerCase();
  if (TRUE.has(l)) return true;
  if (FALSE.has(l)) return false;
  return INVALID;
}

/** The value of s[from, to) when it is all ASCII digits, else -1. */
function digits(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

const isDateSeparator = (c: number) => c === 47 || c === 46 || c === 45; // / . -
const two = (n: number) => (n < 10 ? '0' + n : '' + n);

/**
 * `yyyy-mm-dd`, or `d/m/yyyy` in the column's order (1–2 digit day and month, separators / . -),
 * as ISO `yyyy-mm-dd`; INVALID for anything else or a day the calendar lacks. By hand, without a
 * regex, `+m[i]` or `padStart` per cell; the regex version is its oracle in types.test.ts.
 */
export function parseDate(s: string, order: 'dmy' | 'mdy'): Parsed {
  const len = s.length;
  if (len === 10 && s.charCodeAt(4) === 45 && s.charCodeAt(7) === 45) {
    const y = digits(s, 0, 4);
    const m = digits(s, 5, 7);
    const d = digits(s, 8, 10);
    // A valid ISO date is its own ISO form.
    if (y >= 0 && m >= 0 && d >= 0) return isCalendarDate(y, m, d) ? s : INVALID;
  }
  if (len < 8 || len > 10) return INVALID;
  // a sep b sep yyyy, a and b of 1 or 2 digits.
  const s1 = isDateSeparator(s.charCodeAt(1)) ? 1 : isDateSeparator(s.charCodeAt(2)) ? 2 : -1;
  if (s1 === -1) return INVALID;
  const s2 = isDateSeparator(s.charCodeAt(s1 + 2)) ? s1 + 2 : isDateSeparator(s.charCodeAt(s1 + 3)) ? s1 + 3 : -1;
  if (s2 === -1 || len - s2 - 1 !== 4) return INVALID;
  const a = digits(s, 0, s1);
  const b = digits(s, s1 + 1, s2);
  const y = digits(s, s2 + 1, len);
  if (a < 0 || b < 0 || y < 0) return INVALID;
  const [d, m] = order === 'dmy' ? [a, b] : [b, a];
  return isCalendarDate(y, m, d) ? `${s.slice(s2 + 1)}-${two(m)}-${two(d)}` : INVALID;
}

/** isoZoneAt's answers that are not a zone's index. */
const NOT_ISO = -2;
const OUT_OF_RANGE = -1;

/**
 * `yyyy-mm-dd[T ]hh:mm[:ss[.f{1,9}]][Z|±hh[:]mm]` read by hand (types.test.ts holds it to
 * the regex it replaced): where its zone starts (s.length when it has none), OUT_OF_RANGE when its date, time
 * or zone is not one `new Date` reads (an offset's hours above 23 or minutes above 59), NOT_ISO when
 * it is not of that form. No regex, array or number per value: inference asks it of every sample value.
 */
function isoZoneAt(s: string): number {
  const len = s.length;
  if (len < 16 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(13) !== 58) return NOT_ISO;
  const t = s.charCodeAt(10);
  if (t !== 84 && t !== 32) return NOT_ISO;
  const y = digits(s, 0, 4);
  const m = digits(s, 5, 7);
  const d = digits(s, 8, 10);
  const h = digits(s, 11, 13);
  const mi = digits(s, 14, 16);
  if (y < 0 || m < 0 || d < 0 || h < 0 || mi < 0) return NOT_ISO;
  let i = 16;
  let sec = 0;
  if (i < len && s.charCodeAt(i) === 58) {
    sec = i + 3 <= len ? digits(s, i + 1, i + 3) : -1;
    if (sec < 0) return NOT_ISO;
    i += 3;
    if (i < len && s.charCodeAt(i) === 46) {
      let k = i + 1;
      while (k < len && s.charCodeAt(k) >= 48 && s.charCodeAt(k) <= 57) k++;
      if (k - i - 1 < 1 || k - i - 1 > 9) return NOT_ISO;
      i = k;
    }
  }
  const zoneAt = i;
  let zoneOk = true;
  if (i < len) {
    const z = s.charCodeAt(i);
    if (z === 90 && i + 1 === len) i++;
    else if ((z === 43 || z === 45) && (len - i === 6 ? s.charCodeAt(i + 3) === 58 : len - i === 5)) {
      const oh = digits(s, i + 1, i + 3);
      const om = digits(s, len - 2, len);
      if (oh < 0 || om < 0) return NOT_ISO;
      zoneOk = oh <= 23 && om <= 59;
      i = len;
    }
    if (i !== len) return NOT_ISO;
  }
  return zoneOk && isCalendarDate(y, m, d) && h <= 23 && mi <= 59 && sec <= 59 ? zoneAt : OUT_OF_RANGE;
}

/** The slash form's match when its date (in the column's order) and time are in range, else null. */
function slashDateTimeMatch(s: string, order: 'dmy' | 'mdy'): { m: RegExpExecArray; date: string } | null {
  const m = SLASH_DATETIME.exec(s);
  if (!m) return null;
  const date = order === 'dmy' ? isoDate(+m[3], +m[2], +m[1]) : isoDate(+m[3], +m[1], +m[2]);
  if (date === INVALID || +m[4] > 23 || +m[5] > 59 || +(m[6] ?? 0) > 59) return null;
  return { m, date };
}

/** Datetimes become ISO 8601 in UTC (`Z`); a time without an offset is taken as UTC. */
export function parseDateTime(s: string, order: 'dmy' | 'mdy'): Parsed {
  const zoneAt = isoZoneAt(s);
  if (zoneAt === OUT_OF_RANGE) return INVALID;
  if (zoneAt >= 0) {
    const seconds = zoneAt >= 19 ? s.slice(17, 19) : '00';
    const frac = zoneAt > 20 ? s.slice(19, Math.min(zoneAt, 23)).padEnd(4, '0') : '.000';
    const local = `${s.slice(0, 10)}T${s.slice(11, 16)}:${seconds}${frac}`;
    // In UTC already (a four-digit year): its ISO string is its own parts, no Date needed.
    if (zoneAt === s.length || s.charCodeAt(zoneAt) === 90) return local + 'Z';
    const zone = s.length - zoneAt === 6 ? s.slice(zoneAt) : `${s.slice(zoneAt, zoneAt + 3)}:${s.slice(zoneAt + 3)}`;
    const d = new Date(local + zone);
    return Number.isNaN(d.getTime()) ? INVALID : d.toISOString();
  }
  const slash = slashDateTimeMatch(s, order);
  if (!slash) return INVALID;
  const { m, date } = slash;
  return `${date}T${pad(+m[4])}:${m[5]}:${m[6] ?? '00'}.000Z`;
}

/**
 * Whether parseDateTime reads s: the same answer without a Date or the ISO string (inference
 * asks it of every sampled value; types.test.ts holds it to parseDateTime).
 */
export function isDateTime(s: string, order: 'dmy' | 'mdy'): boolean {
  const zoneAt = isoZoneAt(s);
  if (zoneAt !== NOT_ISO) return zoneAt >= 0;
  return mayBeSlashDate(s) && slashDateTimeMatch(s, order) !== null;
}

export type CellParser = (s: string) => Parsed;

export function parserFor(t: ColumnTyping): CellParser {
  switch (t.type) {
    case 'integer':
      return parseInteger;
    case 'decimal': {
      const sep = t.decimalSeparator ?? '.';
      return (s) => parseDecimal(s, sep);
    }
    case 'boolean':
      return parseBoolean;
    case 'date': {
      const order = t.dateOrder ?? 'dmy';
      return (s) => parseDate(s, order);
    }
    case 'datetime': {
      const order = t.dateOrder ?? 'dmy';
      return (s) => parseDateTime(s, order);
    }
    case 'text':
      return (s) => s;
  }
}

export interface InferOptions {
  /** File-wide decimal separator override. */
  decimal?: '.' | ',';
  /** Share of non-null sample values a type must read to be chosen (the rest are rejected). */
  threshold?: number;
}

/** Day/month order of a column from its values: a first part > 12 means dmy, a second part > 12 means mdy. */
function dateOrderOf(values: string[]): { order: 'dmy' | 'mdy'; assumed: boolean; conflict: boolean } {
  let dmy = false;
  let mdy = false;
  for (const v of values) {
    if (!mayBeSlashDate(v)) continue;
    const m = SLASH_DATE.exec(v) ?? SLASH_DATETIME.exec(v);
    if (!m) continue;
    if (+m[1] > 12) dmy = true;
    if (+m[2] > 12) mdy = true;
  }
  if (dmy && mdy) return { order: 'dmy', assumed: false, conflict: true };
  if (mdy) return { order: 'mdy', assumed: false, conflict: false };
  return { order: 'dmy', assumed: !dmy, conflict: false };
}

/** A gate before the slash regexes (`^\d{1,2}[/.-]`): a separator second or third. */
const mayBeSlashDate = (v: string) => isDateSeparator(v.charCodeAt(1)) || isDateSeparator(v.charCodeAt(2));
/** A gate before ONLY_DOT and ONLY_COMMA: they start with a sign, a digit, `.` or `,`. */
const mayBeNumber = (v: string) => {
  const c = v.charCodeAt(0);
  return (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46 || c === 44;
};
/** A gate before the leading-zero regex (`^[+-]?0\d+$`). */
const mayLeadWithZero = (v: string) => {
  const c = v.charCodeAt(0);
  return c === 48 || ((c === 43 || c === 45) && v.charCodeAt(1) === 48);
};
const LEADING_ZERO = /^[+-]?0\d+$/;
/**
 * A test of one value with its column's setting (a separator, a day order): whether a type reads
 * it. These and the counts below are module functions, not closures made for each column: V8
 * holds a function's optimised code weakly, so a closure made per column lost it at the next full
 * collection and was compiled again for every file (transform: ~4 compilations a file, ~1.4 ms
 * each on a background thread, and the interpreter until then).
 */
type ValueTest<A> = (s: string, arg: A) => boolean;
const readsBoolean: ValueTest<void> = (s) => parseBoolean(s) !== INVALID;
const readsInteger: ValueTest<void> = (s) => parseInteger(s) !== INVALID;
const readsDecimal: ValueTest<'.' | ','> = (s, sep) => parseDecimal(s, sep) !== INVALID;
const readsDate: ValueTest<'dmy' | 'mdy'> = (s, order) => parseDate(s, order) !== INVALID;
const readsDateTime: ValueTest<'dmy' | 'mdy'> = (s, order) => isDateTime(s, order);

/**
 * How many values `test` reads, or any number below `need` once too many have failed (a type is
 * chosen only when it reads `need` of them; a wide file's text columns fail fast).
 */
function countReads<A>(values: string[], need: number, test: ValueTest<A>, arg: A): number {
  let ok = 0;
  let failed = 0;
  for (const v of values) {
    if (test(v, arg)) ok++;
    else if (++failed > values.length - need) return ok;
  }
  return ok;
}

/**
 * The values `test` rejects, unless they are more than half of them (then undefined: too many
 * for the text fallback's note, so counting stops there).
 */
function oddValues<A>(values: string[], test: ValueTest<A>, arg: A): string[] | undefined {
  const odd: string[] = [];
  for (const v of values) {
    if (test(v, arg)) continue;
    odd.push(v);
    if (odd.length > values.length / 2) return undefined;
  }
  return odd;
}

/** How many values are digits with a leading zero (`^[+-]?0\d+$`). */
function leadingZeros(values: string[]): number {
  let n = 0;
  for (const v of values) if (mayLeadWithZero(v) && LEADING_ZERO.test(v)) n++;
  return n;
}

/** Whether more than half the values cannot start a number (stops counting there). */
function mostAreNotNumbers(values: string[]): boolean {
  let not = 0;
  for (const v of values) if (!mayBeNumber(v) && ++not > values.length / 2) return true;
  return false;
}

/** Whether any value is in a slash layout (`pattern`, behind its cheap gate). */
function anySlashed(values: string[], pattern: RegExp): boolean {
  for (const v of values) if (mayBeSlashDate(v) && pattern.test(v)) return true;
  return false;
}

/** Whether any value is other than y, n or s (a column of only those is text, not booleans). */
function anyBeyondYns(values: string[]): boolean {
  for (const v of values) if (!YNS.test(v)) return true;
  return false;
}
const YNS = /^[yns]$/i;

/**
 * The separator a decimal column reads, by a vote of its unambiguous values: only asked when the
 * values read as decimals with one separator or the other (a date or text column pays no vote).
 * (Every ONLY_COMMA form has a comma: a value without one is not asked.)
 */
function separatorVote(values: string[]): '.' | ',' {
  let dot = 0;
  let comma = 0;
  for (const v of values) {
    if (!mayBeNumber(v)) continue;
    if (v.indexOf(',') !== -1 && ONLY_COMMA.test(v)) comma++;
    else if (ONLY_DOT.test(v)) dot++;
  }
  return comma > dot ? ',' : '.';
}

/**
 * The separator of a decimal column (`need` of the values read with it), or undefined. With a
 * file-wide separator, that one; else the column must read with `.` or `,`, and then with the
 * separator its values vote for (each separator counted once).
 */
function decimalSeparatorOf(values: string[], need: number, fixed?: '.' | ','): '.' | ',' | undefined {
  if (fixed) return countReads(values, need, readsDecimal, fixed) >= need ? fixed : undefined;
  const dot = countReads(values, need, readsDecimal, '.') >= need;
  const comma = dot ? undefined : countReads(values, need, readsDecimal, ',') >= need;
  if (!dot && !comma) return undefined;
  const sep = separatorVote(values);
  const reads = sep === '.' ? dot : (comma ?? countReads(values, need, readsDecimal, ',') >= need);
  return reads ? sep : undefined;
}

/** A slash layout's format, saying when the day-first order was assumed. */
const dayFirstNote = (format: string, assumed: boolean) => (assumed ? `${format} (day first assumed: no day above 12 in the sample)` : format);

/** Infer a column's type from its non-null sample values. */
export function inferColumn(values: string[], opts: InferOptions = {}): ColumnTyping {
  if (values.length === 0) return { type: 'text' };
  const threshold = opts.threshold ?? 0.95;
  const need = Math.ceil(values.length * threshold);
  // Leading-zero codes (CEP, ZIP, 001101) stay text: they are identifiers, not numbers.
  if (leadingZeros(values) > values.length - need) return { type: 'text' };

  if (countReads(values, need, readsBoolean, undefined) >= need && anyBeyondYns(values)) return { type: 'boolean' };
  if (countReads(values, need, readsInteger, undefined) >= need) return { type: 'integer' };
  const sep = decimalSeparatorOf(values, need, opts.decimal);
  if (sep) return { type: 'decimal', decimalSeparator: sep };

  const { order, assumed } = dateOrderOf(values);
  if (countReads(values, need, readsDate, order) >= need) {
    const format = anySlashed(values, SLASH_DATE) ? dayFirstNote(order === 'dmy' ? 'dd/mm/yyyy' : 'mm/dd/yyyy', assumed) : 'yyyy-mm-dd';
    return { type: 'date', dateOrder: order, format };
  }
  if (countReads(values, need, readsDateTime, order) >= need) {
    const format = anySlashed(values, SLASH_DATETIME) ? dayFirstNote(order === 'dmy' ? 'dd/mm/yyyy hh:mm[:ss]' : 'mm/dd/yyyy hh:mm[:ss]', assumed) : 'ISO 8601';
    return { type: 'datetime', dateOrder: order, format };
  }
  return textFallback(values, order, opts.decimal);
}

/**
 * Text after all: say so when most values were of one type and a few kept it text. Each type is
 * asked in turn (the decimal one after the separator's vote); every candidate reads only values
 * that start as a number does: when more than half do not, none can reach the note's half, and
 * none is asked.
 */
function textFallback(values: string[], order: 'dmy' | 'mdy', decimal?: '.' | ','): ColumnTyping {
  if (mostAreNotNumbers(values)) return { type: 'text' };
  const note = (type: ColumnType, odd: string[] | undefined): ColumnTyping | undefined =>
    odd?.length ? { type: 'text', fellBackFrom: { type, odd: odd.length, of: values.length, examples: [...new Set(odd)].slice(0, 3) } } : undefined;
  return (
    note('integer', oddValues(values, readsInteger, undefined)) ??
    note('decimal', oddValues(values, readsDecimal, decimal ?? separatorVote(values))) ??
    note('date', oddValues(values, readsDate, order)) ??
    note('datetime', oddValues(values, readsDateTime, order)) ?? { type: 'text' }
  );
}
