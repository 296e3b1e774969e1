import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { repoRoot } from '../../test/kit.js';
import { SCHEMA_FILE, schemaText } from '../../dev/schema.js';
import { decodeNdjson, encodeNdjson } from './ndjson.js';
import { loadConfig } from '../runtime/config.js';
import { transformCsv, transformOptionsFrom, type DatasetEvent } from '../csv/clean.js';

async function* csv(text: string) {
  yield Buffer.from(text);
}

test('the published JSON Schema is up to date (npm run schema) and validates real header and trailer lines', async () => {
  assert.equal(readFileSync(join(repoRoot, SCHEMA_FILE), 'utf8'), schemaText());
  const schema = JSON.parse(schemaText());
  const ajv = new Ajv2020({ strict: false });
  const lines: string[] = [];
  for await (const s of encodeNdjson(transformCsv(csv('a;b\n1;x\n2;y\n'), transformOptionsFrom(loadConfig({}), { kind: 'adhoc', name: 'a.csv' })))) lines.push(...s.trimEnd().split('\n'));
  assert.ok(ajv.validate(schema.$defs.header, JSON.parse(lines[0])), ajv.errorsText());
  assert.ok(ajv.validate(schema.$defs.trailer, JSON.parse(lines.at(-1)!)), ajv.errorsText());
});

test('NDJSON round trip: encode then decode gives the same events; a stream cut before its trailer is an error', async () => {
  const opts = transformOptionsFrom(loadConfig({}), { kind: 'adhoc', name: 'a.csv' }, { maxRejectRatio: 1 });
  const events: DatasetEvent[] = [];
  for await (const e of transformCsv(csv('id,v\n1,a\n2\n3,"c\nd"\n'), opts)) events.push(e);
  const text: string[] = [];
  for await (const s of encodeNdjson((async function* () { yield* events; })())) text.push(s);
  const back: DatasetEvent[] = [];
  for await (const e of decodeNdjson((async function* () { for (const t of text) yield Buffer.from(t); })())) back.push(e);
  const rows = (es: DatasetEvent[]) => es.flatMap((e) => (e.kind === 'rows' ? e.rows : []));
  assert.deepEqual(rows(back), rows(events));
  assert.deepEqual(back.filter((e) => e.kind === 'reject'), events.filter((e) => e.kind === 'reject'));
  const cut = text.join('').split('\n').slice(0, -2).join('\n') + '\n';
  await assert.rejects(async () => {
    for await (const _ of decodeNdjson((async function* () { yield Buffer.from(cut); })())) void _;
  }, /ended early/);
});
