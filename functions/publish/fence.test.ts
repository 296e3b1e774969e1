/**
 * publish's fence, called directly against the embedded S3 store: a run whose checkpoint another
 * run adopted is refused at its next save (beside the newer-version check: before its outputs are
 * completed, and before its manifest), writes no manifest or outcome, and the run that holds the
 * claim publishes the version.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmbeddedS3, type EmbeddedS3 } from '../../dev/embedded-s3.js';
import { transformCsv, transformOptionsFrom, type DatasetEvent } from '../../shared/csv/clean.js';
import { csvDefaults } from '../../shared/csv/config.js';
import { Lifecycle, versionId } from '../../shared/lifecycle/index.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../../shared/storage/config.js';
import { outputsOf } from '../../shared/storage/layout.js';
import { createStorage, type Storage } from '../../shared/storage/s3.js';
import type { RowSink } from '../../shared/sinks/sink.js';
import { quietLog } from '../../test/unit-helpers.js';
import { publishDataset, type PublishDeps } from './publish.js';

const CSV = 'id,city\n1,Recife\n2,Natal\n';

describe('publish is fenced by the checkpoint it adopted', () => {
  let s3: EmbeddedS3;
  let dir: string;
  let storage: Storage;
  const lifecycleWith = (claimMs: number) => new Lifecycle(storage, 'processed', { claimMs, maxAttempts: 20 });
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'publish-fence-'));
    s3 = await startEmbeddedS3({ directory: dir, accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
    storage = createStorage({ S3_ENDPOINT: s3.url, S3_ACCESS_KEY: LOCAL_S3_ACCESS_KEY, S3_SECRET_KEY: LOCAL_S3_SECRET_KEY, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 });
  });
  after(async () => {
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The source's dataset events; `beforeTrailer` runs when the rows are in and the trailer is next. */
  async function* dataset(source: Parameters<typeof transformOptionsFrom>[1], beforeTrailer: () => Promise<void>): AsyncGenerator<DatasetEvent> {
    const bytes = (async function* () {
      yield Buffer.from(CSV);
    })();
    for await (const e of transformCsv(bytes, transformOptionsFrom(csvDefaults(), source))) {
      if (e.kind === 'trailer') await beforeTrailer();
      yield e;
    }
  }

  const deps = (lifecycle: Lifecycle, runId: string, sinks: RowSink[] = []): PublishDeps => ({ outputBucket: 'processed', escapeFormulas: true, s3: storage, sinks, log: quietLog, callId: 'fence', runId, lifecycle });

  /**
   * A row sink that takes every row, saves their acknowledgement (publish's fenced save), and then
   * lets `after` run: what happens between a sink's last answer and the manifest.
   */
  const sinkThen = (after: () => Promise<void>): RowSink => ({
    name: 'fence-probe',
    title: 'a sink whose last answer is followed by a takeover',
    async deliver(d) {
      let rows = 0;
      for await (const batch of d.rows) rows += batch.length;
      await d.onAck(rows);
      await after();
      return { sink: 'fence-probe', rowsSent: rows, rowsSkippedAsAlreadySent: 0, rowsRejected: 0, requests: 1, retries: 0, throttledMs: 0, durationMs: 0, rejects: [] };
    },
  });

  for (const when of ['before its outputs are completed', 'before its manifest'] as const) {
    const title =
      when === 'before its outputs are completed'
        ? 'a run whose claim was taken over and whose checkpoint was adopted while its rows came in: refused before its outputs are completed; no output, manifest or outcome of it'
        : "a run whose claim was taken over after its sink's last answer: refused before its manifest; no manifest or outcome of it";
    test(title, async () => {
      const key = `fence/${when.replace(/\W+/g, '-')}.csv`;
      const put = await storage.putObject('incoming', key, Buffer.from(CSV), CSV.length);
      const source = { kind: 'object' as const, bucket: 'incoming', key, etag: put.etag, size: CSV.length };
      const id = versionId(source);
      const names = outputsOf(source, id);
      assert.equal((await lifecycleWith(150).claims.take(id, source, 'run-a')).kind, 'claimed');
      const takeOver = async () => {
        await new Promise((r) => setTimeout(r, 200)); // run-a's claim expires (nothing renews it)
        assert.equal((await lifecycleWith(30_000).claims.take(id, source, 'run-b')).kind, 'claimed');
        await lifecycleWith(30_000).checkpoints.adopt(id, 'run-b');
      };
      // Taken over while the rows stream in (before the outputs are completed), or after a sink's last answer (before the manifest).
      const early = when === 'before its outputs are completed';
      const events = dataset(source, early ? takeOver : async () => undefined);
      const publishing = publishDataset(events, deps(lifecycleWith(150), 'run-a', early ? [] : [sinkThen(takeOver)]));
      await assert.rejects(publishing, (err: Error & { status?: number }) => err.status === 409, 'run-a is refused');
      assert.equal(await lifecycleWith(30_000).outcomes.read(id), undefined, 'no outcome from run-a');
      await assert.rejects(storage.statObject('processed', names.manifest), 'no manifest from run-a');
      // Before its outputs are completed: none is; before its manifest: the outputs were (the same rows the run that holds the claim writes again).
      if (early) await assert.rejects(storage.statObject('processed', names.cleaned), 'no cleaned CSV from run-a');
      // The run that holds the claim publishes the version.
      const b = await publishDataset(dataset(source, async () => undefined), deps(lifecycleWith(30_000), 'run-b'));
      assert.equal(b.status, 'published');
      assert.equal((await lifecycleWith(30_000).outcomes.read(id))?.runId, 'run-b');
    });
  }
});
