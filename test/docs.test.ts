import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { README, withConfigTable } from '../dev/docs.js';
import { MANIFEST_SCHEMA_FILE, manifestSchemaText, SCHEMA_FILE, schemaText } from '../dev/schema.js';
import { transformCsv, transformOptionsFrom } from '../shared/csv/clean.js';
import { csvDefaults } from '../shared/csv/config.js';
import { encodeNdjson } from '../shared/dataset/ndjson.js';
import { repoRoot } from './kit.js';

async function* csv(text: string) {
  yield Buffer.from(text);
}


test('the README configuration table is the one generated from the config spec (npm run docs)', () => {
  const readme = readFileSync(README, 'utf8');
  assert.equal(readme, withConfigTable(readme), 'run `npm run docs` and commit README.md');
});

test('the published JSON Schema is up to date (npm run schema) and validates real header and trailer lines', async () => {
  assert.equal(readFileSync(join(repoRoot, SCHEMA_FILE), 'utf8'), schemaText());
  const schema = JSON.parse(schemaText());
  const ajv = new Ajv2020({ strict: false });
  const lines: string[] = [];
  for await (const s of encodeNdjson(transformCsv(csv('a;b\n1;x\n2;y\n'), transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: 'a.csv' })))) lines.push(...String(s).trimEnd().split('\n'));
  assert.ok(ajv.validate(schema.$defs.header, JSON.parse(lines[0])), ajv.errorsText());
  assert.ok(ajv.validate(schema.$defs.trailer, JSON.parse(lines.at(-1)!)), ajv.errorsText());
});


test('the manifest\'s JSON Schema is up to date (npm run schema) and is the one the lifecycle validates with', () => {
  assert.equal(readFileSync(join(repoRoot, MANIFEST_SCHEMA_FILE), 'utf8'), manifestSchemaText());
  const schema = JSON.parse(manifestSchemaText());
  const ajv = new Ajv2020({ strict: false });
  const good = { manifestVersion: 1, id: 'x', status: 'partial', partial: 'powerbi-push: 3 rows not sent', source: { kind: 'object', bucket: 'incoming', key: 'a.csv' }, stats: { rowsIn: 3, rowsOut: 3, rowsRejected: 0, blankLines: 0, bytesIn: 10, durationMs: 1, columns: {}, rejectReasons: {} }, sinks: { 'powerbi-push': { reason: 'refused', rowsNotSent: 3 } } };
  assert.ok(ajv.validate(schema, good), ajv.errorsText());
  assert.ok(!ajv.validate(schema, { ...good, status: 'already-published' }), 'one vocabulary: no other status');
});
