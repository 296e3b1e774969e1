/** How `npm run upload` and `npm run reprocess` report a file: followed to its terminal state, then told in words. */
import { Lifecycle, versionId, type Outcome, type OutcomeRecord } from '../shared/lifecycle/index.js';
import { outputNames } from '../shared/storage/layout.js';
import { getJson, type Storage } from '../shared/storage/s3.js';
import type { RunningStack } from './running.js';

const tty = process.stderr.isTTY;
const num = (n: number) => n.toLocaleString('en-US');
const plural = (n: number, word: string) => `${num(n)} ${word}${n === 1 ? '' : 's'}`;

export interface Manifest {
  status?: string;
  partial?: string;
  stats: { rowsIn: number; rowsOut: number; rowsRejected: number; warnings?: string[] };
  rejects: { count: number; object?: string; first: { line: number; reason: string }[] };
  outputs: Record<string, string | undefined>;
  sinks: Record<string, { rowsSent?: number; requests?: number; possibleDuplicates?: number; rowsNotSent?: number; reason?: string; skipped?: string; rowsRejected?: number; table?: string; title?: string }>;
}

/** The lifecycle as the local tools read it (reads only: the settings do not matter). */
export const lifecycleOf = (s3: Storage, stack: RunningStack) => new Lifecycle(s3, stack.outputBucket, { claimMs: 30_000, maxAttempts: 20 });

export async function followFile(stack: RunningStack, s3: Storage, key: string, etag: string, started: number, timeoutMs: number): Promise<Outcome | 'timeout'> {
  const id = versionId({ bucket: stack.inputBucket, key, etag });
  const names = outputNames(key);
  const lifecycle = lifecycleOf(s3, stack);
  const deadline = Date.now() + timeoutMs;
  let done: OutcomeRecord | undefined;
  for (let tick = 0; !done; tick++) {
    done = (await lifecycle.status(id)).outcome;
    if (done) break;
    if (Date.now() > deadline) return 'timeout';
    if (tty) process.stderr.write(`\r  ${key}: processing… ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
  if (tty) process.stderr.write('\r\x1b[K');
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const out = (s: string) => process.stdout.write(s + '\n');
  // Identical bytes finished before this upload began: nothing ran now; what follows is that
  // earlier run. A run this upload started cannot finish before it began, and the local stack's
  // processes share this machine's clock: no margin (a 1 s margin called a re-upload that came
  // within a second of the earlier run's end a new run).
  const earlier = Date.parse(done.finishedAt) < started;
  const head = (mark: string, status: string, rest = '') =>
    out(earlier ? `= ${key}  already ${status} at ${done!.finishedAt} (identical bytes): nothing to do now${rest}. Run it again with: npm run reprocess -- ${key}` : `${mark} ${key}  ${status} in ${secs} s${rest}`);
  if (done.outcome === 'failed') {
    const rec = await getJson<{ problem: { title: string; detail?: string; line?: number }; retryable?: boolean }>(s3, stack.outputBucket, done.failure ?? names.failure);
    head('✗', 'failed', `: ${rec?.problem.title ?? 'failed'}${rec?.problem.detail ? ` — ${rec.problem.detail}` : ''}`);
    out(`    record   ${stack.outputBucket}/${done.failure ?? names.failure}`);
    return 'failed';
  }
  if (done.outcome === 'superseded') {
    out(`~ ${key}  superseded: a newer upload of this key replaced it while it ran`);
    return 'superseded';
  }
  const m = await getJson<Manifest>(s3, stack.outputBucket, names.manifest);
  if (!m) {
    head('✓', 'published');
    return 'published';
  }
  const status = done.outcome;
  head(status === 'partial' ? '!' : '✓', status);
  out(`    rows     ${num(m.stats.rowsIn)} in → ${num(m.stats.rowsOut)} out, ${num(m.stats.rowsRejected)} rejected`);
  for (const r of m.rejects.first.slice(0, 3)) out(`    reject   line ${r.line}: ${r.reason}`);
  for (const w of m.stats.warnings ?? []) out(`    warning  ${w}`);
  out(`    outputs  ${Object.entries(m.outputs).filter(([k, v]) => k !== 'bucket' && v).map(([, v]) => `${stack.outputBucket}/${v}`).join('  ')}`);
  for (const [name, r] of Object.entries(m.sinks)) {
    // The destination's own name beside the sink's (every sink's report carries it as `title`).
    const dest = r.title ?? name;
    if (r.skipped) out(`    ${dest} skipped: ${r.skipped}`);
    else if (r.reason) out(`    ${dest} ${name}: REFUSED — ${num(r.rowsNotSent ?? 0)} rows not sent: ${r.reason}`);
    else out(`    ${dest} ${name}: ${num(r.rowsSent ?? 0)} rows sent in ${plural(r.requests ?? 0, 'request')}${r.table ? ` to table '${r.table}'` : ''}${r.rowsRejected ? `, ${num(r.rowsRejected)} refused as rows` : ''}${r.possibleDuplicates ? `, ${num(r.possibleDuplicates)} possibly twice (a lost answer)` : ''}`);
  }
  if (m.partial) out(`    partial  ${m.partial}`);
  return status;
}

