/**
 * `npm run bench`: speed and memory, measured on this machine (not asserted in tests).
 * 1. CSV: files of several shapes like users' exports (bench/shapes.ts), 100 MB and 1 GB by
 *    default (flags below), each measured in fresh processes: bare papaparse, this transform
 *    (NDJSON out, as on the wire; clean CSV out; through the local gateway), uDSV, Python's csv,
 *    DuckDB; the worst shape of each peer summed up.
 * 1b. Cold start: spawn → ready of each function against a bare Node server, in the same run.
 * 2. Pipeline: upload → manifest through the local stack, peak RSS of each function process.
 * 3. Power BI push URL: 20,000 rows against the emulator's limits: requests, wall time vs the
 *    minimum the limits allow, server-side 429s.
 * 5. Parquet: the typed rows into Parquet (the writer publish uses) vs DuckDB's own
 *    `COPY … TO '….parquet'`, on a seed-shaped file and a file of every type; publish's peak RSS
 *    with Parquet on and off is in section 2.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { createLogger } from '../shared/runtime/log.js';
import { PowerBiPushSink } from '../shared/sinks/powerbi/push-url.js';
import { getJson } from '../shared/storage/s3.js';
import type { DatasetHeader, Row } from '../shared/dataset/contract.js';
import { startTestStack } from '../test/helpers.js';
import { startEmulator } from '../dev/powerbi/server.js';
import { PYTHON_PEAK_RSS_MB } from './peak-rss.mjs';
import { generateShape, DELIMITER, SHAPES, type Shape } from './shapes.js';
import { COLD_START_HEADER, coldStartRows, measureColdStart } from './cold-start.js';
import { parseArgs } from 'node:util';
import { generate, generateTyped } from './generate.js';
import { startEmbeddedS3 } from '../dev/embedded-s3.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../shared/storage/config.js';
import { buildImage, dockerAvailable, ensureBaseImage, imageOf, runContainer } from '../dev/images.js';
import type { ChildProcess } from 'node:child_process';

const BENCH_PORT = 18_799;

/** Start a process, poll until `path` answers 2xx, stop it; best and median of 5. */
async function startToFirst2xx(start: () => ChildProcess, path: string): Promise<{ best: number; median: number; nodeBest?: number; nodeMedian?: number }> {
  const times: number[] = [];
  const nodeTimes: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const child = start();
    // The function's own ready line says how long node took from process start to listening.
    child.stdout?.on('data', (b: Buffer) => {
      const m = /"msg":"ready".*"startMs":(\d+)/.exec(b.toString());
      if (m) nodeTimes.push(Number(m[1]));
    });
    for (;;) {
      const ok = await request(`http://127.0.0.1:${BENCH_PORT}${path}`).then(
        async (r) => (await r.body.dump(), r.statusCode < 300),
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    times.push(performance.now() - t0);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  times.sort((a, b) => a - b);
  nodeTimes.sort((a, b) => a - b);
  return { best: times[0], median: times[2], nodeBest: nodeTimes[0], nodeMedian: nodeTimes[Math.floor(nodeTimes.length / 2)] };
}
import { bundleEntry } from '../dev/build.js';
import { NODE_RUNTIME_FLAGS } from '../shared/runtime/flags.js';
import { examplePath } from '../test/kit.js';
import { canLimitPods, inPod, podLimits } from '../dev/pod-resources.js';

const OUT = 'bench/out';
mkdirSync(OUT, { recursive: true });
// The worker is bundled with the project's one bundler, so it runs on plain node (no loader in the measured process).
await bundleEntry(resolve('bench/worker.ts'), resolve('bench/out/worker.mjs'), 'esm');
// Flags (or the same in the environment): --sizes=100,1000 (MB; BENCH_SIZES), --shapes=mixed,wide
// (BENCH_SHAPES), --runs=3 (BENCH_RUNS), --peers=transform,duckdb-1 (BENCH_PEERS; papaparse always
// runs: it is the ratio's base), --sections=csv,coldstart,parquet,pipeline,powerbi,images,replicas,overlap (BENCH_SECTIONS; replicas and
// overlap take minutes, so they run only when named).
// A quick run: `npm run bench -- --sizes=10 --runs=1 --sections=csv`.
const { values: flags } = parseArgs({ options: { sizes: { type: 'string' }, shapes: { type: 'string' }, runs: { type: 'string' }, peers: { type: 'string' }, sections: { type: 'string' }, 'cold-runs': { type: 'string' } } });
const sizes = (flags.sizes ?? process.env.BENCH_SIZES ?? '100,1000').split(',').map(Number);
const shapes = (flags.shapes ?? process.env.BENCH_SHAPES ?? SHAPES.join(',')).split(',') as Shape[];
for (const s of shapes) if (!SHAPES.includes(s)) throw new Error(`unknown shape ${s} (one of ${SHAPES.join(', ')})`);
const runs = Number(flags.runs ?? process.env.BENCH_RUNS ?? 3);
const coldRuns = Number(flags['cold-runs'] ?? 10);
const peerList = flags.peers ?? process.env.BENCH_PEERS;
const peerFilter = peerList ? new Set(peerList.split(',')) : undefined;
const sections = new Set((flags.sections ?? process.env.BENCH_SECTIONS ?? 'csv,coldstart,parquet,pipeline,powerbi,images').split(','));
const want = (section: string) => sections.has(section);
const lines: string[] = [];
const say = (s = '') => {
  process.stdout.write(s + '\n');
  lines.push(s);
};

function worker(mode: string, file: string, delimiter = ','): { seconds: number; cpuSeconds: number; rows: number; maxRssMB: number; outBytes?: number } {
  // Same V8 flags as the image; a bundled worker so no loader runs in the measured process.
  const out = execFileSync(process.execPath, [...NODE_RUNTIME_FLAGS, 'bench/out/worker.mjs', mode, file, delimiter], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

/**
 * The same worker in transform's pod memory limit (knative/transform.yaml; root and cgroups, see
 * dev/pod-resources.ts): Node sizes V8's heap from that limit as it does in the container, so this
 * is the peak RSS a deployed transform reaches. The CPU is not limited here (the CPU ratio covers it).
 */
const TRANSFORM_POD_MIB = podLimits(resolve('.'), 'transform').memoryBytes / 1048576;
const podMemory = canLimitPods(['memory']);
function workerInPod(mode: string, file: string, delimiter = ','): ReturnType<typeof worker> {
  const pod = inPod('transform', ['memory'], [process.execPath, ...NODE_RUNTIME_FLAGS, 'bench/out/worker.mjs', mode, file, delimiter]);
  try {
    return JSON.parse(execFileSync(pod.file, pod.args, { encoding: 'utf8', maxBuffer: 1 << 20 }).trim().split('\n').pop()!);
  } finally {
    pod.cleanUp();
  }
}

function has(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

say(`# mini-pipeline bench — ${new Date().toISOString()} — node ${process.version}, ${(await import('node:os')).cpus().length} cores`);
say('');
if (want('csv')) {
say(`## 1. CSV transform, one core per process (each figure: the best of ${runs} fresh processes, peers interleaved in the same run; file in page cache; every reader takes 64 KiB at a time)`);
say('');
// Debian's python3 (csv module always; pandas when python3-pandas is installed); DuckDB through @duckdb/node-api.
const python = ['/usr/bin/python3', 'python3'].find((p) => has(p, ['-c', 'import csv']));
const pandas = !!python && has(python, ['-c', 'import pandas']);
const duckdb = has(process.execPath, ['-e', "require.resolve('@duckdb/node-api')"]);
const PY_CSV = PYTHON_PEAK_RSS_MB + "import csv, sys, json, time\nt=time.perf_counter(); n=0\nw=csv.writer(open('/dev/null','w',newline=''))\nfor row in csv.reader(open(sys.argv[1], newline='', encoding='utf-8-sig'), delimiter=sys.argv[2]):\n  w.writerow(row); n+=1\nprint(json.dumps({'seconds': time.perf_counter()-t, 'rows': n, 'maxRssMB': peak_rss_mb()}))";
const PY_PANDAS = PYTHON_PEAK_RSS_MB + "import pandas as pd, sys, json, time\nt=time.perf_counter(); d=pd.read_csv(sys.argv[1], sep=sys.argv[2]); d.to_csv('/dev/null', index=False)\nprint(json.dumps({'seconds': time.perf_counter()-t, 'rows': len(d), 'maxRssMB': peak_rss_mb()}))";
/** cpuSeconds: the process's CPU time (the Node workers report it; the others do not). */
type Result = { seconds: number; cpuSeconds?: number; rows: number; maxRssMB: number };
type Peer = { mode: string; label: string; run: (file: string, delimiter: string) => Result | Promise<Result>; maxMb?: number };
// What a user gets: the ad-hoc POST of the file through the local gateway (Go-like, half duplex:
// the answer is held in a temp file until the body has been read whole), NDJSON or CSV back, to the last byte. One stack
// for the whole section (its processes are not fresh for each run); peak RSS is transform's.
const GATEWAY_MAX_MB = 100;
let gatewayStack: Awaited<ReturnType<typeof startTestStack>> | undefined;
async function viaGateway(file: string, accept: string): Promise<Result> {
  // Each function in its pod's memory limit when this machine allows it (startTestStack's default: as deployed, V8 sized from the limit).
  gatewayStack ??= await startTestStack({ LOG_LEVEL: 'warn', POWERBI_ENABLED: 'false', CSV_MAX_REJECT_RATIO: '1' });
  const { createReadStream } = await import('node:fs');
  const t0 = performance.now();
  const res = await request(`${gatewayStack.stack.gateway.url}/function/transform`, {
    method: 'POST',
    reset: true, // a fresh connection: minutes pass between two of these, and a kept-alive one may be closed under a streamed body
    body: createReadStream(file, { highWaterMark: 64 * 1024 }),
    headers: { accept, 'content-type': 'text/csv', 'content-length': String(statSync(file).size) },
  });
  let rows = accept === 'text/csv' ? -1 : -2; // lines but the header (and the NDJSON trailer)
  for await (const chunk of res.body as AsyncIterable<Buffer>) for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++;
  if (res.statusCode !== 200) throw new Error(`ad-hoc through the gateway: HTTP ${res.statusCode}`);
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, rows, maxRssMB: gatewayStack.stack.functions.get('transform')!.peakRss() / 1048576 };
}
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').pop()!);
const duck = (threads: number) => (f: string, d: string) => lastJson(execFileSync(process.execPath, ['bench/duckdb.mjs', f, d, String(threads)], { encoding: 'utf8', maxBuffer: 1 << 20 }));
const allPeers: Peer[] = [
  { mode: 'floor', label: 'floor: Node read + UTF-8 decode', run: (f) => worker('floor', f) },
  { mode: 'papaparse-stream', label: 'bare papaparse, stream input (arrays, no typing)', run: (f, d) => worker('papaparse-stream', f, d) },
  { mode: 'papaparse-parser', label: 'bare papaparse, its Parser fed 64 KiB strings', run: (f, d) => worker('papaparse-parser', f, d) },
  { mode: 'transform', label: '**transform worker → NDJSON dataset**', run: (f) => worker('transform', f) },
  { mode: 'transform-csv', label: 'transform worker → clean CSV (from bytes)', run: (f) => worker('transform-csv', f) },
  { mode: 'transform-csv-strings', label: 'transform worker → clean CSV (string path, as before)', run: (f) => worker('transform-csv-strings', f) },
  ...(podMemory
    ? [
        { mode: 'transform-pod', label: `**transform worker → NDJSON, in its pod's ${TRANSFORM_POD_MIB} MiB memory limit** (as deployed)`, run: (f: string) => workerInPod('transform', f) },
        { mode: 'papaparse-pod', label: `bare papaparse (parser) in the same ${TRANSFORM_POD_MIB} MiB limit (not the ratio's base)`, run: (f: string, d: string) => workerInPod('papaparse-parser', f, d) },
      ]
    : []),
  { mode: 'gateway', label: `transform → NDJSON through the local gateway (ad-hoc POST; one stack, not fresh${podMemory ? `; functions in their pods' memory limits` : ''})`, run: (f) => viaGateway(f, 'application/x-ndjson'), maxMb: GATEWAY_MAX_MB },
  { mode: 'gateway-csv', label: 'transform → CSV answer through the local gateway', run: (f) => viaGateway(f, 'text/csv'), maxMb: GATEWAY_MAX_MB },
  { mode: 'udsv-strings', label: 'uDSV 0.7.3, string arrays (no typing)', run: (f, d) => worker('udsv-strings', f, d) },
  { mode: 'udsv-typed', label: 'uDSV 0.7.3, typed arrays (its own inferred types)', run: (f, d) => worker('udsv-typed', f, d) },
  ...(python ? [{ mode: 'python-csv', label: 'Python csv reader → writer (no typing)', run: (f: string, d: string) => lastJson(execFileSync(python, ['-c', PY_CSV, f, d], { encoding: 'utf8' })) }] : []),
  ...(pandas ? [{ mode: 'pandas', label: 'pandas read_csv + to_csv (typed, whole file in memory)', run: (f: string, d: string) => lastJson(execFileSync(python!, ['-c', PY_PANDAS, f, d], { encoding: 'utf8' })), maxMb: 1000 }] : []),
  ...(duckdb
    ? [
        { mode: 'duckdb-1', label: 'DuckDB read_csv (typed) → NDJSON, 1 thread', run: duck(1) },
        { mode: 'duckdb-2', label: 'DuckDB read_csv (typed) → NDJSON, 2 threads', run: duck(2) },
      ]
    : []),
];
const peers = allPeers.filter((p) => !peerFilter || peerFilter.has(p.mode) || p.mode.startsWith('papaparse'));
if (!podMemory) say(`(Not measured in transform's pod memory limit: that needs root and a writable memory cgroup.)`);
say(`Shapes (bench/shapes.ts, seeded): ${shapes.join(', ')}. Peers: Python csv ${python ? 'yes' : 'no python3'}; pandas ${pandas ? 'yes' : 'not installed (apt-get install python3-pandas)'}; DuckDB ${duckdb ? 'yes (@duckdb/node-api)' : 'no'}. The ratio is to the faster of the two bare papaparse configurations on the same file (higher is faster).`);
say('');
say('The CPU ratio is bare papaparse\'s best CPU time ÷ the peer\'s (the Node workers\' own processes; GC threads included): on a machine shared with other work it moves less than the wall time.');
say('');
say('| shape | file | what | MB/s | ratio to bare papaparse | CPU ratio | peak RSS MB |');
say('|---|---|---|---|---|---|---|');
const worst = new Map<string, { shape: string; mb: number; ratio: number; rss: number; cpuShape: string; cpu: number }>();
for (const mb of sizes) {
  for (const shape of shapes) {
    const file = join(OUT, `${shape}-${mb}MB.csv`);
    await generateShape(shape, file, mb * 1_000_000);
    const delimiter = DELIMITER[shape];
    const bytes = statSync(file).size;
    const here = peers.filter((p) => !p.maxMb || mb <= p.maxMb);
    const best = new Map<string, { seconds: number; cpuSeconds: number; maxRssMB: number }>();
    for (let i = 0; i < runs; i++) {
      for (const p of here) {
        const r = await p.run(file, delimiter);
        const b = best.get(p.mode) ?? { seconds: Infinity, cpuSeconds: Infinity, maxRssMB: 0 };
        best.set(p.mode, { seconds: Math.min(b.seconds, r.seconds), cpuSeconds: Math.min(b.cpuSeconds, r.cpuSeconds ?? NaN), maxRssMB: Math.max(b.maxRssMB, r.maxRssMB) });
      }
    }
    const mbps = (mode: string) => bytes / 1e6 / best.get(mode)!.seconds;
    const bare = Math.max(mbps('papaparse-stream'), mbps('papaparse-parser'));
    const bareCpu = Math.min(best.get('papaparse-stream')!.cpuSeconds, best.get('papaparse-parser')!.cpuSeconds);
    for (const p of here) {
      const ratio = mbps(p.mode) / bare;
      const cpu = bareCpu / best.get(p.mode)!.cpuSeconds;
      say(`| ${shape} | ${mb} MB | ${p.label} | ${mbps(p.mode).toFixed(1)} | ${ratio.toFixed(2)}× | ${Number.isNaN(cpu) ? '–' : `${cpu.toFixed(2)}×`} | ${best.get(p.mode)!.maxRssMB.toFixed(0)} |`);
      const w = worst.get(`${p.mode} ${mb}`) ?? { shape, mb, ratio, rss: 0, cpuShape: shape, cpu };
      if (ratio <= w.ratio) Object.assign(w, { shape, ratio });
      if (cpu <= w.cpu) Object.assign(w, { cpuShape: shape, cpu });
      w.rss = Math.max(w.rss, best.get(p.mode)!.maxRssMB);
      worst.set(`${p.mode} ${mb}`, w);
    }
  }
}
await gatewayStack?.stop();
say('');
say('Worst shape per peer (the figure the README reports):');
say('');
say('| what | file | worst shape | ratio | worst CPU ratio (shape) | peak RSS MB (any shape) |');
say('|---|---|---|---|---|---|');
for (const [key, w] of worst) say(`| ${peers.find((p) => p.mode === key.split(' ')[0])!.label} | ${w.mb} MB | ${w.shape} | ${w.ratio.toFixed(2)}× | ${Number.isNaN(w.cpu) ? '–' : `${w.cpu.toFixed(2)}× (${w.cpuShape})`} | ${w.rss.toFixed(0)} |`);
}
if (want('coldstart')) {
  say('');
  say(`## 1b. Cold start on this machine (the bundle with its code cache written as the image writes it; spawn → first 2xx, best / median of ${coldRuns}, interleaved with a bare Node HTTP server)`);
  say('');
  for (const line of COLD_START_HEADER) say(line);
  const r = await measureColdStart({ runs: coldRuns, port: BENCH_PORT, dir: resolve(OUT), functions: ['webhook', 'transform', 'publish'] });
  for (const row of coldStartRows(r)) say(row);
}
if (want('parquet')) {
say('');
say('## 5. Parquet (each figure: the best of BENCH_RUNS fresh processes, peers interleaved; MB/s of CSV read; one thread)');
say('');
const runs = Number(process.env.BENCH_RUNS ?? 3);
const pqMb = Number(process.env.BENCH_PARQUET_MB ?? 100);
const files = [
  { shape: 'seed-shaped (11 columns: integers, text, decimals)', file: (await (async () => { const f = join(OUT, `seed-${pqMb}MB.csv`); await generate(f, pqMb * 1_000_000); return f; })()) },
  { shape: 'every type (7 columns: integer, text, pt-BR decimal, date, date-time, boolean, text with quotes)', file: (await generateTyped(join(OUT, `typed-${pqMb}MB.csv`), pqMb * 1_000_000)).path },
];
const duck = (f: string) => JSON.parse(execFileSync(process.execPath, ['bench/duckdb.mjs', f, '', '1', 'parquet'], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim().split('\n').pop()!);
const pqPeers = [
  { mode: 'transform-csv', label: 'transform → clean CSV (for reference: no Parquet)', run: (f: string) => worker('transform-csv', f) },
  { mode: 'transform-parquet', label: 'transform → Parquet (hyparquet-writer, row groups of 131,072 cells, snappy)', run: (f: string) => worker('transform-parquet', f) },
  { mode: 'duckdb-parquet', label: "DuckDB read_csv (typed) → COPY TO '….parquet', 1 thread", run: duck },
];
say('| file | what | MB/s | ratio to DuckDB | peak RSS MB | output MB | rows |');
say('|---|---|---|---|---|---|---|');
for (const { shape, file } of files) {
  const bytes = statSync(file).size;
  const best = new Map<string, { seconds: number; maxRssMB: number; outBytes: number; rows: number }>();
  for (let i = 0; i < runs; i++) {
    for (const p of pqPeers) {
      const r = p.run(file);
      const b = best.get(p.mode);
      if (!b || r.seconds < b.seconds) best.set(p.mode, { seconds: r.seconds, maxRssMB: Math.max(r.maxRssMB, b?.maxRssMB ?? 0), outBytes: r.outBytes ?? 0, rows: r.rows });
    }
  }
  rmSync(`${file}.bench.parquet`, { force: true });
  const mbps = (mode: string) => bytes / 1e6 / best.get(mode)!.seconds;
  for (const p of pqPeers) {
    const b = best.get(p.mode)!;
    say(`| ${(bytes / 1e6).toFixed(0)} MB ${shape} | ${p.label} | ${mbps(p.mode).toFixed(1)} | ${(mbps(p.mode) / mbps('duckdb-parquet')).toFixed(2)}× | ${b.maxRssMB.toFixed(0)} | ${(b.outBytes / 1e6).toFixed(1)} | ${b.rows.toLocaleString('en')} |`);
  }
}
say('');
say("Rows differ: transform rejects rows that do not fit a column's type (and DuckDB, with ignore_errors, skips or keeps them as text). Peak RSS is the whole process (the transform's own share is in the clean-CSV row).");
// The writer alone, at the 1 GB file's size: its footer is the part that grows with the file.
const probes = Array.from({ length: runs }, () => worker('parquet-writer', files[0].file));
const rss = probes.map((p) => p.maxRssMB);
say('');
say(`Writer alone (worker mode \`parquet-writer\`: ${probes[0].rows.toLocaleString('en')} seed-shaped rows, the 1 GB file's, cycled from the file's first 20,000; ${((probes[0].outBytes ?? 0) / 1e6).toFixed(0)} MB of Parquet; no memory limit): peak RSS ${Math.min(...rss).toFixed(0)} MB (lowest of ${runs}; highest ${Math.max(...rss).toFixed(0)} MB), ${Math.min(...probes.map((p) => p.seconds)).toFixed(0)} s.`);
}
if (want('pipeline')) {
say('');
say('## 2. Pipeline on one machine (embedded S3, gateway, three processes)');
say('');
{
  const { stack, s3, stop } = await startTestStack({ LOG_LEVEL: 'warn' });
  try {
    // 2a. The 10,000-row seed file to the Power BI emulator.
    const seed = readFileSync(examplePath('mock_10000_linhas.csv'));
    const t0 = performance.now();
    await s3.putObject('incoming', 'seed.csv', seed, seed.length);
    let lastRowMs = 0;
    let manifestMs = 0;
    for (;;) {
      const res = await request(`${stack.emulator!.url}/_emulator/datasets`);
      const ds = ((await res.body.json()) as { value: { rowCount: number }[] }).value[0];
      if (!manifestMs && (await getJson(s3, 'processed', 'manifests/seed.csv.json'))) manifestMs = performance.now() - t0;
      if (ds.rowCount >= 10_000 && !lastRowMs) lastRowMs = performance.now() - t0;
      if (lastRowMs && manifestMs) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const cleanedAt = await getJson<{ timings: { outputBucketMs: number } }>(s3, 'processed', 'manifests/seed.csv.json');
    say(`- 10,000-row seed file (${seed.length} bytes): upload → last row in the Power BI emulator ${(lastRowMs / 1000).toFixed(2)} s; → manifest ${(manifestMs / 1000).toFixed(2)} s; cleaned CSV in the output bucket after ${cleanedAt?.timings.outputBucketMs} ms of publish (the rest is the push URL's 5 requests/s × 15 KB).`);
    say(`- peak RSS during it: ${[...stack.functions.values()].map((f) => `${f.name} ${(f.peakRss() / 1048576).toFixed(0)} MB`).join(', ')}`);
  } finally {
    await stop();
  }
}
// The big files run each function in a memory cgroup with the manifests' limit (256 MiB), as a
// container does: Node then sizes V8's heap from that limit, as it does on the platforms (on this
// 24 GiB machine it would allow a 4 GiB heap, and garbage would pile up that a pod never holds).
const memoryLimitMb = Number(process.env.BENCH_MEMORY_LIMIT_MB ?? 256);
const ownMemoryCgroup = (() => {
  try {
    const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => /^\d+:memory:/.test(l));
    const dir = line ? `/sys/fs/cgroup/memory${line.split(':')[2]}` : '/sys/fs/cgroup';
    return existsSync(join(dir, 'cgroup.procs')) ? dir : undefined;
  } catch {
    return undefined;
  }
})();
function limitedLauncher(): { launcher?: (name: string, env: Record<string, string>) => ChildProcess; note: string } {
  if (!memoryLimitMb || !ownMemoryCgroup) return { note: 'no memory limit (no writable memory cgroup here)' };
  const v1 = existsSync(join(ownMemoryCgroup, 'memory.limit_in_bytes'));
  return {
    note: `each function in a memory cgroup of ${memoryLimitMb} MiB`,
    launcher: (name, env) => {
      const dir = join(ownMemoryCgroup, `mini-pipeline-bench-${name}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, v1 ? 'memory.limit_in_bytes' : 'memory.max'), String(memoryLimitMb * 1048576));
      return spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$1" "$2"', dir, process.execPath, resolve(`dist/${name}/index.cjs`)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    },
  };
}
// Each size with Parquet off and on (OUTPUT_FORMATS=csv, then csv,parquet): publish's peak RSS side by side.
for (const mb of sizes) for (const formats of (process.env.BENCH_PIPELINE_FORMATS ?? 'csv;csv,parquet').split(';')) {
  const limited = limitedLauncher();
  const { stack, s3, stop } = await startTestStack({ LOG_LEVEL: 'warn', POWERBI_ENABLED: 'false', CSV_MAX_REJECT_RATIO: '1', OUTPUT_FORMATS: formats }, limited.launcher ? { launcher: limited.launcher as never } : {});
  try {
    const file = join(OUT, `seed-${mb}MB.csv`);
    await generateShape('seed', file, mb * 1_000_000);
    const size = statSync(file).size;
    const { createReadStream } = await import('node:fs');
    const t0 = performance.now();
    await s3.putObject('incoming', `big-${mb}.csv`, createReadStream(file), size);
    const up = performance.now() - t0;
    let manifest: { stats: { rowsOut: number; rowsRejected: number }; timings: { totalMs: number } } | undefined;
    while (!(manifest = await getJson(s3, 'processed', `manifests/big-${mb}.csv.json`))) await new Promise((r) => setTimeout(r, 200));
    const total = performance.now() - t0;
    say(`- ${mb} MB file, OUTPUT_FORMATS=${formats}, Power BI off, ${limited.note}: upload ${(up / 1000).toFixed(1)} s, upload → manifest ${(total / 1000).toFixed(1)} s, ${manifest.stats.rowsOut.toLocaleString('en')} rows out, ${manifest.stats.rowsRejected} rejected; peak RSS ${[...stack.functions.values()].map((f) => `${f.name} ${(f.peakRss() / 1048576).toFixed(0)} MB`).join(', ')}`);
  } finally {
    await stop();
  }
}

}
if (want('powerbi')) {
say('');
say('## 3. Power BI push URL against the emulator limits (15 KB, 5 requests/s)');
say('');
{
  const em = await startEmulator({ port: 0 });
  const ds = em.state.createDataset({ name: 'bench', mode: 'Streaming' });
  const sink = new PowerBiPushSink({ url: em.state.pushUrl(ds, em.url), maxRequestBytes: 15360, requestsPerSecond: 5, timeoutMs: 30_000, maxRetries: 5, log: createLogger({ fn: 'bench' }, { level: 'error' }) });
  const header: DatasetHeader = {
    type: 'header',
    version: 1,
    source: { kind: 'adhoc', name: 'bench' },
    dialect: { encoding: 'utf-8', bom: false, delimiter: ',', newline: '\n' },
    schema: { columns: ['id_cliente', 'idade', 'genero', 'estado_civil', 'renda_mensal'].map((n, i) => ({ name: n, sourceName: n, type: i === 2 || i === 3 ? 'text' : 'integer', nullable: true, origin: 'inferred' as const })) },
    startedAt: new Date().toISOString(),
  };
  async function* rows(): AsyncGenerator<Row[]> {
    for (let b = 0; b < 20; b++) yield Array.from({ length: 1000 }, (_, i) => [b * 1000 + i, 30, 'F', 'Casado', 5000 + i]);
  }
  const t0 = performance.now();
  const result = await sink.deliver({ header, rows: rows(), startAt: 0, onAck: async () => undefined });
  const wall = (performance.now() - t0) / 1000;
  const min = (result.requests - 1) / 5; // 5 starts per rolling second: the first is free
  const refused = em.state.datasets.get(ds.id)!.refused;
  say(`- 20,000 rows: ${result.requests} requests, wall ${wall.toFixed(2)} s, minimum the limits allow ${min.toFixed(2)} s (${((wall / min - 1) * 100).toFixed(1)}% above), server-side 429s: ${refused['429'] ?? 0}, rows stored ${em.state.datasets.get(ds.id)!.rows.length}`);
  // REST: 250,000 rows (25 requests of 10,000). The limits impose no wait at this size
  // (≤ 120 requests a minute, ≤ 1M rows an hour): the minimum is the service's own time.
  const client = em.rest.registerClient({ tenantId: 't', groups: ['g'] });
  const { PowerBiRestSink } = await import('../shared/sinks/powerbi/rest/sink.js');
  const { EntraTokenProvider } = await import('../shared/sinks/powerbi/entra-token.js');
  for (const sequenceNumbers of [false, true]) {
    const rds = em.rest.createDataset('g', { name: `rest-${sequenceNumbers}`, tables: [{ name: 'T', columns: header.schema.columns.map((c) => ({ name: c.name, dataType: c.type === 'integer' ? 'Int64' : 'String' })) }] }, 'None');
    const rest = new PowerBiRestSink({ apiUrl: em.url, groupId: 'g', datasetId: rds.id, table: 'T', tokens: new EntraTokenProvider({ authorityUrl: em.url, tenantId: 't', clientId: client.clientId, clientSecret: client.secret }), sequenceNumbers, columnMap: {}, maxRowsPerFile: 1_000_000, bigTable: false, timeoutMs: 30_000, maxRetries: 5, log: createLogger({ fn: 'bench' }, { level: 'error' }) });
    async function* many(): AsyncGenerator<Row[]> {
      for (let b = 0; b < 250; b++) yield Array.from({ length: 1000 }, (_, i) => [b * 1000 + i, 30, 'F', 'Casado', 5000 + i]);
    }
    const r0 = performance.now();
    const rr = await rest.deliver({ header, rows: many(), startAt: 0, onAck: async () => undefined });
    say(`- REST, 250,000 rows, sequence numbers ${sequenceNumbers ? 'on (1 in flight)' : 'off (5 in flight)'}: ${rr.requests} requests in ${((performance.now() - r0) / 1000).toFixed(2)} s (the limits impose no wait at this size), server-side 429s: ${rds.refused['429'] ?? 0}, rows stored ${rds.tables.get('T')!.rows.length}`);
  }
  await em.close();
}
}
if (want('images')) {
say('');
say('## 4. Images and container cold start (knative target, read-only root, uid 10001; best of 5 fresh containers)');
say('');
if (!dockerAvailable()) {
  say('- no Docker engine running: skipped (start one with `bash dev/docker-up.sh`)');
} else {
  ensureBaseImage();
  // Functions are ready once their store answers: an embedded one for the measurement.
  const benchS3Dir = join(OUT, 'cold-start-s3');
  rmSync(benchS3Dir, { recursive: true, force: true });
  const benchS3 = await startEmbeddedS3({ directory: benchS3Dir, accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
  say('| function | image size | bundle | `docker run` → first 2xx on /_/ready (best / median of 5) | node start → ready inside the container (best / median) | ratio to a bare node HTTP server in the same container |');
  say('|---|---|---|---|---|---|');
  // The peer: a bare node HTTP server in the same image, container and flags, reporting its start the same way.
  const BARE = "process.on('SIGTERM', () => process.exit(0)); require('node:http').createServer((q, r) => r.end('ok')).listen(Number(process.env.PORT), () => console.log(JSON.stringify({ msg: 'ready', startMs: Math.round(process.uptime() * 1000) })))";
  const bare = await startToFirst2xx(() => runContainer('transform', { PORT: String(BENCH_PORT) }, { command: ['node', '-e', BARE] }), '/');
  say(`| bare node HTTP server (same image) | | | ${bare.best.toFixed(0)} / ${bare.median.toFixed(0)} ms | ${bare.nodeBest} / ${bare.nodeMedian} ms | 1.00 |`);
  for (const fn of ['webhook', 'transform', 'publish']) {
    const { bytes } = buildImage(fn);
    const bundleBytes = Number(execFileSync('docker', ['run', '--rm', '--network', 'none', '--entrypoint', 'stat', imageOf(fn), '-c', '%s', '/home/app/function.cjs'], { encoding: 'utf8' }).trim());
    const times = await startToFirst2xx(() => runContainer(fn, { PORT: String(BENCH_PORT), S3_ENDPOINT: benchS3.url, WEBHOOK_TOKEN: 'bench-token-0123456789', INTERNAL_TOKEN: 'bench-internal-token-0123', LOG_LEVEL: 'error', DRAIN_SECONDS: '0' }), '/_/ready');
    say(`| ${fn} | ${(bytes / 1024 / 1024).toFixed(0)} MiB | ${(bundleBytes / 1024).toFixed(0)} KiB | ${times.best.toFixed(0)} / ${times.median.toFixed(0)} ms | ${times.nodeBest} / ${times.nodeMedian} ms | ${(times.nodeBest! / bare.nodeBest!).toFixed(2)} |`);
  }
  await benchS3.close();
  say('');
  say('`docker run` → first 2xx includes Docker creating the container and its mounts; "node start → ready" is `process.uptime()` when the function listens, as the function reports it.');
}

}
if (sections.has('replicas')) {
  // Publish across replicas: one Power BI budget per target (bench/replicas.ts).
  const { runReplicas, replicasTable } = await import('./replicas.js');
  const runs = [];
  for (const targets of [1, 3]) for (const replicas of [1, 2, 3]) runs.push(await runReplicas(replicas, targets));
  say('## Publish across replicas: one Power BI budget per target (strict push-URL stand-in, 5 POSTs a second per dataset)');
  say('');
  say(replicasTable(runs));
  say('');
}
if (sections.has('overlap')) {
  // Whether files overlap in the local pipeline (bench/overlap.ts; OVERLAP_RUNS, default 3; OVERLAP_BIG_MB, default 1000).
  const { runOverlap, overlapTable } = await import('./overlap.js');
  say('## Files that overlap: many small files against one, a small file behind a large one (output bucket only, one process per function)');
  say('');
  say(overlapTable(await runOverlap()));
  say('');
}
writeFileSync(join(OUT, 'results.md'), lines.join('\n') + '\n');
say('');
say(`(written to ${OUT}/results.md)`);
