import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { inferColumn, INVALID, isCalendarDate, isDateTime, parseDate, parseDateTime, parseDecimal, parserFor, simpleDecimal } from './types.js';

test('integers, and leading-zero codes stay text', () => {
  assert.equal(inferColumn(['1', '-2', '300']).type, 'integer');
  assert.equal(inferColumn(['001101', '04538', '12345']).type, 'text');
  assert.equal(inferColumn(['9007199254740993']).type, 'text');
});

test('decimal separator decided per column', () => {
  assert.deepEqual(inferColumn(['150.0', '200.5', '90']), { type: 'decimal', decimalSeparator: '.' });
  assert.deepEqual(inferColumn(['1.234,56', '6375,63', '0,5']), { type: 'decimal', decimalSeparator: ',' });
  assert.deepEqual(inferColumn(['1,5', '2,25', '3'], { decimal: ',' }), { type: 'decimal', decimalSeparator: ',' });
  const dot = parserFor({ type: 'decimal', decimalSeparator: '.' });
  assert.equal(dot('1,234.5'), 1234.5);
  assert.equal(dot('6375,63'), INVALID, 'a decimal comma in a decimal-point column is rejected, not misread');
  assert.equal(parseDecimal('1.234,56', ','), 1234.56);
  assert.equal(parseDecimal('-0,5', ','), -0.5);
});

test('booleans in several languages', () => {
  assert.equal(inferColumn(['sim', 'não', 'Sim']).type, 'boolean');
  assert.equal(inferColumn(['true', 'FALSE']).type, 'boolean');
  assert.equal(inferColumn(['0', '1', '1']).type, 'integer', '0/1 stays integer');
});

test('dates: ISO and day/month resolved per column', () => {
  assert.deepEqual(inferColumn(['2026-01-31', '2025-12-01']).type, 'date');
  const dmy = inferColumn(['31/01/2026', '05/02/2026']);
  assert.equal(dmy.dateOrder, 'dmy');
  const mdy = inferColumn(['01/31/2026', '02/05/2026']);
  assert.equal(mdy.dateOrder, 'mdy');
  assert.match(inferColumn(['01/02/2026', '03/04/2026']).format ?? '', /assumed/);
  assert.equal(parseDate('31/02/2026', 'dmy'), INVALID);
  assert.equal(parseDate('29/02/2024', 'dmy'), '2024-02-29');
});

test('datetimes become ISO 8601 UTC', () => {
  assert.equal(parseDateTime('2026-11-03T14:25:41.107Z', 'dmy'), '2026-11-03T14:25:41.107Z');
  assert.equal(parseDateTime('2026-11-03 14:25', 'dmy'), '2026-11-03T14:25:00.000Z');
  assert.equal(parseDateTime('2026-11-03T14:25:00-03:00', 'dmy'), '2026-11-03T17:25:00.000Z');
  assert.equal(parseDateTime('03/11/2026 14:25:41', 'dmy'), '2026-11-03T14:25:41.000Z');
  assert.equal(inferColumn(['03/11/2026 14:25', '13/11/2026 08:00:01']).type, 'datetime');
});

test('mostly-typed columns keep their type; the odd value is left for the rejects', () => {
  const values = Array.from({ length: 99 }, (_, i) => String(i + 1));
  values.push('abc');
  assert.equal(inferColumn(values).type, 'integer');
  assert.equal(inferColumn(['a', 'b', '1']).type, 'text');
});

test('a column that a few values kept as text says which type it fell back from, and why', () => {
  const t = inferColumn(['1.5', '2.5', 'abc', '4.0', '5.5']);
  assert.equal(t.type, 'text');
  assert.deepEqual(t.fellBackFrom, { type: 'decimal', odd: 1, of: 5, examples: ['abc'] });
  assert.equal(inferColumn(['São Paulo', 'Recife', 'Belém']).fellBackFrom, undefined, 'a text column is just text');
  // At the edge: half of the values read as integers is still a note; fewer than half is not.
  assert.deepEqual(inferColumn(['1', '2', 'a', 'b']).fellBackFrom, { type: 'integer', odd: 2, of: 4, examples: ['a', 'b'] });
  assert.equal(inferColumn(['1', 'a', 'b']).fellBackFrom, undefined);
  assert.deepEqual(inferColumn(['x', '2024-01-02', 'y', '2024-01-03']).fellBackFrom, { type: 'date', odd: 2, of: 4, examples: ['x', 'y'] });
});

test('simpleDecimal: the same double as Number() for every decimal it takes, NaN for the rest', () => {
  fc.assert(
    fc.property(fc.boolean(), fc.stringMatching(/^\d{0,16}$/), fc.option(fc.stringMatching(/^\d{0,16}$/)), (neg, int, frac) => {
      const s = `${neg ? '-' : ''}${int}${frac === null ? '' : `.${frac}`}`;
      const v = simpleDecimal(s);
      const digits = int.length + (frac ?? '').length;
      if (int.length >= 1 && (frac === null || frac.length >= 1) && digits <= 15) assert.ok(Object.is(v, Number(s)), s);
      else assert.ok(Number.isNaN(v), s);
    }),
    { numRuns: 5000 },
  );
  for (const s of ['+5', '5.', '.5', '1e5', '1,5', ' 1', '']) assert.ok(Number.isNaN(simpleDecimal(s)), s);
});

test('parseDate by hand reads every string as the regex version did', () => {
  // The regex version it replaced, as the oracle.
  const ISO = /^(\d{4})-(\d{2})-(\d{2})$/;
  const SLASH = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/;
  const leap = (y: number, m: number, d: number) => m >= 1 && m <= 12 && d >= 1 && d <= [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
  const iso = (y: number, m: number, d: number) => (leap(y, m, d) ? `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}` : INVALID);
  const oracle = (s: string, order: 'dmy' | 'mdy') => {
    let m = ISO.exec(s);
    if (m) return iso(+m[1], +m[2], +m[3]);
    m = SLASH.exec(s);
    if (!m) return INVALID;
    return order === 'dmy' ? iso(+m[3], +m[2], +m[1]) : iso(+m[3], +m[1], +m[2]);
  };
  const piece = fc.constantFrom('0', '1', '2', '3', '9', '12', '29', '31', '2024', '1900', '2000', '/', '.', '-', ' ', 'a', '٣');
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 7 }), fc.constantFrom('dmy' as const, 'mdy' as const), (parts, order) => {
      const s = parts.join('');
      assert.equal(parseDate(s, order), oracle(s, order), s);
    }),
    { numRuns: 20000 },
  );
  for (const s of ['2024-02-29', '2023-02-29', '31/12/2026', '1.2.2026', '1/2-2026', '12/31/2026', '0000-01-01', '2026-13-01'])
    for (const order of ['dmy', 'mdy'] as const) assert.equal(parseDate(s, order), oracle(s, order), s);
});

/** parseDateTime as it was, every ISO value through a Date: the oracle of the one without. */
function dateTimeByDate(s: string, order: 'dmy' | 'mdy'): unknown {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const isoDate = (y: number, mo: number, d: number) => {
    const days = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    return mo >= 1 && mo <= 12 && d >= 1 && d <= days[mo - 1] ? `${pad(y, 4)}-${pad(mo)}-${pad(d)}` : INVALID;
  };
  let m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (m) {
    const date = isoDate(+m[1], +m[2], +m[3]);
    if (date === INVALID || +m[4] > 23 || +m[5] > 59 || +(m[6] ?? 0) > 59) return INVALID;
    const frac = m[7] ? m[7].slice(0, 4).padEnd(4, '0') : '.000';
    let zone = m[8] ?? 'Z';
    if (zone !== 'Z' && !zone.includes(':')) zone = zone.slice(0, 3) + ':' + zone.slice(3);
    const d = new Date(`${date}T${m[4]}:${m[5]}:${m[6] ?? '00'}${frac}${zone}`);
    return Number.isNaN(d.getTime()) ? INVALID : d.toISOString();
  }
  m = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(s);
  if (!m) return INVALID;
  const date = order === 'dmy' ? isoDate(+m[3], +m[2], +m[1]) : isoDate(+m[3], +m[1], +m[2]);
  if (date === INVALID || +m[4] > 23 || +m[5] > 59 || +(m[6] ?? 0) > 59) return INVALID;
  return `${date}T${pad(+m[4])}:${m[5]}:${m[6] ?? '00'}.000Z`;
}

test('parseDateTime without a Date for UTC values, and isDateTime, answer as through a Date: offsets, ranges, both orders', () => {
  const two = (n: number) => String(n).padStart(2, '0');
  const iso = fc
    .tuple(fc.constantFrom(0, 1, 1999, 2024, 9999), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }), fc.option(fc.integer({ min: 0, max: 61 })), fc.option(fc.stringMatching(/^[0-9]{1,10}$/)), fc.constantFrom('', 'Z', '+', '-', '+00:00'), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }), fc.boolean(), fc.constantFrom('T', ' ', 't'))
    .map(([y, mo, d, h, mi, s, f, z, oh, om, colon, t]) => `${String(y).padStart(4, '0')}-${two(mo)}-${two(d)}${t}${two(h)}:${two(mi)}${s === null ? '' : `:${two(s)}${f === null ? '' : `.${f}`}`}${z === '+' || z === '-' ? `${z}${two(oh)}${colon ? ':' : ''}${two(om)}` : z}`);
  const slash = fc
    .tuple(fc.integer({ min: 0, max: 33 }), fc.integer({ min: 0, max: 33 }), fc.constantFrom(2000, 2023, 2024, 999), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }), fc.option(fc.integer({ min: 0, max: 61 })), fc.constantFrom('/', '.', '-', ':'), fc.constantFrom(' ', 'T', '_'))
    .map(([a, b, y, h, mi, s, sep, t]) => `${a}${sep}${b}${sep}${y}${t}${h}:${two(mi)}${s === null ? '' : `:${two(s)}`}`);
  fc.assert(
    fc.property(fc.oneof(iso, slash, fc.string()), fc.constantFrom('dmy' as const, 'mdy' as const), (s, order) => {
      const expected = dateTimeByDate(s, order);
      assert.equal(parseDateTime(s, order), expected, s);
      assert.equal(isDateTime(s, order), expected !== INVALID, s);
    }),
    { numRuns: 20000 },
  );
});

test('isCalendarDate agrees with Date on every day, month and year from 0 to 2500 (and on what is not one)', () => {
  const wrong: string[] = [];
  for (let y = 0; y <= 2500; y++) {
    for (let m = -1; m <= 14; m++) {
      for (let d = -1; d <= 33; d++) {
        const t = new Date(0);
        t.setUTCFullYear(y, m - 1, d);
        const real = t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
        if (isCalendarDate(y, m, d) !== real) wrong.push(`${y}-${m}-${d}`);
      }
    }
  }
  assert.deepEqual(wrong.slice(0, 5), []);
});
