/**
 * `npm run upload -- <files…>`: put files into the running local stack's input bucket and follow
 * each one through the pipeline to its outcome: status, rows, rejects with their first reasons,
 * output keys, what Power BI received (or why it refused), and the time taken.
 *
 *   --no-wait          upload only
 *   --prefix <p>       upload under a folder of the input bucket (e.g. sales/)
 *   --timeout <s>      how long to follow each file (default 600)
 *
 * The stack is found through `DATA_DIR/stack.json` (written by `npm start`): no port flags. Exits
 * 1 when a file fails or ends partial, 2 on bad usage or when no stack runs.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Transform } from 'node:stream';
import { parseArgs } from 'node:util';
import { idempotencyKey, type Completion } from '../shared/storage/object-state.js';
import { createStorage, getJson } from '../shared/storage/s3.js';
import { outputNames } from '../shared/storage/layout.js';
import { findStack } from './running.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'no-wait': { type: 'boolean', default: false }, prefix: { type: 'string', default: '' }, timeout: { type: 'string', default: '600' } } });
if (!positionals.length) {
  process.stderr.write('usage: npm run upload -- [--no-wait] [--prefix folder/] <file.csv>…\n');
  process.exit(2);
}
const stack = findStack();
const s3 = createStorage({ S3_ENDPOINT: stack.s3Url, S3_ACCESS_KEY: stack.accessKey, S3_SECRET_KEY: stack.secretKey, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 });
const tty = process.stderr.isTTY;
const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
const num = (n: number) => n.toLocaleString('en-US');

/** Why the pipeline would not take this key, or undefined. */
function ignoredBecause(key: string): string | undefined {
  if (!key.startsWith(stack.inputPrefix)) return `the pipeline takes only keys under "${stack.inputPrefix}" (INPUT_PREFIX)`;
  if (!stack.inputSuffixes.some((s) => key.toLowerCase().endsWith(s.toLowerCase()))) return `the pipeline takes only keys ending in ${stack.inputSuffixes.join(', ')} (INPUT_SUFFIXES)`;
  return undefined;
}

async function upload(file: string, key: string): Promise<string> {
  const size = statSync(file).size;
  let sent = 0;
  let last = 0;
  const progress = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      const now = Date.now();
      if (size > 8 * 1024 * 1024 && (now - last > 200 || sent === size)) {
        last = now;
        const pct = Math.floor((sent / size) * 100);
        const bar = '#'.repeat(Math.floor(pct / 4)).padEnd(25, '.');
        const line = `  uploading ${key} [${bar}] ${pct}% ${mb(sent)}/${mb(size)} MB`;
        if (tty) process.stderr.write(`\r${line}`);
        else if (pct % 25 === 0 || sent === size) process.stderr.write(line + '\n');
      }
      done(null, chunk);
    },
  });
  const res = await s3.putObject(stack.inputBucket, key, createReadStream(file).pipe(progress), size, { 'Content-Type': 'text/csv' });
  if (tty && size > 8 * 1024 * 1024) process.stderr.write('\n');
  return res.etag;
}

interface Manifest {
  status?: string;
  partial?: string;
  stats: { rowsIn: number; rowsOut: number; rowsRejected: number; warnings?: string[] };
  rejects: { count: number; object?: string; first: { line: number; reason: string }[] };
  outputs: Record<string, string | undefined>;
  sinks: Record<string, { rowsSent?: number; requests?: number; possibleDuplicates?: number; rowsNotSent?: number; reason?: string; skipped?: string; rowsRejected?: number; table?: string }>;
}

async function follow(key: string, etag: string, started: number, timeoutMs: number): Promise<'published' | 'partial' | 'failed' | 'superseded' | 'timeout'> {
  const id = idempotencyKey({ bucket: stack.inputBucket, key, etag });
  const names = outputNames(key);
  const deadline = Date.now() + timeoutMs;
  let done: Completion | undefined;
  for (let tick = 0; !done; tick++) {
    done = await getJson<Completion>(s3, stack.outputBucket, `_state/${id}.done.json`);
    if (done) break;
    if (Date.now() > deadline) return 'timeout';
    if (tty) process.stderr.write(`\r  ${key}: processing… ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
  if (tty) process.stderr.write('\r\x1b[K');
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const out = (s: string) => process.stdout.write(s + '\n');
  if (Date.parse(done.finishedAt) < started - 1000) {
    out(`= ${key}: already processed at ${done.finishedAt} (identical bytes); nothing to do. Run it again with: npm run reprocess -- ${key}`);
  }
  if (done.outcome === 'failed') {
    const rec = await getJson<{ problem: { title: string; detail?: string; line?: number }; retryable?: boolean }>(s3, stack.outputBucket, done.failure ?? names.failure);
    out(`✗ ${key}  failed in ${secs} s: ${rec?.problem.title ?? 'failed'}${rec?.problem.detail ? ` — ${rec.problem.detail}` : ''}`);
    out(`    record   ${stack.outputBucket}/${done.failure ?? names.failure}`);
    return 'failed';
  }
  if (done.outcome === 'superseded') {
    out(`~ ${key}  superseded: a newer upload of this key replaced it while it ran`);
    return 'superseded';
  }
  const m = await getJson<Manifest>(s3, stack.outputBucket, names.manifest);
  if (!m) {
    out(`✓ ${key}  published in ${secs} s`);
    return 'published';
  }
  const status = m.status === 'partial' ? 'partial' : 'published';
  out(`${status === 'partial' ? '!' : '✓'} ${key}  ${status} in ${secs} s`);
  out(`    rows     ${num(m.stats.rowsIn)} in → ${num(m.stats.rowsOut)} out, ${num(m.stats.rowsRejected)} rejected`);
  for (const r of m.rejects.first.slice(0, 3)) out(`    reject   line ${r.line}: ${r.reason}`);
  for (const w of m.stats.warnings ?? []) out(`    warning  ${w}`);
  out(`    outputs  ${Object.entries(m.outputs).filter(([k, v]) => k !== 'bucket' && v).map(([, v]) => `${stack.outputBucket}/${v}`).join('  ')}`);
  for (const [name, r] of Object.entries(m.sinks)) {
    if (r.skipped) out(`    Power BI skipped: ${r.skipped}`);
    else if (r.reason) out(`    Power BI ${name}: REFUSED — ${num(r.rowsNotSent ?? 0)} rows not sent: ${r.reason}`);
    else out(`    Power BI ${name}: ${num(r.rowsSent ?? 0)} rows sent in ${r.requests ?? 0} requests${r.table ? ` to table '${r.table}'` : ''}${r.rowsRejected ? `, ${num(r.rowsRejected)} refused as rows` : ''}${r.possibleDuplicates ? `, ${num(r.possibleDuplicates)} possibly twice (a lost answer)` : ''}`);
  }
  if (m.partial) out(`    partial  ${m.partial}`);
  return status;
}

let failures = 0;
const timeoutMs = Number(values.timeout) * 1000;
for (const file of positionals) {
  if (!existsSync(file)) {
    process.stdout.write(`✗ ${file}: no such file\n`);
    failures++;
    continue;
  }
  const key = `${stack.inputPrefix && !values.prefix ? stack.inputPrefix : ''}${values.prefix}${basename(file)}`;
  const why = ignoredBecause(key);
  if (why) {
    process.stdout.write(`- ${file}: ignored, not uploaded: ${why}\n`);
    continue;
  }
  const started = Date.now();
  const etag = await upload(file, key);
  process.stdout.write(`↑ ${file} → ${stack.inputBucket}/${key} (${mb(statSync(file).size)} MB)\n`);
  if (values['no-wait']) continue;
  const outcome = await follow(key, etag, started, timeoutMs);
  if (outcome === 'timeout') process.stdout.write(`? ${key}: no outcome after ${values.timeout} s (the console at ${stack.consoleUrl ?? 'the gateway'} shows where it is)\n`);
  if (outcome === 'failed' || outcome === 'partial' || outcome === 'timeout') failures++;
}
if (stack.consoleUrl && !values['no-wait']) process.stdout.write(`\nconsole: ${stack.consoleUrl}\n`);
process.exit(failures ? 1 : 0);
