/**
 * `npm run reprocess -- <key>…`: run files of the input bucket again on purpose, replacing their
 * outputs (a re-upload of identical bytes is a no-op by design). Says first what it means for
 * Power BI: the rows the earlier run pushed stay there, and the rerun pushes them again.
 * It calls the chain as the webhook does, with `?force=true` and the chain's own credential.
 */
import { request } from 'undici';
import { outputNames } from '../shared/storage/layout.js';
import { getJson } from '../shared/storage/s3.js';
import { followFile, lifecycleOf, type Manifest } from './report.js';
import { versionId } from '../shared/lifecycle/index.js';
import { findStack, storageOf } from './running.js';

const keys = process.argv.slice(2);
if (!keys.length) {
  process.stderr.write('usage: npm run reprocess -- <object key>…\n');
  process.exit(2);
}
const stack = findStack();
const s3 = storageOf(stack);
let failures = 0;
for (const key of keys) {
  let stat;
  try {
    stat = await s3.statObject(stack.inputBucket, key);
  } catch {
    process.stdout.write(`✗ ${key}: not in ${stack.inputBucket}\n`);
    failures++;
    continue;
  }
  const before = await getJson<Manifest>(s3, stack.outputBucket, outputNames(key).manifest);
  const pushed = Object.values(before?.sinks ?? {}).reduce((n, r) => n + (r.rowsSent ?? 0), 0);
  process.stdout.write(
    pushed
      ? `↻ ${key}: reprocessing. Power BI keeps the ${pushed.toLocaleString('en-US')} rows the earlier run pushed (a push dataset cannot delete rows), and this run pushes them again.\n`
      : `↻ ${key}: reprocessing; its outputs are replaced.\n`,
  );
  // A run that holds the file: wait for it to finish, or for its claim to expire (a run that died
  // stops renewing it), then take it over.
  const lifecycle = lifecycleOf(s3, stack);
  const id = versionId({ bucket: stack.inputBucket, key, etag: stat.etag });
  for (let said = false; ; said = true) {
    const now = await lifecycle.status(id);
    if (now.phase !== 'running') break;
    if (!said) process.stdout.write(`  ${key} is held by a run (last heartbeat ${now.claim?.renewedAt}); waiting for it to finish, or for its claim to expire at ${now.claim?.expiresAt}…\n`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const started = Date.now();
  const res = await request(`${stack.gatewayUrl}/function/transform?force=true`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.internalToken}` },
    body: JSON.stringify({ bucket: stack.inputBucket, key, etag: stat.etag, size: stat.size }),
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  const answer = (await res.body.json().catch(() => ({}))) as { status?: string; title?: string; detail?: string };
  if (res.statusCode === 202 && answer.status === 'running') {
    process.stdout.write(`  ${key} was taken by another run just now; try again once it has finished\n`);
    failures++;
    continue;
  }
  if (res.statusCode >= 400 && answer.title) process.stdout.write(`  transform answered ${res.statusCode}: ${answer.title}${answer.detail ? ` — ${answer.detail}` : ''}\n`);
  const outcome = await followFile(stack, s3, key, stat.etag, started, 60_000);
  if (outcome !== 'published') failures++;
}
process.exit(failures ? 1 : 0);
