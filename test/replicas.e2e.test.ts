/**
 * Several processes of every function (REPLICAS=3, behind the gateway's round robin, as a Service
 * with three pods), raced on purpose: the same notification delivered to several replicas at
 * once stores every row once; and the whole stack SIGKILLed mid-file and restarted on its data
 * finishes the interrupted file, with the default claim settings, within 120 s of the restart.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { toMinioEvent } from '../dev/notify-bridge.js';
import { versionId } from '../shared/lifecycle/index.js';
import { createStorage, getJson } from '../shared/storage/s3.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../shared/storage/config.js';
import { startEmulator, type EmulatorServer } from '../dev/powerbi/server.js';
import { emulatorRows, lifecycleOf, startTestStack, useTestStack, waitFor, waitForJson, type TestStack } from './helpers.js';
import { repoRoot, runScript } from './kit.js';

function table(first: number, rows: number): Buffer {
  const lines = ['id,region,amount'];
  for (let i = first; i < first + rows; i++) lines.push(`${i},r${i % 7},${(i % 1000) / 4}`);
  return Buffer.from(lines.join('\n') + '\n');
}

describe('REPLICAS=3: duplicate notifications at the same moment', () => {
  const stack = useTestStack({ REPLICAS: '3' });

  test('the same notification sent to three replicas at once: every row is stored once, each file has one outcome', { timeout: 240_000 }, async () => {
    const t = stack();
    assert.equal(t.stack.replicas.get('transform')!.length, 3);
    const files = 6;
    const rows = 1500;
    const keys: string[] = [];
    for (let f = 0; f < files; f++) {
      const key = `dup/f${f}.csv`;
      keys.push(key);
      const body = table(f * 100_000, rows);
      const put = await t.s3.putObject('incoming', key, body, body.length);
      // The bridge delivers it once; three more copies arrive at the same moment, one per replica.
      const event = toMinioEvent({ eventName: 'ObjectCreated:Put', eventTime: new Date().toISOString(), s3: { bucket: { name: 'incoming' }, object: { key, size: body.length, eTag: put.etag, sequencer: String(f) } } }, LOCAL_S3_ACCESS_KEY);
      const send = () => request(`${t.stack.gateway.url}/function/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.stack.env.WEBHOOK_TOKEN}` }, body: JSON.stringify(event) }).then((r) => r.body.json() as Promise<{ results: { status: string }[] }>);
      const answers = await Promise.all([send(), send(), send()]);
      for (const a of answers) assert.ok(['running', 'waiting', 'published'].includes(a.results[0].status), JSON.stringify(a));
    }
    const lifecycle = lifecycleOf(t.s3);
    for (const key of keys) {
      const stat = await t.s3.statObject('incoming', key);
      const id = versionId({ bucket: 'incoming', key, etag: stat.etag });
      await waitFor(`${key} published`, async () => ((await lifecycle.status(id)).phase === 'published' ? true : undefined), 180_000, 200);
      const m = await waitForJson<{ sinks: Record<string, { possibleDuplicates?: number; rowsSent: number }> }>(t.s3, 'processed', `manifests/${key}.json`);
      assert.equal(m.sinks['powerbi-push'].rowsSent, rows);
      assert.equal(m.sinks['powerbi-push'].possibleDuplicates ?? 0, 0);
    }
    await t.stack.bridge!.settled();
    const ids = (await emulatorRows(t)).rows.map((r) => r.id as number);
    assert.equal(ids.length, files * rows, `every row once (${ids.length} stored for ${files * rows})`);
    assert.equal(new Set(ids).size, files * rows);
  });
});

describe('one process of each function: 20 files at once, then a small one', () => {
  // Each call from the webhook to transform stays open until its file is published. A cap of 16
  // connections on the calls between functions once held the 17th file's call until a large one
  // ended: its hand-off failed, it was retried by the sweep, and a small file uploaded last
  // waited for all of them. (The webhook no longer waits for the call; a held call still must not fail.)
  const stack = useTestStack();

  test('every hand-off is taken on its first attempt, the small file included', { timeout: 240_000 }, async () => {
    const t = stack();
    const files = 20;
    const rows = 1500;
    await Promise.all(
      Array.from({ length: files }, async (_, f) => {
        const body = table(1_000_000 + f * 10_000, rows);
        await t.s3.putObject('incoming', `many/big-${f}.csv`, body, body.length);
      }),
    );
    await new Promise((r) => setTimeout(r, 3_000));
    const small = table(9_000_000, 1_000);
    const put = await t.s3.putObject('incoming', 'many/small.csv', small, small.length);
    const lifecycle = lifecycleOf(t.s3);
    await waitFor('the small file published', async () => ((await lifecycle.status(versionId({ bucket: 'incoming', key: 'many/small.csv', etag: put.etag }))).phase === 'published' ? true : undefined), 180_000, 200);
    const failed = t.logs.filter((l) => l.includes('hand-off failed'));
    assert.deepEqual(failed, [], 'no call to transform failed');
  });
});

describe('REPLICAS=3: a file a sink refuses is partial in every place', () => {
  // A push URL that keeps one table (as a real one does) refuses a file of other columns: partial.
  let em: EmulatorServer;
  let t: TestStack;
  before(async () => {
    em = await startEmulator({ port: 0 });
    const fixed = em.state.createDataset({ name: 'fixed-columns', mode: 'Streaming', columns: [{ name: 'produto', type: 'Text' }] });
    t = await startTestStack({ REPLICAS: '3', POWERBI_ROUTES: JSON.stringify({ 'fixed/': { pushUrl: em.state.pushUrl(fixed, em.url) } }) });
  });
  after(async () => {
    await t?.stop();
    await em?.close();
  });

  test('npm run upload, the lifecycle record, the manifest, the webhook and transform answers to a redelivery, the metrics and the console all say partial', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'partial-'));
    const file = join(dir, 'refused.csv');
    writeFileSync(file, table(0, 300));
    const upload = await runScript('dev/upload.ts', ['--prefix', 'fixed/', file], { DATA_DIR: t.stack.config.dev.DATA_DIR });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(upload.code, 1, `npm run upload exits 1 on a partial file:\n${upload.out}`);
    assert.match(upload.out, /partial/);
    assert.match(upload.out, /REFUSED — 300 rows not sent/);

    const key = 'fixed/refused.csv';
    const stat = await t.s3.statObject('incoming', key);
    const id = versionId({ bucket: 'incoming', key, etag: stat.etag });
    assert.equal((await lifecycleOf(t.s3).status(id)).phase, 'partial', 'the lifecycle record');
    const manifest = await waitForJson<{ status: string; partial?: string }>(t.s3, 'processed', `manifests/${key}.json`);
    assert.equal(manifest.status, 'partial');
    assert.match(manifest.partial ?? '', /300 rows not sent to Power BI/);

    // The same notification again, to three webhook replicas at once, and transform asked directly.
    const event = toMinioEvent({ eventName: 'ObjectCreated:Put', eventTime: new Date().toISOString(), s3: { bucket: { name: 'incoming' }, object: { key, size: stat.size, eTag: stat.etag, sequencer: 'p1' } } }, LOCAL_S3_ACCESS_KEY);
    const send = () => request(`${t.stack.gateway.url}/function/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.stack.env.WEBHOOK_TOKEN}` }, body: JSON.stringify(event) }).then((r) => r.body.json() as Promise<{ results: { status: string; replay?: boolean }[] }>);
    for (const a of await Promise.all([send(), send(), send()])) assert.deepEqual([a.results[0].status, a.results[0].replay], ['partial', true], JSON.stringify(a));
    assert.ok(t.stack.env.INTERNAL_TOKEN);
    const direct = await request(`${t.stack.gateway.url}/function/transform`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.stack.env.INTERNAL_TOKEN}` }, body: JSON.stringify({ bucket: 'incoming', key }) });
    const answer = (await direct.body.json()) as { status: string; replay?: boolean };
    assert.deepEqual([direct.statusCode, answer.status, answer.replay], [200, 'partial', true], JSON.stringify(answer));

    // Metrics, summed over the replicas: one file ended partial (none published), three replays of a partial file.
    const series = async (fn: 'webhook' | 'publish', name: string) => {
      let n = 0;
      for (const p of t.stack.replicas.get(fn)!) {
        const text = await (await request(`http://127.0.0.1:${p.port}/metrics`)).body.text();
        for (const m of text.matchAll(new RegExp(`^${name} (\\d+)$`, 'gm'))) n += Number(m[1]);
      }
      return n;
    };
    assert.equal(await series('publish', 'minipipeline_files_total\\{outcome="partial"\\}'), 1);
    assert.equal(await series('publish', 'minipipeline_files_total\\{outcome="published"\\}'), 0);
    assert.equal(await series('webhook', 'minipipeline_replays_total\\{outcome="partial"\\}'), 3);

    // The console: partial, with Power BI's words.
    const files = (await (await request(`${t.stack.emulator!.url}/_console/files`)).body.json()) as { key?: string; stage: string; problem?: string }[];
    const shown = files.find((f) => f.key === key);
    assert.equal(shown?.stage, 'partial', JSON.stringify(shown));
    assert.match(shown?.problem ?? '', /300 rows not sent/);
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** `npm start` as a user runs it, in a process group of its own (so that all of it can be SIGKILLed). */
function startStack(env: Record<string, string>): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'dev/start.ts'], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('mini-pipeline is running')) resolve();
    });
    child.stderr!.on('data', (d) => (out += d));
    child.once('exit', (code) => reject(new Error(`npm start exited with ${code}: ${out.slice(-2000)}`)));
  });
  return { child, ready };
}

describe('the whole stack SIGKILLed mid-file', () => {
  test('restarted on its data with the default settings, the interrupted file is finished within 120 s, every row there, duplicates within those reported', { timeout: 300_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'killed-stack-'));
    const env = { DATA_DIR: dir, GATEWAY_PORT: String(await freePort()), S3_PORT: String(await freePort()), POWERBI_EMULATOR_PORT: String(await freePort()), REPLICAS: '3', LOG_LEVEL: 'warn', WEBHOOK_TOKEN: 'killed-stack-token-0123456789' };
    const rowsFile = join(dir, 'powerbi-rows.ndjson');
    const stored = () => (existsSync(rowsFile) ? readFileSync(rowsFile, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { row: { id: number } }).row.id) : []);
    let running = startStack(env);
    try {
      await running.ready;
      const s3 = createStorage({ S3_ENDPOINT: `http://127.0.0.1:${env.S3_PORT}`, S3_ACCESS_KEY: LOCAL_S3_ACCESS_KEY, S3_SECRET_KEY: LOCAL_S3_SECRET_KEY, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 });
      const rows = 4000;
      const body = table(0, rows);
      const put = await s3.putObject('incoming', 'killed/big.csv', body, body.length);
      await waitFor('the first rows in Power BI', async () => (stored().length > 0 ? true : undefined), 60_000, 20);
      process.kill(-running.child.pid!, 'SIGKILL'); // everything: the stack, its store, the functions
      await new Promise((r) => running.child.once('exit', r));
      const before = stored().length;
      assert.ok(before < rows, `killed mid-file (${before} of ${rows} rows in)`);

      running = startStack(env);
      await running.ready;
      const restarted = Date.now();
      const id = versionId({ bucket: 'incoming', key: 'killed/big.csv', etag: put.etag });
      const lifecycle = lifecycleOf(s3);
      await waitFor('the interrupted file finished', async () => ((await lifecycle.status(id)).outcome ? true : undefined), 120_000, 250);
      const seconds = (Date.now() - restarted) / 1000;
      assert.ok(seconds <= 120, `finished ${seconds.toFixed(1)} s after the restart`);
      assert.equal((await lifecycle.status(id)).phase, 'published');
      const manifest = await getJson<{ sinks: Record<string, { possibleDuplicates?: number }> }>(s3, 'processed', 'manifests/killed/big.csv.json');
      const ids = stored();
      assert.equal(new Set(ids).size, rows, 'every row arrived');
      const duplicated = ids.length - rows;
      assert.ok(duplicated <= (manifest!.sinks['powerbi-push'].possibleDuplicates ?? 0), `duplicates (${duplicated}) within those reported (${manifest!.sinks['powerbi-push'].possibleDuplicates ?? 0})`);
    } finally {
      try {
        process.kill(-running.child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
