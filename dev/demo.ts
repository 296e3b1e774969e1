/**
 * `npm run demo`: the scale-to-zero lab on one machine, the story the MicroK8s lab tells with
 * `kubectl get pods -w`. A fresh local stack with AUTOSCALE=knative and a short window (its own
 * temporary data and free ports, beside any `npm start`): the functions go to zero, a burst of
 * example files arrives, the first requests are held during the cold starts, transform scales
 * out, every file reaches its outcome and everything returns to zero. Prints the timeline as it
 * happens, then a summary: cold starts and their waits, peak processes per function, time to zero.
 *
 *   DEMO_FILES (default 30)          files in the burst (the examples, cycled)
 *   AUTOSCALE_WINDOW_SECONDS (4)     the stable window; retention and grace shrink with it
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ScaleEvent } from './autoscaler.js';
import { FUNCTIONS, startLocalStack, type LocalStack } from './stack.js';
import { Lifecycle, versionId } from '../shared/lifecycle/index.js';
import { createStorage } from '../shared/storage/s3.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const out = (line: string) => process.stdout.write(line + '\n');
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** One timeline line, as `kubectl get pods -w` would show the change. */
function describe(ev: ScaleEvent, t0: number): string | undefined {
  const what = {
    start: `a process starts (${ev.processes} wanted)`,
    ready: `a process is ready after ${secs(ev.waitMs ?? 0)}`,
    stop: `SIGTERM to the newest process${ev.detail ? ` (${ev.detail})` : ''}`,
    exit: `a process exited (${ev.running} running)`,
    held: undefined,
    timeout: `a request timed out waiting: ${ev.detail}`,
    failed: `a process failed to start: ${ev.detail}`,
    wake: `woken with nothing asking: ${ev.detail}`,
  }[ev.kind];
  return what && `  +${secs(ev.at - t0).padStart(7)}  ${ev.fn.padEnd(9)} ${'▮'.repeat(ev.running).padEnd(6)} ${what}`;
}

const running = (stack: LocalStack) => stack.autoscaler!.functions().reduce((n, f) => n + f.replicas, 0);

async function untilZero(stack: LocalStack): Promise<void> {
  const last = new Map<string, number>();
  for (;;) {
    for (const e of stack.autoscaler!.timeline) if (e.kind !== 'held') last.set(e.fn, e.running);
    if (running(stack) === 0 && FUNCTIONS.every((f) => (last.get(f) ?? 0) === 0)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function summary(events: ScaleEvent[], burstAt: number, doneAt: number, zeroAt: number): void {
  out('\nsummary');
  for (const fn of FUNCTIONS) {
    const mine = events.filter((e) => e.fn === fn);
    const cold = mine.filter((e) => e.kind === 'start' && e.running === 1); // from zero
    const waits = mine.filter((e) => e.kind === 'held').map((e) => e.waitMs!).sort((a, b) => a - b);
    const peak = Math.max(0, ...mine.map((e) => e.processes)); // draining ones not counted (at most max-scale)
    const held = waits.length ? `${waits.length} requests held, longest ${secs(waits[waits.length - 1])}` : 'no request held';
    out(`  ${fn.padEnd(9)} cold starts ${cold.length}   peak ${peak} process${peak === 1 ? '' : 'es'}   ${held}`);
  }
  out(`  burst → last outcome ${secs(doneAt - burstAt)}; last outcome → every function at 0 processes ${secs(zeroAt - doneAt)}`);
}

const dir = mkdtempSync(join(tmpdir(), 'mini-pipeline-demo-'));
const files = Number(process.env.DEMO_FILES ?? 30);
const stack = await startLocalStack({
  env: { ...process.env, AUTOSCALE: 'knative', AUTOSCALE_WINDOW_SECONDS: process.env.AUTOSCALE_WINDOW_SECONDS ?? '4', DATA_DIR: dir, LOG_LEVEL: 'error', CLAIM_SECONDS: process.env.CLAIM_SECONDS ?? '10' },
  gatewayPort: 0,
  s3Port: 0,
  emulatorPort: 0,
  bridgeRetryMs: 200,
  onLog: (fn, line) => line.includes('"level":"error"') && out(`  ${fn}: ${line}`),
});
try {
  const t0 = Date.now();
  const w = stack.autoscaler!.scalers.get('transform')!.policy;
  out(`mini-pipeline scale-to-zero demo: AUTOSCALE=knative, settings from knative/*.yaml, stable window ${secs(w.stableMs)} (panic ${secs(w.panicMs)}), zero after ${secs(w.stableMs + w.zeroAfterMs)} idle`);
  out(`  console ${stack.dashboardUrl}   gateway ${stack.gateway.url}/system/functions\n`);
  out('timeline (▮ = a running process)');
  stack.autoscaler!.onEvent((ev) => {
    const line = describe(ev, t0);
    if (line) out(line);
  });
  out('  deployed with one process each (initial-scale 1); waiting for them to go idle…');
  await untilZero(stack);
  out(`  +${secs(Date.now() - t0).padStart(7)}  every function at 0 processes`);

  const examples = readdirSync(join(ROOT, 'examples')).filter((f) => f.endsWith('.csv') && f !== 'mock_10000_linhas.csv');
  const s3 = createStorage(stack.config.storage);
  const burstAt = Date.now();
  out(`  +${secs(burstAt - t0).padStart(7)}  a burst of ${files} files into ${stack.config.storage.INPUT_BUCKET}/`);
  const ids = await Promise.all(
    Array.from({ length: files }, async (_, i) => {
      const name = examples[i % examples.length];
      const body = readFileSync(join(ROOT, 'examples', name));
      const key = `demo/${String(i).padStart(2, '0')}-${name}`;
      const put = await s3.putObject(stack.config.storage.INPUT_BUCKET, key, body, body.length);
      return versionId({ bucket: stack.config.storage.INPUT_BUCKET, key, etag: put.etag });
    }),
  );
  const lifecycle = new Lifecycle(s3, stack.config.storage.OUTPUT_BUCKET, { claimMs: 30_000, maxAttempts: 20 });
  const outcomes = new Map<string, number>();
  for (const id of ids) {
    for (;;) {
      const o = (await lifecycle.status(id)).outcome?.outcome;
      if (o) {
        outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const doneAt = Date.now();
  out(`  +${secs(doneAt - t0).padStart(7)}  every file has its outcome: ${[...outcomes].map(([o, n]) => `${n} ${o}`).join(', ')}`);
  await untilZero(stack);
  const zeroAt = Date.now();
  out(`  +${secs(zeroAt - t0).padStart(7)}  every function back at 0 processes`);
  summary(stack.autoscaler!.timeline.filter((e) => e.at >= burstAt), burstAt, doneAt, zeroAt);
} finally {
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
