/**
 * `BENCH_SECTIONS=overlap npm run bench` (or `npx tsx bench/overlap.ts`): whether files overlap
 * in the local pipeline (issue 26's goals), the output bucket only (POWERBI_ENABLED=false: Power
 * BI's own pace is the replicas section's), one process per function, MinIO's one-at-a-time
 * delivery as the local bridge models it:
 * - one 1M-row `mixed` file, upload to outcome, against the same rows as 50 files of 20,000 rows
 *   uploaded at once, first upload to last outcome (goal: within 1.1×); each the best of
 *   OVERLAP_RUNS (default 3) fresh stacks, the two interleaved (one run on this machine moves
 *   by ±15%);
 * - a 1,000-row file uploaded right after a large `mixed` file (OVERLAP_BIG_MB, default 1000):
 *   its upload to its outcome (goal: within 2 s);
 * - where the 50 files' extra time goes: the CPU seconds of each process (the functions, and this
 *   one: the embedded S3, the gateway and the bridge) in the best run of each measure, and how
 *   busy the machine's cores were.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { versionId } from '../shared/lifecycle/index.js';
import { lifecycleOf, startTestStack, waitFor, type TestStack } from '../test/helpers.js';
import { countStackCpu, type StackCpu } from './cpu.js';
import { generateShape } from './shapes.js';

const OUT = 'bench/out';
const BIG_MB = Number(process.env.OVERLAP_BIG_MB ?? 1000);
const ENV = { POWERBI_ENABLED: 'false', LOG_LEVEL: 'error' };

const RUNS = Number(process.env.OVERLAP_RUNS ?? 3);
/** The rows of the one-file measure, and how many files the second measure makes of them. */
const ROWS = 1_000_000;
const MANY_FILES = 50;

export interface OverlapRun {
  /** Each run's seconds, in the order run. */
  oneFileRuns: number[];
  manyFilesRuns: number[];
  /** The CPU each process used in each of those runs, in the same order. */
  oneFileCpu: StackCpu[];
  manyFilesCpu: StackCpu[];
  bigFileMB: number;
  bigFileSeconds: number;
  smallFileSeconds: number;
}

/** The first `rows` rows of a `mixed` file, as `files` CSV files of equal rows (header on each). */
async function mixedRows(rows: number, files: number): Promise<{ whole: Buffer; parts: Buffer[] }> {
  const path = join(OUT, 'mixed-200MB.csv');
  await generateShape('mixed', path, 200e6);
  const text = readFileSync(path, 'utf8').split('\n');
  const header = text[0];
  const body = text.slice(1, rows + 1);
  if (body.length < rows) throw new Error(`${path} has fewer than ${rows} rows`);
  const per = rows / files;
  const parts = Array.from({ length: files }, (_, f) => Buffer.from([header, ...body.slice(f * per, (f + 1) * per)].join('\n') + '\n'));
  return { whole: Buffer.from([header, ...body].join('\n') + '\n'), parts };
}

/** Seconds from `since` until every upload's outcome is recorded (each must be published). */
async function outcomesOf(t: TestStack, since: number, uploads: Promise<{ key: string; etag: string }>[]): Promise<number> {
  const lifecycle = lifecycleOf(t.s3);
  for (const { key, etag } of await Promise.all(uploads)) {
    const id = versionId({ bucket: 'incoming', key, etag });
    const outcome = await waitFor(key, async () => (await lifecycle.status(id)).outcome, 1_800_000, 50);
    if (outcome.outcome !== 'published') throw new Error(`${key} ended ${outcome.outcome}`);
  }
  return (Date.now() - since) / 1000;
}

async function withStack<T>(run: (t: TestStack) => Promise<T>): Promise<T> {
  const t = await startTestStack(ENV);
  try {
    return await run(t);
  } finally {
    await t.stop();
  }
}

const put = (t: TestStack, key: string, body: Buffer) => t.s3.putObject('incoming', key, body, body.length).then((r) => ({ key, etag: r.etag }));

/** Files uploaded at once to a fresh stack: the seconds to their last outcome, and the CPU each process used meanwhile. */
function measured(files: { key: string; body: Buffer }[]): Promise<{ seconds: number; cpu: StackCpu }> {
  return withStack(async (t) => {
    const cpu = countStackCpu(t);
    const seconds = await outcomesOf(t, Date.now(), files.map((f) => put(t, f.key, f.body)));
    return { seconds, cpu: cpu() };
  });
}

export async function runOverlap(): Promise<OverlapRun> {
  const { whole, parts } = await mixedRows(ROWS, MANY_FILES);
  const one: { seconds: number; cpu: StackCpu }[] = [];
  const many: { seconds: number; cpu: StackCpu }[] = [];
  for (let i = 0; i < RUNS; i++) {
    one.push(await measured([{ key: 'one/whole.csv', body: whole }]));
    many.push(await measured(parts.map((body, i) => ({ key: `many/part-${i}.csv`, body }))));
  }
  const bigPath = join(OUT, `mixed-${BIG_MB}MB.csv`);
  await generateShape('mixed', bigPath, BIG_MB * 1e6);
  const lines = parts[0].toString('utf8').split('\n');
  const smallBody = Buffer.from(lines.slice(0, 1_001).join('\n') + '\n');
  const { bigFileSeconds, smallFileSeconds } = await withStack(async (t) => {
    const started = Date.now();
    await t.s3.fPutObject('incoming', 'big/large.csv', bigPath);
    const bigEtag = (await t.s3.statObject('incoming', 'big/large.csv')).etag;
    const smallFileSeconds = await outcomesOf(t, Date.now(), [put(t, 'big/small.csv', smallBody)]);
    const bigFileSeconds = await outcomesOf(t, started, [Promise.resolve({ key: 'big/large.csv', etag: bigEtag })]);
    return { smallFileSeconds, bigFileSeconds };
  });
  return { oneFileRuns: one.map((r) => r.seconds), manyFilesRuns: many.map((r) => r.seconds), oneFileCpu: one.map((r) => r.cpu), manyFilesCpu: many.map((r) => r.cpu), bigFileMB: statSync(bigPath).size / 1e6, bigFileSeconds, smallFileSeconds };
}

export function overlapTable(r: OverlapRun): string {
  const best = (runs: number[]) => Math.min(...runs);
  const median = (runs: number[]) => [...runs].sort((a, b) => a - b)[runs.length >> 1];
  const each = (runs: number[]) => runs.map((s) => s.toFixed(1)).join(' / ');
  return [
    `| what | seconds (best of ${r.oneFileRuns.length}; each run) | goal |`,
    '|---|---|---|',
    `| one 1,000,000-row mixed file: upload → outcome | ${best(r.oneFileRuns).toFixed(1)} (${each(r.oneFileRuns)}) | – |`,
    `| the same rows as ${MANY_FILES} × ${(ROWS / MANY_FILES).toLocaleString('en')}-row files uploaded at once: first upload → last outcome | ${best(r.manyFilesRuns).toFixed(1)} (${each(r.manyFilesRuns)}): ${(best(r.manyFilesRuns) / best(r.oneFileRuns)).toFixed(2)}× best to best, ${(median(r.manyFilesRuns) / median(r.oneFileRuns)).toFixed(2)}× median to median | ≤ 1.1× |`,
    `| a ${r.bigFileMB.toFixed(0)} MB mixed file: upload start → outcome | ${r.bigFileSeconds.toFixed(1)} | – |`,
    `| a 1,000-row file uploaded right after it: upload → outcome | ${r.smallFileSeconds.toFixed(1)} | ≤ 2 s |`,
    '',
    cpuLine(r),
  ].join('\n');
}

/** Where the 50 files' extra time goes: each process's CPU seconds in the best run of each measure. */
function cpuLine(r: OverlapRun): string {
  const bestOf = (runs: number[], cpu: StackCpu[]) => cpu[runs.indexOf(Math.min(...runs))];
  const one = bestOf(r.oneFileRuns, r.oneFileCpu);
  const many = bestOf(r.manyFilesRuns, r.manyFilesCpu);
  const total = (c: StackCpu) => c.stack + Object.values(c.functions).reduce((a, b) => a + b, 0);
  const pair = (a: number, b: number) => `${a.toFixed(1)} → ${b.toFixed(1)}`;
  const parts = [`this process (the embedded S3, gateway and bridge, and the uploads) ${pair(one.stack, many.stack)}`, ...Object.keys(one.functions).map((f) => `${f} ${pair(one.functions[f], many.functions[f])}`)];
  const perFile = ((total(many) - total(one)) / MANY_FILES) * 1000;
  return (
    `CPU seconds in the best run of each, one file → ${MANY_FILES} files (/proc): ${parts.join(', ')}; all ${pair(total(one), total(many))}, ` +
    `${perFile.toFixed(0)} ms more a file; the machine's cores busy ${(100 * one.machineBusy).toFixed(0)}% → ${(100 * many.machineBusy).toFixed(0)}% of the time.`
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${overlapTable(await runOverlap())}\n`);
  process.exit(0);
}
