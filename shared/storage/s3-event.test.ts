import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decide, decodeEventKey, goQueryEscape, s3EventSchemas } from './s3-event.js';
import { fixturePath } from '../../test/kit.js';

const dir = fixturePath('minio-events');
const load = (f: string) => s3EventSchemas().S3EventNotification.parse(JSON.parse(readFileSync(join(dir, f), 'utf8')));
const filter = { buckets: ['incoming'], prefix: '', suffixes: ['.csv'] };

test('every MinIO event fixture parses and its Key matches bucket + decoded key', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 4);
  for (const f of files) {
    const raw = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    const ev = s3EventSchemas().S3EventNotification.parse(raw);
    const r = ev.Records[0];
    assert.equal(ev.Key, `${r.s3.bucket.name}/${decodeEventKey(r.s3.object.key)}`, f);
    assert.equal(ev.EventName, r.eventName, f);
  }
});

test('put with encoded key decodes to the real object name and is processed', () => {
  const [d] = decide(load('put-encoded-key.json'), filter);
  assert.equal(d.action, 'process');
  assert.equal(d.action === 'process' && d.ref.key, 'relatórios/novo arquivo (1).csv');
  assert.equal(d.action === 'process' && d.ref.etag, '0f3e6a1d2c4b5a69788796a5b4c3d2e1');
});

test('multipart completion is processed; delete is ignored with a reason', () => {
  const [m] = decide(load('multipart.json'), filter);
  assert.equal(m.action, 'process');
  const [del] = decide(load('delete.json'), filter);
  assert.equal(del.action, 'ignore');
  assert.match(del.action === 'ignore' ? del.reason : '', /not an object creation/);
});

test('plain {Records} (no EventName/Key, AWS-style names) is accepted', () => {
  const raw = JSON.parse(readFileSync(join(dir, 'put-simple.json'), 'utf8'));
  delete raw.EventName;
  delete raw.Key;
  raw.Records[0].eventName = 'ObjectCreated:Put';
  const [d] = decide(s3EventSchemas().S3EventNotification.parse(raw), filter);
  assert.equal(d.action, 'process');
  assert.equal(d.action === 'process' && d.ref.key, 'sales/2026-11/customers.csv');
});

test('a .png key and an unwatched bucket are ignored', () => {
  const ev = load('put-simple.json');
  ev.Records[0].s3.object.key = 'photos%2Fcat.png';
  assert.match((decide(ev, filter)[0] as { reason: string }).reason, /\.csv/);
  const ev2 = load('put-simple.json');
  ev2.Records[0].s3.bucket.name = 'other';
  assert.match((decide(ev2, filter)[0] as { reason: string }).reason, /not watched/);
});

test('Go query escaping round-trips, byte for byte with the documented examples', () => {
  const cases: [string, string][] = [
    ['sales/2026-11/customers.csv', 'sales%2F2026-11%2Fcustomers.csv'],
    ['relatórios/novo arquivo (1).csv', 'relat%C3%B3rios%2Fnovo+arquivo+%281%29.csv'],
    ['a+b=c&d?e#f%g.csv', 'a%2Bb%3Dc%26d%3Fe%23f%25g.csv'],
    ["it's *star* !bang.csv", 'it%27s+%2Astar%2A+%21bang.csv'],
  ];
  for (const [name, escaped] of cases) {
    assert.equal(goQueryEscape(name), escaped);
    assert.equal(decodeEventKey(escaped), name);
  }
});
