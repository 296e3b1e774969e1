/**
 * Crash and replay: the publish process is killed (SIGKILL) half-way through pushing a
 * 50,000-row file to Power BI (REST route, service principal, against the emulator). MinIO's
 * retry (the bridge) invokes the chain again; publish resumes after the last checkpointed
 * batch. Without sequence numbers (the default) the one request in flight when publish died may
 * be stored twice, and the manifest counts exactly that; with them (opt-in) the service drops it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { waitFor, waitForJson, useTestStack } from './helpers.js';

function table(rows: number): Buffer {
  const lines = ['id,region,amount'];
  for (let i = 0; i < rows; i++) lines.push(`${i},r${i % 9},${(i % 1000) / 4}`);
  return Buffer.from(lines.join('\n') + '\n');
}

for (const sequenceNumbers of [false, true]) {
  describe(`crash and replay (sequence numbers ${sequenceNumbers ? 'on' : 'off'})`, () => {
    const stack = useTestStack({ POWERBI_EMULATOR_ROUTE: 'rest', POWERBI_SEQUENCE_NUMBERS: String(sequenceNumbers) });

    test(sequenceNumbers ? 'kill publish mid-file, invoke again: exactly once' : 'kill publish mid-file, invoke again: every row, duplicates at most the request in flight, all counted', { timeout: 150_000 }, async () => {
      const t = stack();
      const em = t.stack.emulator!;
      em.rest.holdMs = 700; // each 10,000-row request takes a while: time to kill publish between them
      const body = table(50_000);
      await t.s3.putObject('incoming', 'crash/big.csv', body, body.length);
      const rowsIn = () => [...em.rest.datasets.values()].flatMap((d) => [...d.tables.values()]).reduce((s, tb) => s + tb.rows.length, 0);
      await waitFor('two batches in Power BI', async () => (rowsIn() >= 20_000 ? true : undefined), 60_000, 20);
      const before = rowsIn();
      assert.ok(before < 50_000, `killed mid-file (${before} rows in)`);
      const pub = t.stack.functions.get('publish')!;
      pub.child.kill('SIGKILL');
      await new Promise((r) => pub.child.once('exit', r));
      await t.stack.stopFunction('publish');
      await t.stack.startFunction('publish');
      em.rest.holdMs = 0;
      const manifest = await waitForJson<{ sinks: Record<string, { rowsSent: number; rowsSkippedAsAlreadySent: number; possibleDuplicates?: number }> }>(t.s3, 'processed', 'manifests/crash/big.csv.json', 60_000);
      const rest = manifest.sinks['powerbi-rest'];
      assert.ok(rest.rowsSkippedAsAlreadySent >= 10_000, `resumed after the checkpoint (${rest.rowsSkippedAsAlreadySent} skipped)`);
      const tables = [...em.rest.datasets.values()].flatMap((d) => [...d.tables.values()]);
      assert.equal(tables.length, 1, 'the dataset created before the crash was reused');
      const ids = tables[0].rows.map((r) => r.id as number);
      assert.equal(new Set(ids).size, 50_000, 'every row arrived');
      const duplicated = ids.length - 50_000;
      if (sequenceNumbers) assert.equal(duplicated, 0);
      else assert.ok(duplicated <= 10_000, `at most the one request in flight (${duplicated})`);
      // The manifest counts every row of the request that was in flight (whether the service had
      // stored it before the crash cannot be known): the actual duplicates never exceed it.
      if (sequenceNumbers) assert.equal(rest.possibleDuplicates ?? 0, 0);
      else {
        assert.ok([0, 10_000].includes(rest.possibleDuplicates ?? 0), `one request's rows counted (${rest.possibleDuplicates})`);
        assert.ok(duplicated <= (rest.possibleDuplicates ?? 0), `duplicates (${duplicated}) within what the manifest reports (${rest.possibleDuplicates})`);
      }
    });
  });
}
