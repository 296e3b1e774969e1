/**
 * The whole pipeline on one machine, with real parts: embedded S3, MinIO-format notifications,
 * the gateway, three function processes and the Power BI emulator.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { join } from 'node:path';
import { podLimits } from '../dev/pod-resources.js';
import { examplePath, fixturePath, repoRoot } from './kit.js';
import { emulatorRows, objectExists, postJson, readObject, waitFor, waitForJson, useTestStack } from './helpers.js';

interface Manifest {
  source: { key: string; etag: string };
  schema: { columns: { name: string; type: string }[] };
  stats: { rowsIn: number; rowsOut: number; rowsRejected: number; bytesIn: number };
  sinks: Record<string, { rowsSent: number; requests: number; retries: number }>;
  outputs: { cleaned: string };
}

const seed = readFileSync(examplePath('mock_10000_linhas.csv'));
const mock = readFileSync(examplePath('mock.csv'));
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** The memory limit of the cgroup a process is in (v1 memory.limit_in_bytes, v2 memory.max). */
function memoryLimitOf(pid: number): number {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n').map((l) => l.split(':'));
  const v1 = lines.find(([, controllers]) => controllers.split(',').includes('memory'));
  const file = v1 ? join('/sys/fs/cgroup/memory', v1[2], 'memory.limit_in_bytes') : join('/sys/fs/cgroup', lines.find(([h]) => h === '0')![2], 'memory.max');
  return Number(readFileSync(file, 'utf8').trim());
}

describe('pipeline end to end', () => {
  const stack = useTestStack();

  test("each function process runs in its pod's memory limit (so V8 sizes its heap as in the pod)", () => {
    for (const [name, fn] of stack().stack.functions) assert.equal(memoryLimitOf(fn.child.pid!), podLimits(repoRoot, name).memoryBytes, name);
  });

  test('the 10,000-row seed file reaches the output bucket and the Power BI emulator', async () => {
    const t = stack();
    const started = Date.now();
    await t.s3.putObject('incoming', 'mock_10000_linhas.csv', seed, seed.length, { 'Content-Type': 'text/csv' });
    const manifest = await waitForJson<Manifest>(t.s3, 'processed', 'manifests/mock_10000_linhas.csv.json', 60_000);
    const elapsed = Date.now() - started;
    assert.equal(manifest.stats.rowsIn, 10_000);
    assert.equal(manifest.stats.rowsOut, 10_000);
    assert.equal(manifest.stats.rowsRejected, 0);
    assert.equal(manifest.stats.bytesIn, seed.length);
    assert.equal(manifest.source.etag, md5(seed));
    assert.deepEqual(
      manifest.schema.columns.map((c) => [c.name, c.type]),
      [
        ['idade', 'integer'],
        ['genero', 'text'],
        ['renda_mensal', 'integer'],
      ],
    );
    assert.equal(manifest.sinks['powerbi-push'].rowsSent, 10_000);
    const cleaned = (await readObject(t.s3, 'processed', 'cleaned/mock_10000_linhas.csv')).toString('utf8');
    const lines = cleaned.trimEnd().split('\n');
    assert.equal(lines.length, 10_001);
    assert.equal(lines[0], 'idade,genero,renda_mensal');
    assert.equal(lines[1], seed.toString('utf8').split('\n')[1].trim());
    const pbi = await emulatorRows(t);
    assert.equal(pbi.total, 10_000);
    assert.deepEqual(pbi.rows[0], { idade: 67, genero: 'M', renda_mensal: 17546 });
    const renda = seed.toString('utf8').trim().split('\n').slice(1).reduce((s, l) => s + Number(l.split(',')[2]), 0);
    assert.equal(pbi.rows.reduce((s, r) => s + (r.renda_mensal as number), 0), renda, 'every value arrived once');
    t.stack.log.info('e2e seed timing', { uploadToManifestMs: elapsed });
    // Every function serves Prometheus metrics; publish counted this file and its Power BI requests.
    // A function records a request once its answer is sent, and the manifest is written before
    // publish answers: wait for each function's own record of it.
    await t.stack.bridge!.settled();
    const scrape = async (fn: string) => (await (await request(`${t.stack.gateway.url}/function/${fn}/metrics`)).body.text());
    const scraped = (fn: string, until: RegExp) => waitFor(`${fn} metrics matching ${until}`, async () => {
      const text = await scrape(fn);
      return until.test(text) ? text : undefined;
    });
    const pub = await scraped('publish', /^minipipeline_files_total\{outcome="published"\} 1$/m);
    assert.match(pub, /^minipipeline_rows_total\{kind="out"\} 10000$/m);
    assert.match(pub, /^minipipeline_sink_rows_total\{sink="powerbi-push",outcome="sent"\} 10000$/m);
    assert.match(pub, /^minipipeline_sink_requests_total\{sink="powerbi-push"\} [1-9]\d*$/m);
    // The webhook answers MinIO 202 as soon as a run holds the file; transform answers 200 once publish has.
    await scraped('webhook', /^minipipeline_request_duration_seconds_count\{fn="webhook",status="202"\} [1-9]/m);
    await scraped('transform', /^minipipeline_request_duration_seconds_count\{fn="transform",status="200"\} [1-9]/m);
    // The source object is untouched.
    assert.equal(md5(await readObject(t.s3, 'incoming', 'mock_10000_linhas.csv')), md5(seed));
  });

  test('a redelivered event does not push rows twice', async () => {
    const t = stack();
    // Wait for the bridge's own delivery of the upload to be answered: the redelivery comes after it.
    await t.stack.bridge!.settled();
    const before = (await emulatorRows(t)).total;
    const event = JSON.parse(readFileSync(fixturePath('minio-events/put-simple.json'), 'utf8'));
    event.Key = 'incoming/mock_10000_linhas.csv';
    event.Records[0].s3.object.key = 'mock_10000_linhas.csv';
    event.Records[0].s3.object.eTag = md5(seed);
    const res = await postJson(`${t.stack.gateway.url}/function/webhook`, event, { authorization: 'Bearer test-webhook-token-123' });
    assert.equal(res.status, 200);
    const result = (JSON.parse(res.text) as { results: { status: string; replay?: boolean }[] }).results[0];
    assert.deepEqual([result.status, result.replay], ['published', true], 'a replay, in the lifecycle\'s words');
    assert.equal((await emulatorRows(t)).total, before);
  });

  test('a key with accents, spaces and parentheses round-trips through the MinIO encoding', async () => {
    const t = stack();
    const key = 'relatórios/novo arquivo (1).csv';
    await t.s3.putObject('incoming', key, mock, mock.length);
    const manifest = await waitForJson<Manifest>(t.s3, 'processed', 'manifests/relatórios/novo arquivo (1).csv.json');
    assert.equal(manifest.source.key, key);
    assert.equal(manifest.stats.rowsOut, 10);
    const cleaned = (await readObject(t.s3, 'processed', `cleaned/${key}`)).toString('utf8');
    assert.match(cleaned, /^id_cliente,idade,genero,estado_civil,renda_mensal/);
    assert.match(cleaned, /1006,50,F,Viúvo,10000,48,7,250,0,9,0/);
    // Locally the emulator gives each schema its own table (a real push URL refuses other columns:
    // test/powerbi.test.ts shows that file ending partial).
    assert.equal((manifest.sinks['powerbi-push'] as unknown as { rowsSent: number }).rowsSent, 10);
    const ds = t.stack.emulator!.state.datasets.get(t.stack.emulatorDatasetId!)!;
    assert.ok(ds.tables.some((tb) => tb.columns.some((c) => c.name === 'id_cliente')), 'a table of its own');
  });

  test('binary data, an empty object and a header-only file', async () => {
    const t = stack();
    const zip = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(200, 7)]);
    await t.s3.putObject('incoming', 'bad/archive.csv', zip, zip.length);
    await t.s3.putObject('incoming', 'bad/empty.csv', Buffer.alloc(0), 0);
    const headerOnly = Buffer.from('id,name\n');
    await t.s3.putObject('incoming', 'ok/header-only.csv', headerOnly, headerOnly.length);

    const zipFailure = await waitForJson<{ problem: { status: number; title: string; detail: string; line: number } }>(t.s3, 'processed', 'failed/bad/archive.csv.json');
    assert.equal(zipFailure.problem.status, 415);
    assert.match(zipFailure.problem.detail, /ZIP/);
    const emptyFailure = await waitForJson<{ problem: { status: number; title: string } }>(t.s3, 'processed', 'failed/bad/empty.csv.json');
    assert.equal(emptyFailure.problem.status, 422);
    assert.match(emptyFailure.problem.title, /no header/);
    const manifest = await waitForJson<Manifest>(t.s3, 'processed', 'manifests/ok/header-only.csv.json');
    assert.equal(manifest.stats.rowsOut, 0);
    assert.deepEqual(manifest.schema.columns.map((c) => c.name), ['id', 'name']);
    // A fixed re-upload under the same key clears the failure record.
    const fixed = Buffer.from('a,b\n1,2\n');
    await t.s3.putObject('incoming', 'bad/empty.csv', fixed, fixed.length);
    await waitForJson(t.s3, 'processed', 'manifests/bad/empty.csv.json');
    assert.equal(await objectExists(t.s3, 'processed', 'failed/bad/empty.csv.json'), false);
    // Sources are byte-identical and no cleaned file was written for the failures.
    assert.equal(md5(await readObject(t.s3, 'incoming', 'bad/archive.csv')), md5(zip));
    assert.equal(await objectExists(t.s3, 'processed', 'cleaned/bad/archive.csv'), false);
  });

  test('webhook: malformed JSON, not an event, bad token, ignored events', async () => {
    const t = stack();
    const url = `${t.stack.gateway.url}/function/webhook`;
    const auth = { authorization: 'Bearer test-webhook-token-123' };
    const malformed = await postJson(url, '{"Records": [', auth);
    assert.equal(malformed.status, 400);
    assert.equal(malformed.headers['content-type'], 'application/problem+json');
    assert.equal(malformed.json.title, 'Malformed JSON');

    const notEvent = await postJson(url, { Records: [{ eventName: 's3:ObjectCreated:Put', s3: { bucket: {} } }] }, auth);
    assert.equal(notEvent.status, 400);
    assert.equal(notEvent.json.field, 'Records.0.s3.bucket.name');

    const event = JSON.parse(readFileSync(fixturePath('minio-events/put-simple.json'), 'utf8'));
    assert.equal((await postJson(url, event)).status, 401);
    assert.equal((await postJson(url, event, { authorization: 'Bearer wrong' })).status, 401);

    event.Records[0].s3.object.key = 'images%2Fcat.png';
    const png = await postJson(url, event, auth);
    assert.equal(png.status, 200);
    assert.match(png.text, /ignored/);
    const del = JSON.parse(readFileSync(fixturePath('minio-events/delete.json'), 'utf8'));
    const delRes = await postJson(url, del, auth);
    assert.equal(delRes.status, 200);
    assert.match(delRes.text, /not an object creation/);
  });

  test('ad-hoc transform through the gateway answers JSON, NDJSON or CSV', async () => {
    const t = stack();
    const url = `${t.stack.gateway.url}/function/transform`;
    const json = await request(url, { method: 'POST', body: mock, headers: { 'content-type': 'text/csv' } });
    assert.equal(json.statusCode, 200);
    const doc = (await json.body.json()) as { rows: Record<string, unknown>[]; stats: { rowsOut: number } };
    assert.equal(doc.stats.rowsOut, 10);
    assert.equal(doc.rows[5].estado_civil, 'Viúvo');
    assert.equal(doc.rows[0].valor_medio_compra, 150);

    const nd = await request(url, { method: 'POST', body: mock, headers: { accept: 'application/x-ndjson' } });
    const lines = (await nd.body.text()).trim().split('\n');
    assert.equal(lines.length, 12);
    assert.equal(JSON.parse(lines[0]).type, 'header');
    assert.deepEqual(JSON.parse(lines[1]), [1001, 29, 'M', 'Solteiro', 3500, 12, 5, 150, 2, 8, 0]);
    assert.equal(JSON.parse(lines[11]).type, 'trailer');

    const csv = await request(url, { method: 'POST', body: 'a;b\n=1+1;2\n', headers: { accept: 'text/csv' } });
    assert.equal(await csv.body.text(), "a,b\n'=1+1,2\n");

    const bad = await request(url, { method: 'POST', body: 'a,b\n1,"2\n3,4\n' });
    assert.equal(bad.statusCode, 422);
    const problem = (await bad.body.json()) as { line: number; title: string };
    assert.equal(problem.line, 2);
  });

  test('ad-hoc ?publish=true goes to the output bucket and Power BI like an uploaded file', async () => {
    const t = stack();
    const before = (await emulatorRows(t)).total;
    const csv = 'idade;genero;renda_mensal\n40;F;1000\n41;M;2000\n';
    const url = `${t.stack.gateway.url}/function/transform?publish=true&name=manual.csv&delimiter=;`;
    // Publishing writes outputs and pushes rows: only with the chain's credential.
    const anonymous = await request(url, { method: 'POST', body: csv });
    assert.equal(anonymous.statusCode, 401);
    await anonymous.body.dump();
    const res = await request(url, { method: 'POST', body: csv, headers: { authorization: `Bearer ${t.stack.env.INTERNAL_TOKEN}` } });
    assert.equal(res.statusCode, 200);
    const result = (await res.body.json()) as { status: string; outputs: { cleaned: string } };
    assert.equal(result.status, 'published');
    assert.match(result.outputs.cleaned, /^adhoc\/[0-9a-f]{32}\/cleaned\/manual\.csv$/);
    assert.equal((await readObject(t.s3, 'processed', result.outputs.cleaned)).toString(), 'idade,genero,renda_mensal\n40,F,1000\n41,M,2000\n');
    assert.equal((await emulatorRows(t)).total, before + 2);
  });

  test('no secret reaches the logs', async () => {
    const t = stack();
    const text = t.logs.join('\n');
    assert.ok(text.length > 1000);
    const pushUrl = t.stack.env.POWERBI_PUSH_URL;
    const key = new URL(pushUrl).searchParams.get('key')!;
    for (const secret of [key, encodeURIComponent(key), 'test-webhook-token-123', t.stack.env.INTERNAL_TOKEN, t.stack.config.storage.S3_SECRET_KEY]) {
      assert.equal(text.includes(secret), false, 'a secret was logged');
    }
  });
});
