/**
 * `npm run faults`: each fault of the reliability issue against the local stack, under a load of
 * many small files and a few large ones, then a table of fault → rows expected / delivered /
 * duplicated / reported as possible duplicates, process crashes, and object versions left without
 * a terminal state. FAULTS_QUICK=1 runs a smaller load (what `npm test` runs, in
 * test/faults.e2e.test.ts); FAULTS_ONLY=<text> runs the scenarios whose name contains it.
 * Results also go to bench/out/faults.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'undici';
import { unfinishedObjects } from '../functions/webhook/recovery.js';
import { toMinioEvent } from '../dev/notify-bridge.js';
import type { Fault } from '../dev/powerbi/server.js';
import { getJson } from '../shared/storage/s3.js';
import { outputNames } from '../shared/storage/layout.js';
import { versionId } from '../shared/lifecycle/keys.js';
import { lifecycleOf, startTestStack, waitFor, type TestStack } from '../test/helpers.js';
import { startEventstreamEndpoint, type EventstreamEndpoint } from '../dev/eventstream/endpoint.js';

export interface FaultResult {
  fault: string;
  route: string;
  files: number;
  expected: number;
  delivered: number;
  duplicated: number;
  reported: number;
  crashes: number;
  unfinished: number;
  /** Requests the destination itself refused as throttled: Power BI's 429s (the limiter should leave none), Eventstream's server-busy answers (injected). */
  throttled: number;
  seconds: number;
  /** From the fault (`during`) to every version's outcome. */
  afterFault?: number;
  replicas: number;
}

interface Load {
  small: number;
  smallRows: number;
  large: number;
  largeRows: number;
}

export const FULL: Load = { small: 40, smallRows: 500, large: 2, largeRows: 20_000 };
export const QUICK: Load = { small: 12, smallRows: 200, large: 1, largeRows: 12_000 };

function file(first: number, rows: number): Buffer {
  const lines = ['id,city,amount'];
  for (let i = 0; i < rows; i++) lines.push(`${first + i},São Paulo ${i % 13},${(i % 997) / 4}`);
  return Buffer.from(lines.join('\n') + '\n');
}

function rowsIn(t: TestStack, route: string, ep?: EventstreamEndpoint): number[] {
  if (route === 'eventstream') return ep!.events.map((e) => (e.body as { id: number }).id);
  const em = t.stack.emulator!;
  if (route === 'rest') return [...em.rest.datasets.values()].flatMap((d) => [...d.tables.values()]).flatMap((tb) => tb.rows.map((r) => r.id as number));
  return em.state.datasets.get(t.stack.emulatorDatasetId!)!.rows.map((r) => r.row.id as number);
}

function throttledByDestination(t: TestStack, ep?: EventstreamEndpoint): number {
  if (ep) return ep.stats.busy;
  const em = t.stack.emulator!;
  return [...em.rest.datasets.values(), ...em.state.datasets.values()].reduce((n, d) => n + (d.refused['429'] ?? 0), 0);
}

async function injectFaults(t: TestStack, faults: Fault[]): Promise<void> {
  await request(`${t.stack.emulator!.url}/_emulator/faults`, { method: 'POST', body: JSON.stringify(faults) }).then((r) => r.body.dump());
}

interface Scenario {
  name: string;
  /** eventstream: the Eventstream sink alone, to the in-repo AMQP endpoint (dev/eventstream/endpoint.ts). */
  route: 'rest' | 'push-url' | 'eventstream';
  /** Processes of every function (REPLICAS). */
  replicas?: number;
  /** Before the uploads. */
  before?: (t: TestStack, ep?: EventstreamEndpoint) => Promise<void>;
  /** Right after the uploads. */
  after?: (t: TestStack) => Promise<void>;
  /** Once the first rows reached Power BI. */
  during?: (t: TestStack) => Promise<void>;
}

/** Every object of the input bucket notified again, three times at the same moment (three webhook replicas). */
const notifyThrice = async (t: TestStack) => {
  const listing = t.s3.listObjectsV2('incoming', '', true) as AsyncIterable<{ name?: string; etag?: string; size?: number }>;
  const sends: Promise<unknown>[] = [];
  for await (const o of listing) {
    const event = toMinioEvent({ eventName: 'ObjectCreated:Put', eventTime: new Date().toISOString(), s3: { bucket: { name: 'incoming' }, object: { key: o.name!, size: o.size, eTag: o.etag?.replace(/"/g, ''), sequencer: '0' } } }, 'faults');
    for (let i = 0; i < 3; i++) sends.push(request(`${t.stack.gateway.url}/function/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.stack.env.WEBHOOK_TOKEN}` }, body: JSON.stringify(event) }).then((r) => r.body.dump()));
  }
  await Promise.all(sends);
};

/** SIGKILL one process; the platform starts a new pod in its place. */
const killReplica = async (t: TestStack, fn: 'webhook' | 'transform' | 'publish', index: number) => {
  const p = t.stack.replicas.get(fn)![index];
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGKILL');
  await exited;
};

/** Every function process SIGKILLed at once, then all started again on the same store. */
const killAll = async (t: TestStack) => {
  for (const fn of ['webhook', 'transform', 'publish'] as const) for (let i = 0; i < t.stack.replicas.get(fn)!.length; i++) await killReplica(t, fn, i);
  for (const fn of ['webhook', 'transform', 'publish'] as const) {
    await t.stack.stopFunction(fn);
    await t.stack.startFunction(fn);
  }
};

const kill = async (t: TestStack, fn: 'transform' | 'publish') => {
  const p = t.stack.functions.get(fn)!;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGKILL');
  await exited;
  await t.stack.stopFunction(fn);
  await t.stack.startFunction(fn);
};

export const SCENARIOS: Scenario[] = [
  { name: 'none (baseline)', route: 'rest' },
  { name: 'Power BI 503 on 12 requests in a row', route: 'rest', before: (t) => injectFaults(t, [{ kind: 'status', status: 503, count: 12 }]) },
  { name: 'Power BI 429 + Retry-After, slow answers, dropped connections', route: 'rest', before: (t) => injectFaults(t, [{ kind: 'status', status: 429, retryAfter: 1, count: 3 }, { kind: 'delay', ms: 1500, count: 2 }, { kind: 'drop', count: 3 }]) },
  { name: 'Power BI stores a batch, then the answer is lost (ack-then-fail ×3), REST', route: 'rest', before: (t) => injectFaults(t, [{ kind: 'ack-then-fail', count: 3 }]) },
  { name: 'Power BI stores a batch, then the answer is lost (ack-then-fail ×3), push URL', route: 'push-url', before: (t) => injectFaults(t, [{ kind: 'ack-then-fail', count: 3 }]) },
  { name: 'publish killed mid-push (SIGKILL), restarted', route: 'rest', during: (t) => kill(t, 'publish') },
  { name: 'transform killed mid-run (SIGKILL), restarted', route: 'rest', during: (t) => kill(t, 'transform') },
  { name: 'S3 unreachable for 5 s mid-run (reads and writes cut), then back', route: 'rest', during: (t) => t.stack.s3Outage(5000) },
  { name: 'Eventstream: server busy on every 4th batch', route: 'eventstream', before: async (_t, ep) => void Object.assign(ep!.faults, { busyEvery: 4, busyWaitSeconds: 0.5 }) },
  { name: 'Eventstream: a batch stored, then the connection dropped (every 15th)', route: 'eventstream', before: async (_t, ep) => void Object.assign(ep!.faults, { dropEvery: 15 }) },
  { name: 'Eventstream: publish killed mid-send (SIGKILL), restarted', route: 'eventstream', during: (t) => kill(t, 'publish') },
  {
    // A key whose outputs would pass S3's 1,024 bytes can never succeed: refused for good at the
    // edge, and the files behind it in MinIO's one-at-a-time queue go through.
    name: 'a key that can never succeed, first in the queue',
    route: 'rest',
    before: async (t) => {
      const body = file(-1_000_000, 10);
      await t.s3.putObject('incoming', `load/${Array(5).fill('x'.repeat(202)).join('/')}.csv`, body, body.length);
    },
  },
  { name: '3 replicas: every notification also sent to three replicas at the same moment', route: 'push-url', replicas: 3, after: notifyThrice },
  {
    name: '3 replicas: one publish replica SIGKILLed mid-file (the others carry on), then replaced',
    route: 'rest',
    replicas: 3,
    during: async (t) => {
      await killReplica(t, 'publish', 1);
      await t.stack.restartFunction('publish', 0);
    },
  },
  { name: '3 replicas: every function process SIGKILLed at once, restarted on the same store', route: 'rest', replicas: 3, during: killAll },
  {
    name: 'notifications lost (no queue_dir), webhook restarted: reconciliation',
    route: 'rest',
    before: async (t) => t.stack.bridge!.stop(),
    after: async (t) => {
      await t.stack.stopFunction('webhook');
      await t.stack.startFunction('webhook');
    },
  },
];

export async function runScenario(s: Scenario, load: Load): Promise<FaultResult> {
  const started = Date.now();
  const ep = s.route === 'eventstream' ? await startEventstreamEndpoint({ port: 0 }) : undefined;
  // Eventstream alone (Power BI off); small batches and a short timeout, so that faults hit many of them and cost little.
  const sinkEnv: Record<string, string> = ep ? { POWERBI_ENABLED: 'false', EVENTSTREAM_CONNECTION_STRING: ep.connectionString, EVENTSTREAM_MAX_BATCH_BYTES: String(64 * 1024), EVENTSTREAM_TIMEOUT_SECONDS: '3' } : { POWERBI_EMULATOR_ROUTE: s.route };
  const t = await startTestStack({ ...sinkEnv, RECONCILE_SECONDS: '3600', LOG_LEVEL: process.env.FAULTS_DEBUG ? 'debug' : 'warn', REPLICAS: String(s.replicas ?? 1) });
  const crashes: string[] = [];
  const watch = () => {
    for (const [name, p] of [...t.stack.replicas].flatMap(([n, ps]) => ps.map((q) => [n, q] as const))) {
      if ((p.child as unknown as { watched?: boolean }).watched) continue;
      (p.child as unknown as { watched?: boolean }).watched = true;
      p.child.once('exit', (code, signal) => {
        if (signal !== 'SIGKILL' && signal !== 'SIGTERM' && code !== 0) {
          crashes.push(name);
          if (process.env.FAULTS_DEBUG) process.stderr.write(`CRASH ${name} code=${code}\n${t.logs.filter((l) => l.startsWith(name)).slice(-15).join('\n')}\n`);
        }
      });
    }
  };
  const trace = (m: string) => process.env.FAULTS_DEBUG && process.stderr.write(`[faults +${Date.now() - started} ms] ${m}\n`);
  try {
    watch();
    await s.before?.(t, ep);
    trace('before done');
    const keys: string[] = [];
    let expected = 0;
    let next = 0;
    const uploads: Promise<unknown>[] = [];
    const add = (rows: number) => {
      const key = `load/f${String(keys.length).padStart(4, '0')}.csv`;
      const body = file(next, rows);
      next += rows;
      expected += rows;
      keys.push(key);
      uploads.push(t.s3.putObject('incoming', key, body, body.length));
    };
    for (let i = 0; i < load.large; i++) add(load.largeRows);
    for (let i = 0; i < load.small; i++) add(load.smallRows);
    await Promise.all(uploads);
    trace('uploaded');
    await s.after?.(t);
    watch();
    let faultAt: number | undefined;
    if (s.during) {
      await waitFor('rows reaching the sink', async () => (rowsIn(t, s.route, ep).length > 0 ? true : undefined), 120_000, 20);
      faultAt = Date.now();
      trace('rows reached the sink: fault');
      await s.during(t);
      trace('fault done');
      watch();
    }
    // Every object version ends with a terminal state (the reconciliation sweep is the safety net).
    const opts = { s3: t.s3, lifecycle: lifecycleOf(t.s3), inputBucket: 'incoming', prefix: '', suffixes: ['.csv'], withoutOutcome: true };
    try {
      let shown = Date.now();
      await waitFor('every object version in a terminal state', async () => {
        const left = await unfinishedObjects(opts);
        if (process.env.FAULTS_DEBUG && Date.now() - shown > 10_000) {
          shown = Date.now();
          if (process.env.FAULTS_LOG) writeFileSync(process.env.FAULTS_LOG, t.logs.join('\n'));
          trace(`unfinished: ${JSON.stringify(await Promise.all(left.map(async (r) => [r.key, await opts.lifecycle.status(versionId(r))])))}`);
        }
        return left.length === 0 ? true : undefined;
      }, Number(process.env.FAULTS_WAIT_MS ?? 600_000), 250);
    } catch (err) {
      const left = await unfinishedObjects(opts);
      throw new Error(`${(err as Error).message}: ${left.length} left, e.g. ${left.slice(0, 3).map((r) => r.key).join(', ')}`);
    }
    const afterFault = faultAt ? Math.round((Date.now() - faultAt) / 1000) : undefined;
    const ids = rowsIn(t, s.route, ep);
    let reported = 0;
    for (const key of keys) {
      const m = await getJson<{ sinks: Record<string, { possibleDuplicates?: number }> }>(t.s3, 'processed', outputNames(key).manifest);
      if (process.env.FAULTS_DEBUG) console.log(key, JSON.stringify(m?.sinks ?? 'no manifest'), JSON.stringify(await getJson(t.s3, 'processed', outputNames(key).failure)));
      for (const r of Object.values(m?.sinks ?? {})) reported += r.possibleDuplicates ?? 0;
    }
    return {
      fault: s.name,
      route: s.route,
      files: keys.length,
      expected,
      delivered: new Set(ids).size,
      duplicated: ids.length - new Set(ids).size,
      reported,
      crashes: crashes.length,
      unfinished: (await unfinishedObjects(opts)).length,
      throttled: throttledByDestination(t, ep),
      seconds: Math.round((Date.now() - started) / 1000),
      afterFault,
      replicas: s.replicas ?? 1,
    };
  } finally {
    await t.stop();
    await ep?.close();
  }
}

export function table(results: FaultResult[]): string {
  const lines = ['| fault | replicas | route | files | rows expected | delivered | duplicated | reported as possible duplicates | crashes | left unfinished | throttled by the destination (Power BI 429, Eventstream busy) | s | s from the fault to every outcome |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const r of results) lines.push(`| ${r.fault} | ${r.replicas} | ${r.route} | ${r.files} | ${r.expected} | ${r.delivered} | ${r.duplicated} | ${r.reported} | ${r.crashes} | ${r.unfinished} | ${r.throttled} | ${r.seconds} | ${r.afterFault ?? '–'} |`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const load = process.env.FAULTS_QUICK ? QUICK : FULL;
  const results: FaultResult[] = [];
  // FAULTS_ONLY=<text>: only the scenarios whose name contains it (e.g. Eventstream).
  for (const s of SCENARIOS.filter((x) => !process.env.FAULTS_ONLY || x.name.includes(process.env.FAULTS_ONLY))) {
    process.stdout.write(`- ${s.name} …\n`);
    results.push(await runScenario(s, load));
  }
  const text = `# npm run faults — ${new Date().toISOString()}\n\nLoad: ${load.small} files of ${load.smallRows} rows and ${load.large} of ${load.largeRows} rows per fault.\n\n${table(results)}\n`;
  mkdirSync('bench/out', { recursive: true });
  writeFileSync('bench/out/faults.md', text);
  process.stdout.write('\n' + text);
  const bad = results.filter((r) => r.delivered !== r.expected || r.duplicated > r.reported || r.crashes || r.unfinished);
  if (bad.length) {
    process.stdout.write(`\n${bad.length} fault(s) broke a guarantee\n`);
    process.exitCode = 1;
  }
}
