/**
 * Hostile input: each case gets a problem (status, title, line) quickly and with bounded
 * memory, and the rest keeps working. Default limits unless a case says otherwise.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { csvDefaults } from './config.js';
import { Problem } from '../runtime/problem.js';
import { transformCsv, transformCsvEncoded, transformOptionsFrom, type DatasetEvent } from './clean.js';
import type { Row } from '../dataset/contract.js';

const config = csvDefaults();

for (const path of ['string path', 'typed path'] as const) {
/** The events of a run; the typed path's NDJSON rows read back as rows events. */
async function run(source: AsyncIterable<Buffer>, overrides = {}) {
  const events: DatasetEvent[] = [];
  const opts = transformOptionsFrom(config, { kind: 'adhoc', name: 'hostile.csv' }, overrides);
  if (path === 'string path') for await (const e of transformCsv(source, opts)) events.push(e);
  else {
    for await (const e of transformCsvEncoded(source, opts)) {
      if (e.kind !== 'encoded') events.push(e);
      else events.push({ kind: 'rows', rows: e.ndjson.toString().trimEnd().split('\n').map((l) => JSON.parse(l) as Row) });
    }
  }
  return events;
}

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p) : p;
}

/** The problem a run ends with: thrown before the header, or in the trailer after it. */
async function problemOf(source: AsyncIterable<Buffer>, overrides = {}): Promise<{ status: number; title: string; line?: number; detail?: string }> {
  try {
    const events = await run(source, overrides);
    const trailer = events.at(-1);
    assert.equal(trailer?.kind, 'trailer');
    const error = trailer.kind === 'trailer' ? trailer.trailer.error : undefined;
    assert.ok(error, 'expected the file to fail');
    return error as { status: number; title: string; line?: number };
  } catch (err) {
    assert.ok(err instanceof Problem, String(err));
    return err.toJSON() as { status: number; title: string; line?: number };
  }
}

describe(`hostile input (${path})`, () => {
  test('a 1 GB single line stops at the record limit without reading the whole thing', async () => {
    let produced = 0;
    async function* oneLine(): AsyncGenerator<Buffer> {
      yield Buffer.from('a,b\n1,');
      const block = Buffer.alloc(1 << 20, 0x78);
      for (let i = 0; i < 1024; i++) {
        produced += block.length;
        yield block;
      }
    }
    const p = await problemOf(oneLine());
    assert.equal(p.status, 422);
    assert.equal(p.title, 'Record too large');
    assert.equal(p.line, 2);
    assert.ok(produced < 80 * (1 << 20), `read ${produced} bytes before failing`);
  });

  test('a 10 MB quoted field over the field limit', async () => {
    const field = 'y'.repeat(11 * 1024 * 1024);
    const p = await problemOf(chunks('a,b\n1,2\n3,"', field, '"\n'));
    assert.equal(p.status, 422);
    assert.equal(p.title, 'Field too large');
    assert.equal(p.line, 3);
    // …and under a raised limit the same field is fine (200 KB cells are normal).
    const events = await run(chunks('a,b\n1,"', 'z'.repeat(200_000), '"\n'));
    const rows = events.flatMap((e) => (e.kind === 'rows' ? e.rows : []));
    assert.equal((rows[0][1] as string).length, 200_000);
  });

  test('100,000 columns', async () => {
    const header = Array.from({ length: 100_000 }, (_, i) => `c${i}`).join(',') + '\n';
    const p = await problemOf(chunks(header));
    assert.equal(p.status, 422);
    assert.equal(p.title, 'Too many columns');
    assert.equal(p.line, 1);
  });

  test('binary data and a zip renamed .csv', async () => {
    const bin = await problemOf(chunks(Buffer.from([0x61, 0x2c, 0x62, 0x0a, 0x00, 0x01, 0x02])));
    assert.equal(bin.status, 415);
    assert.equal(bin.line, 2);
    const zip = await problemOf(chunks(Buffer.from('PK\u0003\u0004rest-of-zip')));
    assert.equal(zip.status, 415);
    assert.match(zip.detail ?? '', /ZIP/);
  });

  test('invalid UTF-8 after the detection window, in a file declared UTF-8', async () => {
    const good = 'id,name\n' + Array.from({ length: 5000 }, (_, i) => `${i},José da Silva`).join('\n') + '\n';
    const bad = Buffer.concat([Buffer.from('5000,Jos'), Buffer.from([0xe9]), Buffer.from('\n')]);
    const p = await problemOf(chunks(good, bad), { encoding: 'utf-8' });
    assert.equal(p.status, 422);
    assert.equal(p.title, 'Invalid UTF-8');
    assert.ok(p.line && p.line >= 5000 && p.line <= 5002, `line ${p.line}`);
  });

  test('a body that stops mid-quote', async () => {
    const p = await problemOf(chunks('a,b\n1,2\n3,"never closed\n4,5\n'));
    assert.equal(p.status, 422);
    assert.equal(p.title, 'Unterminated quoted field');
    assert.equal(p.line, 3);
  });

  test('too many rejected rows fail the file; under the ceiling they are only rejected', async () => {
    const rows = Array.from({ length: 100 }, (_, i) => (i % 10 === 9 ? `${i},abc` : `${i},${i * 2}`));
    const failed = await problemOf(chunks('id,n\n' + rows.join('\n') + '\n'), { sampleRows: 5 });
    assert.equal(failed.title, 'Too many rejected rows');
    const ok = await run(chunks('id,n\n' + rows.join('\n') + '\n'), { sampleRows: 5, maxRejectRatio: 0.2 });
    const trailer = ok.at(-1)!;
    assert.equal(trailer.kind === 'trailer' && trailer.trailer.stats.rowsRejected, 10);
    assert.equal(trailer.kind === 'trailer' && trailer.trailer.error, undefined);
  });
});
}
