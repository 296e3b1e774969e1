/**
 * Cold start on this machine, as the image runs a function: the bundle (`index.cjs` + `function.cjs`)
 * with its code cache written as the image writes it (`CODE_CACHE=write`), then fresh processes
 * timed from spawn to the first 2xx on `/_/ready` (and `/_/health`), against a bare Node HTTP
 * server's spawn to its first 2xx, interleaved in the same run. `--cpu-prof` runs say where the
 * time goes (`npm run bench -- --sections=coldstart --cpu-prof`).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { bundleFunction, ENTRIES } from '../dev/build.js';
import { startEmbeddedS3 } from '../dev/embedded-s3.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../shared/storage/config.js';
import { NODE_RUNTIME_FLAGS } from '../shared/runtime/flags.js';

const BARE = "process.on('SIGTERM', () => process.exit(0)); require('node:http').createServer((q, r) => r.end('ok')).listen(Number(process.env.PORT))";

/** Spawn, poll `path` every 2 ms until it answers 2xx: milliseconds from spawn; then stop the process. */
async function spawnToFirst2xx(start: () => ChildProcess, port: number, path: string): Promise<number> {
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
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  return ms;
}

export interface ColdStart {
  runs: number;
  bare: number[];
  fn: Record<string, { ready: number[]; health: number[] }>;
}

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
    const result: ColdStart = { runs: opts.runs, bare: [], fn: Object.fromEntries(functions.map((f) => [f, { ready: [], health: [] }])) };
    for (let i = 0; i < opts.runs; i++) {
      result.bare.push(await spawnToFirst2xx(() => spawn(process.execPath, [...NODE_RUNTIME_FLAGS, '-e', BARE], { env, stdio: ['ignore', 'pipe', 'pipe'] }), opts.port, '/'));
      for (const fn of functions) {
        const entry = join(resolve(opts.dir, 'cold-start', fn), 'index.cjs');
        const prof = opts.cpuProf && i === 0 ? ['--cpu-prof', '--cpu-prof-interval', '100', '--cpu-prof-dir', opts.cpuProf] : [];
        if (prof.length) mkdirSync(opts.cpuProf!, { recursive: true });
        result.fn[fn].ready.push(await spawnToFirst2xx(() => spawn(process.execPath, [...NODE_RUNTIME_FLAGS, ...prof, entry], { env, stdio: ['ignore', 'pipe', 'pipe'] }), opts.port, '/_/ready'));
        result.fn[fn].health.push(await spawnToFirst2xx(() => spawn(process.execPath, [...NODE_RUNTIME_FLAGS, entry], { env, stdio: ['ignore', 'pipe', 'pipe'] }), opts.port, '/_/health'));
      }
    }
    return result;
  } finally {
    await s3.close();
  }
}

/** The table rows: best / median, and the ratio of the bests to the bare server's. */
export function coldStartRows(r: ColdStart): string[] {
  const b = best(r.bare);
  const rows = [`| bare Node HTTP server, spawn → first 2xx | ${b.toFixed(0)} / ${median(r.bare).toFixed(0)} ms | 1.00× |`];
  for (const [fn, t] of Object.entries(r.fn)) {
    rows.push(`| ${fn}, spawn → first 2xx on /_/ready | ${best(t.ready).toFixed(0)} / ${median(t.ready).toFixed(0)} ms | ${(best(t.ready) / b).toFixed(2)}× |`);
    rows.push(`| ${fn}, spawn → first 2xx on /_/health | ${best(t.health).toFixed(0)} / ${median(t.health).toFixed(0)} ms | ${(best(t.health) / b).toFixed(2)}× |`);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await measureColdStart({ runs: Number(process.env.RUNS ?? 10), port: 18_797, dir: resolve('bench/out'), functions: (process.env.FUNCTIONS ?? 'transform').split(','), cpuProf: process.env.CPU_PROF });
  for (const row of coldStartRows(r)) console.log(row);
}
