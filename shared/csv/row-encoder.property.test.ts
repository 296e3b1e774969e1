/**
 * Property: the typed path (rows typed from their bytes straight into NDJSON, RowEncoder) writes
 * exactly the bytes the string path writes (records → typed rows → JSON.stringify), rejects,
 * trailer statistics and problems included. The files mix every column type with the cells that
 * take the encoder off its fast path: padding, null values, escapes, non-ASCII spaces, signs,
 * leading zeros, long digits, tiny decimals, impossible dates, quoted cells, ragged and blank
 * lines, CRLF; sometimes with a pinned schema that requires a column. The sample is small, so most
 * lines go through the encoder, in parse slices of any size.
 *
 * The same files written as clean CSV (the typed path's `csv` output) give exactly the lines
 * `csvLine(row, escapeFormulas)` writes for the string path's rows, with and without formula
 * escaping, in the same order among the rejects, with the same trailer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { csvDefaults } from './config.js';
import { transformCsv, transformCsvEncoded, transformOptionsFrom, type DatasetEvent, type EncodedCsvRows } from './clean.js';
import { encodeNdjson } from '../dataset/ndjson.js';
import { Problem } from '../runtime/problem.js';
import { csvLine } from './writer.js';

const two = (n: number) => String(n).padStart(2, '0');
/**
 * Datetimes of every form parseDateTime accepts, and near misses: ISO with `T` or a space, with
 * or without seconds and a fraction of 1–9 digits, no zone, `Z`, `±hh:mm` or `±hhmm` (offsets
 * up to 25:61, across midnight, month and year ends, out of years 0000–9999); `d/m/yyyy h:mm[:ss]`
 * with 1–2 digit parts, any separators, `T` or a space; hours, minutes, seconds and days out of range.
 */
const dateTime: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(
      fc.oneof(fc.integer({ min: 1899, max: 2101 }), fc.constantFrom(0, 1, 9999)),
      fc.integer({ min: 1, max: 13 }),
      fc.integer({ min: 1, max: 32 }),
      fc.integer({ min: 0, max: 24 }),
      fc.integer({ min: 0, max: 60 }),
      fc.option(fc.integer({ min: 0, max: 60 })),
      fc.option(fc.stringMatching(/^[0-9]{1,10}$/)),
      fc.oneof(fc.constant(''), fc.constant('Z'), fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }), fc.boolean()).map(([sg, h, m, colon]) => `${sg}${two(h)}${colon ? ':' : ''}${two(m)}`)),
      fc.constantFrom('T', ' '),
    )
    .map(([y, mo, d, h, mi, s, f, zone, t]) => `${String(y).padStart(4, '0')}-${two(mo)}-${two(d)}${t}${two(h)}:${two(mi)}${s === null ? '' : `:${two(s)}${f === null ? '' : `.${f}`}`}${zone}`),
  fc
    .tuple(fc.integer({ min: 1, max: 32 }), fc.integer({ min: 1, max: 32 }), fc.integer({ min: 1950, max: 2040 }), fc.integer({ min: 0, max: 24 }), fc.integer({ min: 0, max: 60 }), fc.option(fc.integer({ min: 0, max: 60 })), fc.constantFrom('/', '.', '-'), fc.constantFrom('/', '.', '-'), fc.constantFrom(' ', 'T'), fc.boolean())
    .map(([a, b, y, h, mi, s, s1, s2, t, pad]) => `${pad ? two(a) : a}${s1}${pad ? two(b) : b}${s2}${y}${t}${pad ? two(h) : h}:${two(mi)}${s === null ? '' : `:${two(s)}`}`),
  fc.constantFrom('2024-01-02T03:04:05.', '2024-01-02T03:04:5', '2024-01-02T3:04', '2024-01-02T03:04:05+2', '2024-01-02T03:04:05z', '2024-01-02T03:04.5', '2024-01-02T03:04:05+02:00Z', '1/2/2024 3:4', '1/2/2024 03:04:5', '1/2/24 03:04', '2024-01-02', '0000-01-01T00:30+01:00', '0000-01-01 01:00+0100', '9999-12-31T23:30-01:00', '9999-12-31T22:59:59.999-01:00', '2024-02-29T23:59:59.9999999-00:01', '2023-12-31T23:00-23:59'),
);
/** Text a spreadsheet would run as a formula (clean CSV escapes it with `'`), near misses, and text clean CSV quotes (commas). */
const formulaLike = ['=1+1', '+x', '-x', '@x', '=', "'=x", "''+1", "'x", "'", 'a=b', 'x-', '=SUM(A1:A2)', '@', '-', '+', 'a,b', '=a,b', '-1,5', "'@,x", 'a;b', 'a|b'];
/** An integer with its thousands grouped by sep. */
const group = (i: number, sep: string) => (i < 0 ? '-' : '') + String(Math.abs(i)).replace(/\B(?=(\d{3})+(?!\d))/g, sep);
/** A cell as a quoted field, its quotes doubled. */
const quoted = (v: string) => `"${v.replaceAll('"', '""')}"`;

const valid: Record<string, fc.Arbitrary<string>> = {
  integer: fc.integer({ min: -1e6, max: 1e12 }).map(String),
  decimalDot: fc.tuple(fc.integer({ min: -99999, max: 99999 }), fc.nat({ max: 9999 }), fc.nat({ max: 4 })).map(([i, f, z]) => `${i}.${String(f).padStart(z, '0')}`),
  decimalComma: fc.tuple(fc.integer({ min: -99999999, max: 99999999 }), fc.nat({ max: 999 }), fc.boolean()).map(([i, f, g]) => `${g ? group(i, '.') : i},${f}`),
  decimalDotGrouped: fc.tuple(fc.integer({ min: -99999999, max: 99999999 }), fc.nat({ max: 99 })).map(([i, f]) => `${group(i, ',')}.${f}`),
  dateIso: fc.date({ min: new Date('1900-01-01'), max: new Date('2099-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
  dateDmy: fc.tuple(fc.integer({ min: 1, max: 31 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1950, max: 2040 }), fc.constantFrom('/', '.', '-'), fc.boolean()).map(([d, m, y, s, pad]) => `${pad ? String(d).padStart(2, '0') : d}${s}${pad ? String(m).padStart(2, '0') : m}${s}${y}`),
  text: fc.constantFrom('Solteiro', 'Viúvo', 'São Paulo', 'x', 'M', 'Ωmega', 'naïve café', '日本', 'a b', 'emoji 🎉', ...formulaLike),
  boolean: fc.constantFrom('true', 'false', 'sim', 'não', 'yes', 'no', 'TRUE', 'False', 'Sim', 'Não', 'NÃO', 'nAo', 'S', 'n', 'Verdadeiro', 'FAUX'),
  datetime: dateTime,
};
const wild = fc.constantFrom(
  '', ' ', ' 12 ', '\t7', '12 ', 'NA', 'null', 'N/A', '#N/A', ' NA ', 'n/a', '\u00a0', '\u00a012', '12\u3000', '\u2028', 'x\u00a0',
  '+3', '-0', '-0.0', '0.0', '007', '00.5', '0.5', '.5', '5.', '0.000001', '0.0000001', '-0.00000012', '1e5', '1E-3',
  '1,234.5', '1.234,5', '1.234.567,89', '1234.567,8', '1234,567.8', '0.123.456,7', '-12.34,5', '1.23,5', '12.345.6,7', '0.123,4', '1.2345,6', '-1.234,5', '1.234.', '1..234', '1,234', '1.234', '123.456.789.012.345,6', '1,234,567.000', '123456789012345', '1234567890123456', '-123456789012345', '9007199254740993', '12345678901.2345', '1234567890.12345',
  '2024-02-30', '2024-02-29', '2023-02-29', '31/12/2024', '12/31/2024', '1/1/2024', '2024-1-1', '31.12.2024', '29/02/2023',
  'abc', 'é', 'a\\b', 'x\ty', 'ctl\u0001', '—', 'true', 'não', '"q,x"', '"a ""b"""', '"multi\nline"', '"1,5"',
  // Quotes the encoder must leave to papaparse, or read exactly as it does.
  'ab"c', '"abc" ', '"a"b', ' "x"', '""', '""""', '" NA "', '"NA"', '"-"', '"a\rb"', '"a\r\nb"', '"x"""', '"""x', '"\u00a0"', '"é""ü"', '"a""\\b"', '"',
  // Formula-looking text, quoted, with quotes or commas, padded: escaped and quoted in clean CSV.
  '"=1+1"', '"=a,""b"""', '"+x"""', '" -x"', '\t=x', '"\t@x"', '"\r=x"', '"@x""y"', `"'=x"`, '"a,b,c"', '" a,b"', '"a""b"', '"-1.5"', '"@"', '"=x\ny"',
);

const kinds = Object.keys(valid);

const file = fc
  .tuple(fc.array(fc.constantFrom(...kinds), { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 40 }))
  .chain(([cols, n]) =>
    fc.tuple(
      fc.constant(cols),
      fc.array(
        fc.tuple(
          fc.tuple(...cols.map((k) => fc.tuple(fc.oneof({ weight: 6, arbitrary: valid[k] }, { weight: 1, arbitrary: wild }), fc.nat({ max: 4 })).map(([v, q]) => (q === 0 ? quoted(v) : v)))),
          fc.constantFrom('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'short', 'long', 'blank', 'crlf'),
        ),
        { minLength: n, maxLength: n },
      ),
    ),
  )
  .chain(([cols, rows]) => fc.tuple(fc.constant(cols), fc.constant(rows), fc.constantFrom(',', ';', '\t', '|')))
  .map(([cols, rows, delimiter]) => {
    let text = cols.map((k, i) => `${k}_${i}`).join(delimiter) + '\n';
    for (const [cells, shape] of rows) {
      const c = [...cells];
      if (shape === 'short') c.pop();
      if (shape === 'long') c.push('extra');
      if (shape === 'blank') text += '\n';
      text += c.join(delimiter) + (shape === 'crlf' ? '\r\n' : '\n');
    }
    return { cols, text, delimiter: delimiter as ',' | ';' | '\t' | '|' };
  });

type Options = ReturnType<typeof transformOptionsFrom>;

/** The text's bytes in uneven pieces, so that characters and lines straddle them. */
async function* slices(text: string): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += 37) yield bytes.subarray(at, at + 37);
}

/** What a run wrote, its times left out; a problem thrown before the header, in words. */
async function written(write: (out: string[]) => Promise<void>): Promise<string> {
  const out: string[] = [];
  try {
    await write(out);
  } catch (err) {
    if (err instanceof Problem) return `problem ${err.status} ${err.detail}`;
    throw err;
  }
  return out.join('').replace(/"startedAt":"[^"]*"/, '').replace(/"durationMs":\d+/, '');
}

async function ndjson(encoded: boolean, text: string, opts: Options): Promise<string> {
  return written(async (out) => {
    const events = encoded ? transformCsvEncoded(slices(text), opts) : transformCsv(slices(text), opts);
    for await (const s of encodeNdjson(events)) out.push(String(s));
  });
}

/**
 * The clean CSV answer's rows: the typed path's `csv` bytes, or csvLine of each string-path row;
 * the header, rejects and trailer between them as JSON lines (so their order is held too).
 */
async function cleanCsv(encoded: boolean, text: string, opts: Options, escapeFormulas: boolean): Promise<string> {
  return written(async (out) => {
    const events: AsyncGenerator<DatasetEvent | EncodedCsvRows> = encoded ? transformCsvEncoded(slices(text), opts, { format: 'csv', escapeFormulas }) : transformCsv(slices(text), opts);
    for await (const e of events) {
      if (e.kind === 'encoded-csv') out.push(e.csv.toString());
      else if (e.kind === 'rows') for (const r of e.rows) out.push(csvLine(r, escapeFormulas));
      else out.push(JSON.stringify(e) + '\n');
    }
  });
}

/**
 * Options for a generated file: a small sample, any slice size, maybe a required column, maybe odd
 * null values; the sample read again from its bytes, or from its records when the reader lets go
 * of the bytes first (a small `holdBytes`: the slices are 37 bytes, so anywhere in the head).
 */
function fileOptions(cols: string[], delimiter: Options['delimiter'], sampleRows: number, batchBytes: number, requiredCol: number | null, oddNulls: boolean, holdBytes?: number): Options {
  const schema = requiredCol === null || requiredCol >= cols.length ? undefined : { prefix: '', columns: [{ name: `${cols[requiredCol]}_${requiredCol}`, required: true }] };
  const opts = transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: 'p.csv' }, { maxRejectRatio: 1, sampleRows, batchBytes, schema, delimiter, holdBytes });
  // Null values that look like numbers or start with a non-ASCII character.
  if (oddNulls) opts.nullValues = ['', '-', '0', '-1', 'não', '\u00a0', 'NA'];
  return opts;
}

/** The reader's hold: the default (the sample read again from its bytes), or let go of somewhere in the head. */
const holdBytes: fc.Arbitrary<number | undefined> = fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 20, max: 400 }) });

test('typed path: the same NDJSON bytes as the string path, for any mix of cells, slices and schemas', async () => {
  await fc.assert(
    fc.asyncProperty(file, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 8, max: 300 }), fc.option(fc.nat({ max: 4 })), fc.boolean(), holdBytes, async ({ cols, text, delimiter }, sampleRows, batchBytes, requiredCol, oddNulls, hold) => {
      const opts = fileOptions(cols, delimiter, sampleRows, batchBytes, requiredCol, oddNulls, hold);
      const want = await ndjson(false, text, opts);
      const got = await ndjson(true, text, opts);
      assert.equal(got, want);
    }),
    { numRuns: 400 },
  );
});

test('typed path, clean CSV: the lines csvLine writes for the string path’s rows, with and without formula escaping', async () => {
  await fc.assert(
    fc.asyncProperty(file, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 8, max: 300 }), fc.option(fc.nat({ max: 4 })), fc.boolean(), fc.boolean(), holdBytes, async ({ cols, text, delimiter }, sampleRows, batchBytes, requiredCol, oddNulls, escapeFormulas, hold) => {
      const opts = fileOptions(cols, delimiter, sampleRows, batchBytes, requiredCol, oddNulls, hold);
      assert.equal(await cleanCsv(true, text, opts, escapeFormulas), await cleanCsv(false, text, opts, escapeFormulas));
    }),
    { numRuns: 400 },
  );
});

test('typed path: a bench-shaped file (seed columns, ~2% messy rows) gives the string path’s bytes (NDJSON and clean CSV)', async () => {
  const lines = ['id_cliente,idade,genero,estado_civil,renda_mensal,valor_medio_compra,churn'];
  for (let i = 0; i < 3000; i++) {
    const civil = i % 97 === 0 ? '"Casado, com filhos"' : i % 89 === 0 ? ` \tViúvo ` : ['Solteiro', 'Casado', 'Viúvo'][i % 3];
    const valor = i % 83 === 0 ? `"${i},3"` : ((i * 37) % 800 + 0.1 * (i % 10)).toFixed(1);
    lines.push(`${1001 + i},${18 + (i % 60)},${i % 2 ? 'M' : 'F'},${civil},${i % 79 === 0 ? '' : 1500 + ((i * 7919) % 20000)},${valor},${i % 5 === 0 ? 1 : 0}${i % 71 === 0 ? '\r' : ''}`);
  }
  const opts = transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: 'b.csv' }, { maxRejectRatio: 1, sampleRows: 100 });
  const text = lines.join('\n') + '\n';
  const got = await ndjson(true, text, opts);
  assert.equal(got, await ndjson(false, text, opts));
  assert.ok(got.split('\n').filter((l) => l.startsWith('[')).length > 2900);
  assert.equal(await cleanCsv(true, text, opts, true), await cleanCsv(false, text, opts, true));
});

test('typed path: lines longer than what the encoder takes at once (256 KiB) still give the string path’s bytes (NDJSON and clean CSV)', async () => {
  const long = 'x'.repeat(300 * 1024);
  const lines = ['id,name,n'];
  for (let i = 0; i < 2000; i++) lines.push(i === 700 ? `${i},${long},1` : i === 1400 ? `${i},${long}é${long},2` : `${i},name ${i},${i % 7}`);
  const opts = transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: 'l.csv' }, { maxRejectRatio: 1, sampleRows: 10 });
  const text = lines.join('\n') + '\n';
  const got = await ndjson(true, text, opts);
  assert.equal(got, await ndjson(false, text, opts));
  assert.ok(got.includes(`[1400,"${long}é${long}",2]`));
  assert.equal(await cleanCsv(true, text, opts, true), await cleanCsv(false, text, opts, true));
});

test('typed path: datetimes of every form, in either day order, give the string path’s bytes (NDJSON and clean CSV)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(dateTime, dateTime, fc.nat({ max: 5 })), { minLength: 1, maxLength: 120 }), fc.boolean(), fc.integer({ min: 8, max: 300 }), fc.boolean(), async (rows, mdy, batchBytes, escapeFormulas) => {
      // The first record decides the columns: datetimes, day first or month first.
      const first = mdy ? '12/31/2024 10:00,1/13/2024 0:00' : '31/12/2024 10:00,13/1/2024 0:00';
      const text = 't,u\n' + first + '\n' + rows.map(([a, b, q]) => (q === 0 ? `${quoted(a)},${b}` : `${a},${b}`)).join('\n') + '\n';
      const opts = transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: 'd.csv' }, { maxRejectRatio: 1, sampleRows: 1, batchBytes });
      const got = await ndjson(true, text, opts);
      assert.match(got, /"type":"datetime".*"type":"datetime"/);
      assert.equal(got, await ndjson(false, text, opts));
      assert.equal(await cleanCsv(true, text, opts, escapeFormulas), await cleanCsv(false, text, opts, escapeFormulas));
    }),
    { numRuns: 200 },
  );
});

test('typed path: a cell whose layout would run into the next (an empty cell before a date under tabs, a group separator that is the delimiter) is read as the string path reads it', async () => {
  // Each odd line has one field too many (the string path rejects it as ragged) where a cell's
  // end found from a layout would swallow a delimiter and make the count right: under tabs, an
  // empty date or datetime cell before one (the string path would trim the tab); under commas,
  // `1,234.5` (two cells, not a grouped decimal).
  const tabbed = ['d\tt\tn\tx', ...Array.from({ length: 20 }, (_, i) => (i % 2 ? (i % 4 === 1 ? `\t1/2/2024\t02/03/2024 10:30\t1.5\tb` : `01/02/2024\t\t12/05/2024 1:30\t1.5\tb`) : `0${(i % 9) + 1}/02/2024\t02/03/2024 10:3${i % 10}\t${i}.25\tb`))];
  const commas = ['a,b,c', ...Array.from({ length: 20 }, (_, i) => (i % 2 ? `1,1,234.5,y` : `${i},-1000.5,x`))];
  for (const [text, delimiter] of [[tabbed.join('\n') + '\n', '\t'], [commas.join('\n') + '\n', ',']] as const) {
    const opts = transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: 't.csv' }, { maxRejectRatio: 1, sampleRows: 1, batchBytes: 64, delimiter });
    const got = await ndjson(true, text, opts);
    assert.equal(got, await ndjson(false, text, opts));
    assert.equal(got.split('\n').filter((l) => l.startsWith('[')).length, 10, 'the ragged lines are rejected, the others typed');
    assert.equal(await cleanCsv(true, text, opts, false), await cleanCsv(false, text, opts, false));
  }
});

test('typed path: the records before a quote that never closes are kept on both paths (a literal quote before them put them in the same papaparse region)', async () => {
  // The first 32 bytes hold the header and the sample; the lines from `2,ab"c,z` on are first
  // parsed in the last slice, where papaparse meets the unclosed quote.
  const text = 'a,b,c\n1,x,y\n0,p,q\n7,r,s\n2,ab"c,z\n3,u,v\n4,"never closed\n';
  const opts = transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: 'u.csv' }, { maxRejectRatio: 1, sampleRows: 1, batchBytes: 32 });
  const got = await ndjson(true, text, opts);
  assert.equal(got, await ndjson(false, text, opts));
  assert.equal(await cleanCsv(true, text, opts, false), await cleanCsv(false, text, opts, false));
  assert.match(got, /\[2,"ab\\"c","z"\]\n\[3,"u","v"\]\n/);
  assert.match(got, /opened at line 7 is never closed/);
});

test('typed path: each value that moves a column’s min or max is seen, also when only its fraction does (decimals within the same whole number, either sign)', async () => {
  // The encoder works a decimal's value out only when its whole part could move the min or max:
  // the last two lines move them by their fractions alone (5.7 → 5.75, -5.7 → -5.75), in both
  // separators' columns.
  const steps = ['5.5', '5.7', '5.3', '-5.5', '-5.7', '0.75', '-0.25', '5.75', '-5.75'];
  const text = ['v,w,t', ...steps.map((v, i) => `${v},"${v.replace('.', ',')}",${i}`)].join('\n') + '\n';
  const opts = transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: 'm.csv' }, { maxRejectRatio: 1, sampleRows: 2, batchBytes: 64 });
  const got = await ndjson(true, text, opts);
  assert.equal(got, await ndjson(false, text, opts));
  const trailer = got.trimEnd().split('\n').at(-1)!;
  assert.equal(trailer.match(/"min":-5.75,"max":5.75/g)?.length, 2, `both columns: min -5.75, max 5.75 (${trailer})`);
});

test('typed path: a quoted text that reads as a null value with a quote in it is null on both paths', async () => {
  const text = 'id,note\n1,plain\n2,"say ""hi"""\n3,"n""a"\n4,"x, y"\n';
  const opts = transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: 'q.csv' }, { maxRejectRatio: 1, sampleRows: 1, batchBytes: 16 });
  opts.nullValues = ['', 'n"a'];
  const got = await ndjson(true, text, opts);
  assert.equal(got, await ndjson(false, text, opts));
  assert.match(got, /\[3,null\]/);
  assert.match(got, /\[2,"say \\"hi\\""\]/);
  assert.equal(await cleanCsv(true, text, opts, false), await cleanCsv(false, text, opts, false));
});
