/**
 * Cold start on this machine, as the image runs a function: the bundle (`index.cjs` + `function.cjs`)
 * with its code cache written as the image writes it (`CODE_CACHE=write`), then fresh processes
 * timed from spawn to the first 2xx on `/_/ready` (and `/_/health`), against a bare Node HTTP
 * server's spawn to its first 2xx, interleaved in the same run, and the CPU time each process had
 * used by then (Linux: /proc/<pid>/task/<tid>/schedstat, all threads; steadier than wall time on a
 * shared machine, where a start also waits for a core). `--cpu-prof` runs say where the time goes
 * (`npm run bench -- --sections=coldstart --cpu-prof`).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { bundleFunction, ENTRIES } from '../dev/build.js';
import { startEmbeddedS3 } from '../dev/embedded-s3.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../shared/storage/config.js';
import { NODE_RUNTIME_FLAGS } from '../shared/runtime/flags.js';

const BARE = "process.on('SIGTERM', () => process.exit(0)); require('node:http').createServer((q, r) => r.end('ok')).listen(Number(process.env.PORT))";

/** CPU milliseconds a live process has used, all its threads (NaN where /proc does not say). */
function cpuMsOf(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1e6;
  } catch {
    return NaN;
  }
}

/** Spawn, poll `path` every 2 ms until it answers 2xx: milliseconds from spawn, and the CPU used by then; then stop the process. */
async function spawnToFirst2xx(start: () => ChildProcess, port: number, path: string): Promise<{ ms: number; cpuMs: number }> {
  const t0 = performance.now();
  const child = start();
  child.stdout?.resume();
  child.stderr?.resume();
  for (;;) {
    const ok = await request(`http://127.0.0.1:${port}${path}`).then(
      async (r) => (await r.body.dump(), r.statusCode < 300),
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`the process exited (${child.exitCode}) before ${path} answered`);
    await new Promise((r) => setTimeout(r, 2));
  }
  const ms = performance.now() - t0;
  const cpuMs = cpuMsOf(child.pid!);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  return { ms, cpuMs };
}

/** Milliseconds from spawn to the first 2xx, and CPU milliseconds used by then, one per run. */
export interface Starts {
  wall: number[];
  cpu: number[];
}

export interface ColdStart {
  runs: number;
  bare: Starts;
  fn: Record<string, { ready: Starts; health: Starts }>;
}

const starts = (): Starts => ({ wall: [], cpu: [] });
const add = (to: Starts, s: { ms: number; cpuMs: number }) => (to.wall.push(s.ms), to.cpu.push(s.cpuMs));

const best = (xs: number[]) => Math.min(...xs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function measureColdStart(opts: { runs: number; port: number; dir: string; functions?: string[]; cpuProf?: string }): Promise<ColdStart> {
  const functions = opts.functions ?? ['transform'];
  const s3Dir = join(opts.dir, 'cold-start-s3');
  rmSync(s3Dir, { recursive: true, force: true });
  const s3 = await startEmbeddedS3({ directory: s3Dir, accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
  const env = { ...process.env, PORT: String(opts.port), S3_ENDPOINT: s3.url, WEBHOOK_TOKEN: 'bench-token-0123456789', INTERNAL_TOKEN: 'bench-internal-token-0123', LOG_LEVEL: 'error', DRAIN_SECONDS: '0' };
  try {
    for (const fn of functions) {
      const out = resolve(opts.dir, 'cold-start', fn);
      await bundleFunction(resolve(ENTRIES[fn]), out);
      // The code cache, written as the image's build step writes it.
      execFileSync(process.execPath, [...NODE_RUNTIME_FLAGS, join(out, 'index.cjs')], { env: { ...env, CODE_CACHE: 'write' }, stdio: 'ignore' });
    }
    const result: ColdStart = { runs: opts.runs, bare: starts(), fn: Object.fromEntries(functions.map((f) => [f, { ready: starts(), health: starts() }])) };
    for (let i = 0; i < opts.runs; i++) {
      add(result.bare, await spawnToFirst2xx(() => spawn(process.execPath, [...NODE_RUNTIME_FLAGS, '-e', BARE], { env, stdio: ['ignore', 'pipe', 'pipe'] }), opts.port, '/'));
      for (const fn of functions) {
        const entry = join(resolve(opts.dir, 'cold-start', fn), 'index.cjs');
        const prof = opts.cpuProf && i === 0 ? ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', opts.cpuProf] : [];
        if (prof.length) mkdirSync(opts.cpuProf!, { recursive: true });
        add(result.fn[fn].ready, await spawnToFirst2xx(() => spawn(process.execPath, [...NODE_RUNTIME_FLAGS, ...prof, entry], { env, stdio: ['ignore', 'pipe', 'pipe'] }), opts.port, '/_/ready'));
        add(result.fn[fn].health, await spawnToFirst2xx(() => spawn(process.execPath, [...NODE_RUNTIME_FLAGS, entry], { env, stdio: ['ignore', 'pipe', 'pipe'] }), opts.port, '/_/health'));
      }
    }
    return result;
  } finally {
    await s3.close();
  }
}

/** The table's header: what, wall best / median, the ratio of the bests, CPU best / median, the ratio of the CPU medians. */
export const COLD_START_HEADER = ['| what | best / median | ratio of bests to the bare server | CPU by then, best / median | ratio of CPU medians |', '|---|---|---|---|---|'];

/** The table rows (see COLD_START_HEADER); the bare server's row first. */
export function coldStartRows(r: ColdStart): string[] {
  const row = (what: string, s: Starts) =>
    `| ${what} | ${best(s.wall).toFixed(0)} / ${median(s.wall).toFixed(0)} ms | ${(best(s.wall) / best(r.bare.wall)).toFixed(2)}× | ${best(s.cpu).toFixed(0)} / ${median(s.cpu).toFixed(0)} ms | ${(median(s.cpu) / median(r.bare.cpu)).toFixed(2)}× |`;
  const rows = [row('bare Node HTTP server, spawn → first 2xx', r.bare)];
  for (const [fn, t] of Object.entries(r.fn)) {
    rows.push(row(`${fn}, spawn → first 2xx on /_/ready`, t.ready));
    rows.push(row(`${fn}, spawn → first 2xx on /_/health`, t.health));
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await measureColdStart({ runs: Number(process.env.RUNS ?? 10), port: 18_797, dir: resolve('bench/out'), functions: (process.env.FUNCTIONS ?? 'transform').split(','), cpuProf: process.env.CPU_PROF });
  for (const row of [...COLD_START_HEADER, ...coldStartRows(r)]) console.log(row);
}
