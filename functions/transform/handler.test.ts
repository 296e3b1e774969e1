/** transform's handler, called directly: ad-hoc CSV in, the answer negotiated by Accept, overrides by query. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Readable } from 'node:stream';
import { Problem } from '../../shared/runtime/problem.js';
import { contextOf, create, eventOf } from '../../test/unit-helpers.js';
import { transform } from './handler.js';
import { adhocOverrides, negotiate } from './requests.js';
import { readParquetWithDuckDB } from '../../test/parquet-reader.js';
import { csvLine } from '../../shared/csv/writer.js';
import type { Cell } from '../../shared/dataset/contract.js';

const INTERNAL = 'unit-internal-token-0123456';
const fn = create(transform, { S3_ENDPOINT: 'http://127.0.0.1:1', LOG_LEVEL: 'error', INTERNAL_TOKEN: INTERNAL });
after(() => fn.shutdown?.());

const text = async (body: unknown) => {
  const chunks: Buffer[] = [];
  for await (const c of body as Readable) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
};

test('negotiation: Accept decides; without it, small bodies get JSON and large ones NDJSON', () => {
  assert.equal(negotiate('text/csv', 10, 100), 'csv');
  assert.equal(negotiate('application/vnd.apache.parquet', 10, 100), 'parquet');
  assert.equal(negotiate('application/x-ndjson', 10, 100), 'ndjson');
  assert.equal(negotiate('application/json', 1000, 100), 'json');
  assert.equal(negotiate(undefined, 10, 100), 'json');
  assert.equal(negotiate(undefined, 1000, 100), 'ndjson');
  assert.equal(negotiate(undefined, undefined, 100), 'ndjson');
});

test('ad-hoc overrides: delimiter, encoding, decimal and header by query; anything else is a 400 naming it', () => {
  assert.deepEqual(adhocOverrides(new URLSearchParams('delimiter=tab&encoding=cp1252&decimal=comma&header=false')), { delimiter: '\t', encoding: 'windows-1252', decimal: ',', header: false });
  assert.throws(() => adhocOverrides(new URLSearchParams('delimiter=x')), (err) => err instanceof Problem && err.status === 400 && err.extensions.parameter === 'delimiter');
});

test('an ad-hoc CSV comes back as one JSON document with typed rows', async () => {
  const res = await fn.handle(eventOf({ body: 'a;b\n1;2,5\n', headers: { accept: 'application/json' } }), contextOf('transform'));
  assert.equal(res.status, 200);
  assert.deepEqual((res.json as { rows: unknown[] }).rows, [{ a: 1, b: 2.5 }]);
});

test('Accept: text/csv answers clean CSV; ?delimiter= overrides detection', async () => {
  const res = await fn.handle(eventOf({ body: 'x|y\n1|a\n', headers: { accept: 'text/csv' }, query: 'delimiter=|' }), contextOf('transform'));
  assert.equal(res.headers?.['content-type'], 'text/csv; charset=utf-8');
  assert.equal(await text(res.body), 'x,y\n1,a\n');
});

test('Accept: application/vnd.apache.parquet answers a Parquet file with typed columns, its counts in headers', async () => {
  const more = Array.from({ length: 30 }, (_, i) => `${i + 5};Recife;2,5;01/01/2026;sim\n`).join('');
  const body = `código;cidade;valor;dia;pago\n1;Belém;1.234,56;13/11/2026;sim\n2;São Paulo;;02/09/2026;não\n3;東京;7,5;;sim\n4;x;y;z\n${more}`;
  const res = await fn.handle(eventOf({ body, headers: { accept: 'application/vnd.apache.parquet' } }), contextOf('transform'));
  assert.equal(res.status, 200);
  assert.equal(res.headers?.['content-type'], 'application/vnd.apache.parquet');
  assert.equal(res.headers?.['x-rows'], '33');
  assert.equal(res.headers?.['x-rejected-rows'], '1');
  const chunks: Buffer[] = [];
  for await (const c of res.body as Readable) chunks.push(Buffer.from(c as Buffer));
  const got = await readParquetWithDuckDB(Buffer.concat(chunks));
  assert.deepEqual(got.columns, [
    { name: 'código', type: 'BIGINT' },
    { name: 'cidade', type: 'VARCHAR' },
    { name: 'valor', type: 'DOUBLE' },
    { name: 'dia', type: 'DATE' },
    { name: 'pago', type: 'BOOLEAN' },
  ]);
  assert.equal(got.rows.length, 33);
  assert.deepEqual(got.rows.slice(0, 4), [
    [1, 'Belém', 1234.56, '2026-11-13', true],
    [2, 'São Paulo', null, '2026-09-02', false],
    [3, '東京', 7.5, null, true],
    [5, 'Recife', 2.5, '2026-01-01', true],
  ]);
});

test('a Parquet answer of a file that fails is its problem, not a cut file', async () => {
  const res = await fn.handle(eventOf({ body: 'a,b\n1,2\n3\n4\n5\n', headers: { accept: 'application/vnd.apache.parquet' } }), contextOf('transform'));
  assert.equal(res.status, 422);
  assert.equal(res.headers?.['content-type'], 'application/problem+json');
  assert.match(String((res.json as { title: string }).title), /rejected rows/);
});

const internal = { 'content-type': 'application/json', authorization: `Bearer ${INTERNAL}` };

test('an object reference that is not JSON is a 400', async () => {
  await assert.rejects(fn.handle(eventOf({ body: '{bucket', headers: internal }), contextOf('transform')), (err) => err instanceof Problem && err.status === 400);
});

test('an object reference without the chain credential is 401; one for another bucket is 403; a bad key is 400', async () => {
  const ref = (bucket: string, key: string) => JSON.stringify({ bucket, key, etag: 'x', size: 1 });
  const rejects = (headers: Record<string, string>, body: string, status: number) =>
    assert.rejects(fn.handle(eventOf({ body, headers }), contextOf('transform')), (err) => err instanceof Problem && err.status === status);
  await rejects({ 'content-type': 'application/json' }, ref('incoming', 'a.csv'), 401);
  await rejects({ 'content-type': 'application/json', authorization: INTERNAL }, ref('incoming', 'a.csv'), 401);
  await rejects(internal, ref('processed', 'cleaned/a.csv'), 403);
  await rejects(internal, ref('incoming', '../processed/a.csv'), 400);
});

test('publishing an ad-hoc file needs the chain credential', async () => {
  await assert.rejects(fn.handle(eventOf({ body: 'a\n1\n', query: 'publish=true' }), contextOf('transform')), (err) => err instanceof Problem && err.status === 401);
});

test('typing warnings travel with the answer: a column kept text by one value, and a file with no data rows', async () => {
  const res = await fn.handle(eventOf({ body: 'produto,preco\na,1.5\nb,2.5\nc,abc\nd,4.0\ne,5.5\n', headers: { accept: 'application/json' } }), contextOf('transform'));
  const warnings = (res.json as { stats: { warnings?: string[] } }).stats.warnings ?? [];
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /column preco is text: 1 of 5 sampled values are not a decimal \(e\.g\. "abc"\)/);
  const empty = await fn.handle(eventOf({ body: 'a,b\n', headers: { accept: 'application/json' } }), contextOf('transform'));
  assert.match(((empty.json as { stats: { warnings?: string[] } }).stats.warnings ?? []).join(), /no data rows/);
});

test('an ad-hoc text/csv answer carries its counts and first reject reasons in headers', async () => {
  const good = Array.from({ length: 30 }, (_, i) => `${i + 3},Recife,2.5`).join('\n');
  const res = await fn.handle(eventOf({ body: `id,cidade,valor\n1,Belém,1.5\n2,Maceió\n${good}\n`, headers: { accept: 'text/csv' } }), contextOf('transform'));
  assert.equal(res.status, 200);
  assert.equal(res.headers?.['x-rows'], '31');
  assert.equal(res.headers?.['x-rejected-rows'], '1');
  assert.deepEqual(JSON.parse(res.headers!['x-reject-reasons']), ['line 3: expected 3 fields, found 2']);
  assert.match(res.headers!['x-reject-reasons'], /^[\x20-\x7e]*$/, 'header values stay ASCII');
  assert.ok((await text(res.body)).startsWith('id,cidade,valor\n1,Belém,1.5\n3,Recife,2.5\n'));
});

test('reject lines count the physical lines of quoted fields that span lines', async () => {
  const good = Array.from({ length: 40 }, (_, i) => `${i + 10},ok`).join('\n');
  const body = `a,b\n1,"two\nlines"\n2\n3,"three\r\nmore\nlines"\n4\n${good}\n`;
  const res = await fn.handle(eventOf({ body, headers: { accept: 'application/json' } }), contextOf('transform'));
  const rejects = (res.json as { rejects: { line: number }[] }).rejects;
  assert.deepEqual(rejects.map((r) => r.line), [4, 8]);
});

test('an ad-hoc text/csv answer past the sample (rows written from their bytes) is csvLine of the string path’s rows, in order, with its counts', async () => {
  const texts = ['=1+1', '+x', '-x', '@x', "'=x", 'Belém, PA', 'a "b"', 'plain', ''];
  const lines = ['id,nome,valor,dia,quando,pago'];
  for (let i = 0; i < 1500; i++) {
    const t = texts[i % texts.length];
    const nome = t.includes(',') || t.includes('"') || i % 7 === 0 ? `"${t.replaceAll('"', '""')}"` : t;
    const quando = i % 5 === 0 ? `0${1 + (i % 9)}/03/2024 14:2${i % 10}` : `2024-03-05T14:22:3${i % 10}.5+02:00`;
    lines.push(i === 1200 ? `${i},x` : i === 1300 ? `${i},"two\nlines",1,2024-01-01,2024-01-01T00:00Z,sim` : `${i},${nome},${i % 11 === 0 ? '' : `${i}.${i % 10}`},0${1 + (i % 9)}/02/2024,${quando},${i % 2 ? 'sim' : 'Não'}`);
  }
  const body = lines.join('\n') + '\n';
  const csv = await fn.handle(eventOf({ body, headers: { accept: 'text/csv' } }), contextOf('transform'));
  const json = await fn.handle(eventOf({ body, headers: { accept: 'application/json' } }), contextOf('transform'));
  const doc = json.json as { schema: { columns: { name: string }[] }; rows: Record<string, Cell>[]; stats: { rowsOut: number; rowsRejected: number } };
  const names = doc.schema.columns.map((c) => c.name);
  const want = csvLine(names, false) + doc.rows.map((r) => csvLine(names.map((n) => r[n]), true)).join('');
  assert.equal(csv.status, 200);
  assert.equal(await text(csv.body), want);
  assert.equal(csv.headers?.['x-rows'], String(doc.stats.rowsOut));
  assert.equal(csv.headers?.['x-rejected-rows'], String(doc.stats.rowsRejected));
  assert.equal(doc.stats.rowsRejected, 1);
  // Past the sample too: formulas escaped, commas and quotes quoted.
  assert.match(want, /\n1008,'=1\+1,1008\.8,/);
  assert.match(want, /\n1013,"Belém, PA",/);
  assert.match(want, /\n1014,"a ""b""",/);
});
