/**
 * `BENCH_SECTIONS=replicas npm run bench`: publish with 1, 2 and 3 replicas of every function
 * against a strict push-URL stand-in (the emulator: at most 5 accepted POSTs in any second per
 * dataset, else 429 with Retry-After: 1), on one target and on three (POWERBI_ROUTES, one push URL
 * per key prefix); then the latency of a 1,000-row file uploaded while the large ones are being
 * published. Load: REPLICAS_FILES files × REPLICAS_ROWS rows (default 20 × 5,000; the issue's
 * figure is 20 × 20,000). `npx tsx bench/replicas.ts` alone also takes REPLICAS_COUNTS (default
 * 1,2,3), REPLICAS_TARGETS (default 1,3) and REPLICAS_POD_LIMITS=1: each replica with the CPU and memory
 * limits of its pod in knative/ (dev/pod-resources.ts; root, Linux cgroups), and
 * REPLICAS_LATENCY_MS: the stand-in answers each POST after that long (Power BI's own time; with
 * one request in flight per file, a file alone then sends fewer than 5 a second).
 */
import { startEmulator } from '../dev/powerbi/server.js';
import { versionId } from '../shared/lifecycle/index.js';
import { lifecycleOf, startTestStack, waitFor } from '../test/helpers.js';
import { cpuSecondsOf } from './cpu.js';

const FILES = Number(process.env.REPLICAS_FILES ?? 20);
const ROWS = Number(process.env.REPLICAS_ROWS ?? 5_000);
const LATENCY_MS = Number(process.env.REPLICAS_LATENCY_MS ?? 0);

function file(first: number, rows: number): Buffer {
  const lines = ['id,city,amount,when'];
  for (let i = 0; i < rows; i++) lines.push(`${first + i},São Paulo ${i % 13},${(i % 997) / 4},2026-11-${String((i % 28) + 1).padStart(2, '0')}`);
  return Buffer.from(lines.join('\n') + '\n');
}

export interface ReplicaRun {
  replicas: number;
  targets: number;
  rowsExpected: number;
  rowsStored: number;
  posts: number;
  refused429: number;
  attemptsOver1: number;
  wallSeconds: number;
  smallFileSeconds: number;
  /** CPU seconds of the busiest publish replica over the run (Linux /proc). */
  publishCpuSeconds: number;
}

export async function runReplicas(replicas: number, targets: number, opts: { podLimits?: boolean } = {}): Promise<ReplicaRun> {
  const em = await startEmulator({ port: 0 });
  if (LATENCY_MS > 0) em.faults.push({ kind: 'delay', ms: LATENCY_MS, count: Infinity });
  const datasets = Array.from({ length: targets }, (_, i) => em.state.createDataset({ name: `target-${i}`, mode: 'PushStreaming', tablePerSchema: true }));
  const routes = Object.fromEntries(datasets.map((ds, i) => [`t${i}/`, { pushUrl: em.state.pushUrl(ds, em.url) }]));
  const t = await startTestStack({ REPLICAS: String(replicas), POWERBI_PUSH_URL: em.state.pushUrl(datasets[0], em.url), POWERBI_ROUTES: JSON.stringify(routes), LOG_LEVEL: 'error' }, opts.podLimits ? { pods: ['cpu', 'memory'] } : {});
  try {
    const started = Date.now();
    const keys: string[] = [];
    await Promise.all(
      Array.from({ length: FILES }, async (_, f) => {
        const key = `t${f % targets}/big-${f}.csv`;
        keys.push(key);
        const body = file(f * 1_000_000, ROWS);
        await t.s3.putObject('incoming', key, body, body.length);
      }),
    );
    // A small file behind the large ones: its upload to its outcome.
    await new Promise((r) => setTimeout(r, 3_000));
    const small = file(900_000_000, 1_000);
    const smallAt = Date.now();
    const put = await t.s3.putObject('incoming', 't0/small.csv', small, small.length);
    const lifecycle = lifecycleOf(t.s3);
    const smallId = versionId({ bucket: 'incoming', key: 't0/small.csv', etag: put.etag });
    const smallDone = waitFor('the small file', async () => ((await lifecycle.status(smallId)).outcome ? Date.now() : undefined), 1_800_000, 100);
    let attemptsOver1 = 0;
    for (const key of keys) {
      const stat = await t.s3.statObject('incoming', key);
      const done = await waitFor(key, async () => (await lifecycle.status(versionId({ bucket: 'incoming', key, etag: stat.etag }))).outcome, 1_800_000, 250);
      if ((done.attempts ?? 1) > 1) attemptsOver1++;
    }
    const wallSeconds = (Date.now() - started) / 1000;
    const publishCpuSeconds = Math.max(...(t.stack.replicas.get('publish') ?? []).map((p) => cpuSecondsOf(p.child.pid)));
    const smallFileSeconds = ((await smallDone) - smallAt) / 1000;
    const rowsStored = datasets.reduce((n, ds) => n + ds.rows.length, 0);
    return {
      replicas,
      targets,
      rowsExpected: FILES * ROWS + 1_000,
      rowsStored,
      posts: datasets.reduce((n, ds) => n + ds.requests + (ds.refused['429'] ?? 0), 0),
      refused429: datasets.reduce((n, ds) => n + (ds.refused['429'] ?? 0), 0),
      attemptsOver1,
      wallSeconds,
      smallFileSeconds,
      publishCpuSeconds,
    };
  } finally {
    await t.stop();
    await em.close();
  }
}

export function replicasTable(runs: ReplicaRun[]): string {
  const base = new Map(runs.filter((r) => r.replicas === 1).map((r) => [r.targets, r.wallSeconds]));
  const lines = [
    '| replicas | targets | rows stored / expected | 429 answers / POSTs | files run more than once | wall time | vs 1 replica | 1,000-row file behind them: upload → outcome | busiest publish replica: CPU (of one core over the run) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of runs) lines.push(`| ${r.replicas} | ${r.targets} | ${r.rowsStored.toLocaleString('en-US')} / ${r.rowsExpected.toLocaleString('en-US')} | ${r.refused429} / ${r.posts} | ${r.attemptsOver1} | ${r.wallSeconds.toFixed(1)} s | ${(r.wallSeconds / (base.get(r.targets) ?? r.wallSeconds)).toFixed(2)}× | ${r.smallFileSeconds.toFixed(1)} s | ${r.publishCpuSeconds.toFixed(1)} s (${((100 * r.publishCpuSeconds) / r.wallSeconds).toFixed(0)}%) |`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const runs: ReplicaRun[] = [];
  const list = (v: string | undefined, d: string) => (v ?? d).split(',').map(Number);
  const podLimits = process.env.REPLICAS_POD_LIMITS === '1';
  for (const targets of list(process.env.REPLICAS_TARGETS, '1,3')) for (const replicas of list(process.env.REPLICAS_COUNTS, '1,2,3')) {
    process.stdout.write(`- ${replicas} replica(s), ${targets} target(s)${podLimits ? ', CPU and memory as the pods are limited' : ''}…\n`);
    runs.push(await runReplicas(replicas, targets, { podLimits }));
  }
  process.stdout.write(`\n${FILES} files × ${ROWS} rows, strict push-URL stand-in (5 POSTs a second per dataset${LATENCY_MS ? `, each answered after ${LATENCY_MS} ms` : ''})${podLimits ? ', each replica with its pod\'s CPU and memory limits (knative/)' : ''}\n\n${replicasTable(runs)}\n`);
  process.exit(0);
}
