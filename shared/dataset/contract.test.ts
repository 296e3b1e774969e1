import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeNdjson, encodeNdjson } from './ndjson.js';
import { csvDefaults } from '../csv/config.js';
import { transformCsv, transformOptionsFrom, type DatasetEvent } from '../csv/clean.js';

async function* csv(text: string) {
  yield Buffer.from(text);
}

test('NDJSON round trip: encode then decode gives the same events; a stream cut before its trailer is an error', async () => {
  const opts = transformOptionsFrom(csvDefaults(), { kind: 'adhoc', name: 'a.csv' }, { maxRejectRatio: 1 });
  const events: DatasetEvent[] = [];
  for await (const e of transformCsv(csv('id,v\n1,a\n2\n3,"c\nd"\n'), opts)) events.push(e);
  const text: string[] = [];
  for await (const s of encodeNdjson((async function* () { yield* events; })())) text.push(String(s));
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
