/**
 * AUTOSCALE=knative: the local gateway as Knative's activator and KPA, with real function
 * processes and a 2 s window. Idle functions go to 0 processes; requests for a function at zero are
 * held while one starts, never failed; a burst scales transform out and everything back to 0 with
 * every row exact; a process scaled down mid-file drains and loses nothing; a function that never
 * becomes ready gets the activator's 504.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { chromium } from 'playwright-core';
import { createHash } from 'node:crypto';
import { Lifecycle, versionId } from '../shared/lifecycle/index.js';
import type { ScaleEvent } from '../dev/autoscaler.js';
import { emulatorRows, lifecycleOf, objectExists, useTestStack, waitFor, waitForJson, type TestStack } from './helpers.js';
import { NODE_RUNTIME_FLAGS } from '../shared/runtime/flags.js';
import { repoRoot } from './kit.js';

const FAST = { AUTOSCALE: 'knative', AUTOSCALE_WINDOW_SECONDS: '2', LOG_LEVEL: 'warn' };

function table(first: number, rows: number): Buffer {
  const lines = ['id,region,amount'];
  for (let i = first; i < first + rows; i++) lines.push(`${i},r${i % 7},${(i % 1000) / 4}`);
  return Buffer.from(lines.join('\n') + '\n');
}

async function systemFunctions(t: TestStack): Promise<Record<string, { replicas: number; availableReplicas: number }>> {
  const res = await request(`${t.stack.gateway.url}/system/functions`);
  const list = (await res.body.json()) as { name: string; replicas: number; availableReplicas: number }[];
  return Object.fromEntries(list.map((f) => [f.name, f]));
}

/** Every function at 0 processes, by the gateway's report and by the processes themselves. */
async function allAtZero(t: TestStack, timeoutMs = 60_000): Promise<void> {
  await waitFor('every function at 0 processes', async () => {
    const fns = await systemFunctions(t);
    const running = t.stack.autoscaler!.timeline.filter((e) => e.kind !== 'held').reduce((m, e) => m.set(e.fn, e.running), new Map<string, number>());
    return Object.values(fns).every((f) => f.replicas === 0 && f.availableReplicas === 0) && [...running.values()].every((n) => n === 0) && t.stack.replicas.size === 0 ? true : undefined;
  }, timeoutMs, 100);
}

async function upload(t: TestStack, key: string, body: Buffer): Promise<string> {
  const put = await t.s3.putObject('incoming', key, body, body.length);
  return versionId({ bucket: 'incoming', key, etag: put.etag });
}

/** Published with every row sent, by this run or (resumed after a run that died) by the one before; its possible duplicates. */
async function published(t: TestStack, key: string, id: string, rows: number): Promise<number> {
  await waitFor(`${key} published`, async () => ((await lifecycleOf(t.s3).status(id)).phase === 'published' ? true : undefined), 180_000, 200);
  const m = await waitForJson<{ sinks: Record<string, { rowsSent: number; rowsSkippedAsAlreadySent?: number; possibleDuplicates?: number }> }>(t.s3, 'processed', `manifests/${key}.json`);
  const sink = m.sinks['powerbi-push'];
  assert.equal(sink.rowsSent + (sink.rowsSkippedAsAlreadySent ?? 0), rows, key);
  return sink.possibleDuplicates ?? 0;
}

const since = (t: TestStack, at: number) => t.stack.autoscaler!.timeline.filter((e) => e.at >= at);
/** The most processes a function had at once (starting or ready; those draining after a SIGTERM not counted). */
const peak = (events: ScaleEvent[], fn: string) => Math.max(0, ...events.filter((e) => e.fn === fn).map((e) => e.processes));

describe('AUTOSCALE=knative with a 2 s window', () => {
  const stack = useTestStack(FAST);

  test('idle functions reach 0 processes; an upload at zero gets its manifest, its requests held during the cold starts', { timeout: 120_000 }, async () => {
    const t = stack();
    await allAtZero(t);
    const t0 = Date.now();
    const rows = 500;
    const id = await upload(t, 'cold/first.csv', table(0, rows));
    await published(t, 'cold/first.csv', id, rows);
    const events = since(t, t0);
    for (const fn of ['webhook', 'transform', 'publish']) {
      assert.ok(events.some((e) => e.fn === fn && e.kind === 'held' && e.waitMs! > 0), `${fn}: its first request was held during a cold start`);
    }
    assert.ok(!events.some((e) => e.kind === 'timeout' || e.kind === 'failed'), JSON.stringify(events.filter((e) => e.kind === 'timeout' || e.kind === 'failed')));
    assert.equal((await emulatorRows(t)).rows.filter((r) => (r.id as number) < rows).length, rows);
    await allAtZero(t);
  });

  test('the console shows each function\'s processes over time and its cold-start waits, live (headless Chromium)', { timeout: 120_000 }, async () => {
    const t = stack();
    await allAtZero(t);
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    try {
      const page = await browser.newPage();
      await page.goto(t.stack.dashboardUrl!);
      await page.waitForSelector('body[data-ready="true"]');
      const processes = (fn: string) => page.locator(`#scale-charts [data-fn="${fn}"] .processes`).textContent();
      for (const fn of ['webhook', 'transform', 'publish']) assert.equal(await processes(fn), '0');
      assert.match((await page.locator('#scale-charts [data-fn="webhook"] .waits').textContent()) ?? '', /\d+\.\d s/, 'the first test\'s cold-start wait is listed');
      const id = await upload(t, 'cold/console.csv', table(900_000, 50));
      // Live, no reload: webhook comes up from zero, then goes back.
      await page.waitForFunction(() => Number(document.querySelector('#scale-charts [data-fn="webhook"] .processes')?.textContent) >= 1, undefined, { timeout: 30_000 });
      await published(t, 'cold/console.csv', id, 50);
      await allAtZero(t);
      await page.waitForFunction(() => [...document.querySelectorAll('#scale-charts .processes')].every((e) => e.textContent === '0'), undefined, { timeout: 10_000 });
      assert.ok(await page.locator('#scale-charts [data-fn="transform"] svg polyline').count());
    } finally {
      await browser.close();
    }
  });

  test('requests that arrive while transform starts from zero are all answered, none lost or failed', { timeout: 120_000 }, async () => {
    const t = stack();
    await allAtZero(t);
    const csv = table(0, 50);
    const answers = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const res = await request(`${t.stack.gateway.url}/function/transform`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv });
        return { status: res.statusCode, body: await res.body.text() };
      }),
    );
    for (const a of answers) {
      assert.equal(a.status, 200, a.body.slice(0, 300));
      assert.ok(a.body.includes('"id"'), a.body.slice(0, 300));
    }
    const fns = await systemFunctions(t);
    assert.ok(fns.transform.availableReplicas >= 1);
    assert.ok(fns.transform.replicas <= 5, 'at most max-scale (knative/transform.yaml)');
  });

  test('a burst of 30 files scales transform to at least 2 processes, then everything returns to 0 with every row exact', { timeout: 300_000 }, async () => {
    const t = stack();
    await allAtZero(t);
    const t0 = Date.now();
    const rows = 1200;
    const files = Array.from({ length: 30 }, (_, f) => ({ key: `burst/f${String(f).padStart(2, '0')}.csv`, first: 1_000_000 + f * 10_000 }));
    const ids = await Promise.all(files.map((f) => upload(t, f.key, table(f.first, rows))));
    let possibleDuplicates = 0;
    try {
      for (const [i, f] of files.entries()) possibleDuplicates += await published(t, f.key, ids[i], rows);
    } catch (err) {
      if (process.env.DEBUG_AUTOSCALE) {
        console.error(JSON.stringify(since(t, t0)));
        for (const id of ids) console.error(id, JSON.stringify(await lifecycleOf(t.s3).status(id)));
        console.error(t.logs.filter((l) => /"level":"(warn|error)"/.test(l)).join('\n'));
      }
      throw err;
    }
    await allAtZero(t, 90_000);
    const events = since(t, t0);
    assert.ok(peak(events, 'transform') >= 2, `transform peaked at ${peak(events, 'transform')} processes`);
    assert.ok(peak(events, 'transform') <= 5, 'never above max-scale');
    assert.ok(!events.some((e) => e.kind === 'timeout' || e.kind === 'failed'));
    const stored = (await emulatorRows(t)).rows.map((r) => r.id as number).filter((id) => id >= 1_000_000);
    assert.equal(new Set(stored).size, files.length * rows, 'every row of every file');
    const duplicated = stored.length - files.length * rows;
    assert.ok(duplicated <= possibleDuplicates, `duplicates (${duplicated}) within those the manifests report (${possibleDuplicates})`);
    if (process.env.DEBUG_AUTOSCALE) console.error(t.logs.filter((l) => /"level":"(warn|error)"/.test(l)).join('\n'));
  });
});

describe('AUTOSCALE=knative: a process scaled down mid-file', () => {
  const stack = useTestStack(FAST);

  test('the newest transform process is removed while it carries a file: it drains, the file is published whole', { timeout: 240_000 }, async () => {
    const t = stack();
    await allAtZero(t);
    // Three slow ad-hoc calls keep transform's first process busy (3 in flight > its 2.8 target): a second one starts.
    const trickles = Array.from({ length: 3 }, () => {
      let end!: () => void;
      const body = Readable.from(
        (async function* () {
          yield Buffer.from('id,region,amount\n1,r1,2\n');
          await new Promise<void>((r) => (end = r));
        })(),
      );
      const answer = request(`${t.stack.gateway.url}/function/transform`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body }).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
      return { answer, end: () => end() };
    });
    await waitFor('two transform processes ready', async () => ((await systemFunctions(t)).transform.availableReplicas >= 2 ? true : undefined), 60_000, 100);
    // The file goes to the least busy process: the new one.
    const rows = 30_000;
    const t0 = Date.now();
    const id = await upload(t, 'drain/big.csv', table(5_000_000, rows));
    // Carried by transform: its run streams the dataset to publish, which has adopted the checkpoint
    // ("running" alone starts earlier now: the webhook's hand-off claim, before the call reaches transform).
    await waitFor('the file carried by transform', async () => ((await objectExists(t.s3, 'processed', `_state/${id}.progress.json`)) ? true : undefined), 60_000, 50);
    for (const c of trickles) c.end();
    for (const c of trickles) assert.equal((await c.answer).status, 200);
    const stop = await waitFor('transform scaled down', async () => since(t, t0).find((e) => e.fn === 'transform' && e.kind === 'stop'), 60_000, 100);
    assert.match(stop.detail ?? '', /1 request\(s\) in flight/, 'the process removed was carrying the file');
    await published(t, 'drain/big.csv', id, rows);
    const stored = (await emulatorRows(t)).rows.map((r) => r.id as number).filter((x) => x >= 5_000_000);
    assert.equal(new Set(stored).size, rows, 'every row arrived');
    await allAtZero(t, 90_000);
  });
});

describe('AUTOSCALE=knative: work due while webhook is at zero', () => {
  const stack = useTestStack({ ...FAST, CLAIM_SECONDS: '4' });

  test('a run that died leaves its claim; once it expires, webhook is started from zero and its sweep hands the version on', { timeout: 120_000 }, async () => {
    const t = stack();
    await allAtZero(t);
    const key = 'due/orphan.csv';
    const body = table(7_000_000, 50);
    const etag = createHash('md5').update(body).digest('hex');
    // A run that takes the version and dies at once: its claim lives 12 s, never renewed.
    const dying = new Lifecycle(t.s3, 'processed', { claimMs: 12_000, maxAttempts: 20 });
    const taken = await dying.claims.take(versionId({ bucket: 'incoming', key, etag }), { kind: 'object', bucket: 'incoming', key, etag, size: body.length }, Lifecycle.runId());
    assert.equal(taken.kind, 'claimed');
    const claimedAt = Date.now();
    const id = await upload(t, key, body);
    await allAtZero(t);
    assert.ok(Date.now() - claimedAt < 12_000, 'everything was at zero before the claim expired');
    await published(t, key, id, 50);
    const wake = t.stack.autoscaler!.timeline.find((e) => e.fn === 'webhook' && e.kind === 'wake' && e.at >= claimedAt);
    assert.ok(wake, 'webhook was woken for the due version');
    assert.match(wake.detail ?? '', /due\/orphan\.csv: its next attempt is due/);
    await allAtZero(t);
  });
});

describe('AUTOSCALE=knative: a function that never becomes ready', () => {
  let launches = 0;
  const stack = useTestStack(
    { ...FAST, AUTOSCALE_HOLD_SECONDS: '2' },
    {
      // Transform's first process is the real one; every later one never says ready.
      launcher: (name, env) =>
        spawn(process.execPath, name === 'transform' && launches++ > 0 ? ['-e', 'setInterval(() => {}, 1000)'] : [...NODE_RUNTIME_FLAGS, `dist/${name}/index.cjs`], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] }),
    },
  );

  test('a request held for it is answered 504 (problem+json) after the hold time, as the activator does', { timeout: 120_000 }, async () => {
    const t = stack();
    await allAtZero(t);
    const started = Date.now();
    const res = await request(`${t.stack.gateway.url}/function/transform`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'id\n1\n' });
    const body = (await res.body.json()) as { status: number; detail: string };
    assert.equal(res.statusCode, 504);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.match(body.detail, /transform: no process of transform became ready within 2 s/);
    assert.ok(Date.now() - started >= 2000);
  });
});

describe('AUTOSCALE=openfaas (stack.yml, OpenFaaS CE)', () => {
  const stack = useTestStack({ AUTOSCALE: 'openfaas', AUTOSCALE_WINDOW_SECONDS: '1', LOG_LEVEL: 'warn' });

  test('each function keeps com.openfaas.scale.min processes when idle (CE never scales to zero) and answers at once', { timeout: 60_000 }, async () => {
    const t = stack();
    await new Promise((r) => setTimeout(r, 5_000)); // five windows idle
    const fns = await systemFunctions(t);
    for (const fn of ['webhook', 'transform', 'publish']) assert.deepEqual({ replicas: fns[fn].replicas, availableReplicas: fns[fn].availableReplicas }, { replicas: 1, availableReplicas: 1 }, fn);
    const res = await request(`${t.stack.gateway.url}/function/transform`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: table(0, 10) });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.ok(!t.stack.autoscaler!.timeline.some((e) => e.kind === 'held' || e.kind === 'stop'), 'nothing held, nothing stopped');
  });
});
