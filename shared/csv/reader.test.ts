/**
 * Terminators, and the reader's rewind: with `hold`, the head's bytes are kept so that a sink set later reads the
 * records again from one of the first two, with the line count and blank lines as they were there;
 * past `holdBytes` the reader lets go and a rewind is refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { readCsv, Terminators, type CsvRecord, type LineSink, type ReadRoute, type ReadStats } from './reader.js';

const limits = { maxFieldBytes: 1 << 20, maxRecordBytes: 1 << 20, maxColumns: 100, delimiter: ',' as const, batchBytes: 16 };

async function* pieces(text: string, size = 7): AsyncGenerator<Buffer> {
  const b = Buffer.from(text);
  for (let at = 0; at < b.length; at += size) yield b.subarray(at, at + size);
}

/** A sink that takes no line (it declines each whole one): every record comes to `record`, as the reader reads it. */
function recordingSink(): LineSink & { records: CsvRecord[] } {
  const records: CsvRecord[] = [];
  const sink = {
    records,
    taken: 0,
    declined: false,
    lines(b: Buffer, from: number, to: number) {
      const nl = b.indexOf(10, from);
      sink.declined = nl !== -1 && nl < to;
      return from;
    },
    record: (rec: CsvRecord) => void records.push(rec),
  };
  return sink;
}

/** Every record of a plain read, and its stats. */
async function plainRead(text: string): Promise<{ records: CsvRecord[]; stats: ReadStats }> {
  const stats: ReadStats = { bytesIn: 0, blankLines: 0 };
  const records: CsvRecord[] = [];
  for await (const batch of readCsv(pieces(text), limits, stats)) records.push(...batch);
  return { records, stats };
}

const rows = Array.from({ length: 60 }, (_, i) => (i % 9 === 4 ? `${i},"multi\nline ${i}"` : i % 7 === 3 ? `${i},x\n` : `${i},row ${i}`));
const text = `\nid,name\n\n${rows.join('\r\n')}\n`;

test('rewind: the sink reads again from the first record after the header, lines and blank lines as a plain read counts them', async () => {
  const plain = await plainRead(text);
  const stats: ReadStats = { bytesIn: 0, blankLines: 0 };
  const route: ReadRoute = { hold: true };
  const reader = readCsv(pieces(text), limits, stats, route);
  const head: CsvRecord[] = [];
  while (head.length < 20) head.push(...(await reader.next()).value as CsvRecord[]);
  const sink = recordingSink();
  assert.equal(route.rewind!(head[5].line, sink), false, 'only one of the first two records');
  assert.equal(route.sink, undefined);
  assert.equal(route.rewind!(head[1].line, sink), true);
  assert.equal(route.hold, false);
  assert.equal(route.rewind, undefined, 'a rewind happens once');
  for (let n = await reader.next(); !n.done; n = await reader.next()) assert.deepEqual(n.value, [], 'records go to the sink');
  assert.deepEqual(sink.records, plain.records.slice(1));
  assert.deepEqual(stats, plain.stats);
});

test('rewind: after the last records were read (the head held the whole file), the sink still gets them; a problem after them is met in its place', async () => {
  const broken = `${text}61,"never closed\n`;
  const route: ReadRoute = { hold: true };
  const reader = readCsv(pieces(broken, 1 << 16), { ...limits, batchBytes: 1 << 20 }, undefined, route);
  const first = (await reader.next()).value as CsvRecord[];
  assert.equal(first.length, 61, 'the header and every whole record, in the last scan');
  const sink = recordingSink();
  assert.equal(route.rewind!(first[0].line, sink), true, 'from the header itself');
  await assert.rejects(async () => {
    for (let n = await reader.next(); !n.done; n = await reader.next());
  }, /never closed/);
  assert.deepEqual(sink.records, first);
});

test('hold: past holdBytes the reader lets go of the head, and a rewind is no longer offered', async () => {
  const long = `id,name\n${Array.from({ length: 20_000 }, (_, i) => `${i},row ${i}`).join('\n')}\n`;
  const route: ReadRoute = { hold: true };
  const reader = readCsv(pieces(long, 1 << 16), { ...limits, holdBytes: 100 * 1024 }, undefined, route);
  let records = ((await reader.next()).value as CsvRecord[]).length;
  assert.equal(typeof route.rewind, 'function', 'held while the head is below holdBytes');
  while (route.hold) {
    const n = await reader.next();
    if (n.done) break;
    records += n.value.length;
  }
  assert.equal(route.hold, false);
  assert.equal(route.rewind, undefined);
  assert.ok(records > 1000 && records < 10_000, `let go in the head (${records} records read)`);
});

/** The terminators rule, one character at a time: outside quotes CRLF and a bare CR become LF; inside quotes they stay. */
function terminatorsByHand(text: string): string {
  let out = '';
  let inQuotes = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') inQuotes = !inQuotes;
    if (ch !== '\r' || inQuotes) out += ch;
    else {
      out += '\n';
      if (text[i + 1] === '\n') i++;
    }
  }
  return out;
}

test('terminators: CRLF and bare CRs outside quotes become LF, inside quotes they stay, however the bytes are cut', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom('a', 'é', ',', '"', '\r', '\n', '\r\n', 'xyz'), { maxLength: 60 }), fc.array(fc.nat(), { maxLength: 8 }), (parts, cuts) => {
      const bytes = Buffer.from(parts.join(''));
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const t = new Terminators();
      const out: Buffer[] = [];
      let last = 0;
      for (const p of [...points, bytes.length]) {
        out.push(Buffer.from(t.push(bytes.subarray(last, p), p === bytes.length)));
        last = p;
      }
      assert.equal(Buffer.concat(out).toString(), terminatorsByHand(parts.join('')));
    }),
    { numRuns: 2000 },
  );
});
