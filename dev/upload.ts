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
import { followFile } from './report.js';
import { findStack, storageOf } from './running.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'no-wait': { type: 'boolean', default: false }, prefix: { type: 'string', default: '' }, timeout: { type: 'string', default: '600' } } });
if (!positionals.length) {
  process.stderr.write('usage: npm run upload -- [--no-wait] [--prefix folder/] <file.csv>…\n');
  process.exit(2);
}
const stack = findStack();
const s3 = storageOf(stack);
const tty = process.stderr.isTTY;
const mb = (n: number) => (n / 1024 / 1024).toFixed(1);

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
  const outcome = await followFile(stack, s3, key, etag, started, timeoutMs);
  if (outcome === 'timeout') process.stdout.write(`? ${key}: no outcome after ${values.timeout} s (${stack.consoleUrl ? `the console at ${stack.consoleUrl} shows where it is` : "npm start's log lines show where it is"})\n`);
  if (outcome === 'failed' || outcome === 'partial' || outcome === 'timeout') failures++;
}
if (stack.consoleUrl && !values['no-wait']) process.stdout.write(`\nconsole: ${stack.consoleUrl}\n`);
process.exit(failures ? 1 : 0);
