import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { csvDefaults } from './config.js';
import { loadSchemaFile, schemaFor } from './pinned-schema.js';
import { transformCsv, transformOptionsFrom, type DatasetEvent } from './clean.js';

const dir = mkdtempSync(join(tmpdir(), 'schema-'));
const file = join(dir, 'schemas.json');
writeFileSync(
  file,
  JSON.stringify({
    schemas: [
      { prefix: 'sales/', columns: [{ name: 'cliente_id', source: 'ID Cliente', type: 'text', required: true }, { name: 'valor', type: 'decimal' }] },
      { prefix: 'sales/daily/', columns: [{ name: 'data', type: 'date', required: true }] },
    ],
  }),
);

async function run(csv: string, key: string) {
  const schemas = loadSchemaFile(file);
  const events: DatasetEvent[] = [];
  const opts = transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: key }, { schema: schemaFor(key, schemas), maxRejectRatio: 1 });
  async function* body() {
    yield Buffer.from(csv);
  }
  for await (const e of transformCsv(body(), opts)) events.push(e);
  return events;
}

test('the longest prefix wins', () => {
  const schemas = loadSchemaFile(file);
  assert.equal(schemaFor('sales/daily/x.csv', schemas)?.prefix, 'sales/daily/');
  assert.equal(schemaFor('sales/x.csv', schemas)?.prefix, 'sales/');
  assert.equal(schemaFor('other/x.csv', schemas), undefined);
});

test('pinned names and types override inference; the header says which were pinned', async () => {
  const events = await run('ID Cliente,Valor,obs\n001,10,a\n002,12,b\n', 'sales/x.csv');
  const header = events[0].kind === 'header' ? events[0].header : undefined!;
  assert.deepEqual(header.schema.columns.map((c) => [c.name, c.type, c.origin, c.nullable]), [
    ['cliente_id', 'text', 'pinned', false],
    ['valor', 'decimal', 'pinned', true],
    ['obs', 'text', 'inferred', true],
  ]);
  const rows = events.flatMap((e) => (e.kind === 'rows' ? e.rows : []));
  assert.deepEqual(rows, [
    ['001', 10, 'a'],
    ['002', 12, 'b'],
  ]);
});

test('a missing required column fails the file; a missing required value rejects the row', async () => {
  await assert.rejects(run('Valor\n1\n', 'sales/x.csv'), /requires column "ID Cliente"/);
  const events = await run('ID Cliente,Valor\n,5\n7,6\n', 'sales/x.csv');
  const rejects = events.flatMap((e) => (e.kind === 'reject' ? [e.reject] : []));
  assert.deepEqual(rejects.map((r) => [r.line, r.column, r.reason]), [[2, 'cliente_id', 'required value is missing']]);
});

test('a malformed schema file is reported with the bad field', () => {
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ schemas: [{ prefix: 'x/', columns: [{ name: 'a', type: 'number' }] }] }));
  assert.throws(() => loadSchemaFile(join(dir, 'bad.json')), /schemas\.0\.columns\.0\.type/);
});
