/**
 * publish: the dataset stream fans out to the sinks.
 * 1. The output bucket (always): cleaned CSV and/or Parquet (OUTPUT_FORMATS) and rejects CSV, streamed as they arrive.
 * 2. Row sinks (Power BI, Eventstream), once the file is known good, read back from the cleaned CSV (the Parquet file without it) with
 *    per-batch checkpoints, so a retry resumes instead of pushing rows twice.
 * 3. The manifest, then the version's outcome: a replay of the same object version is a no-op.
 * A file that cannot be read produces `failed/<key>.json`; the source is never touched.
 * Every write of an object version's run is fenced by its claim: the run adopts the version's
 * checkpoint with the run id transform claimed it with, and saves it (a conditional write)
 * before the outputs are completed, before every request to a sink and before the manifest; a
 * run that lost its claim is refused there and stops.
 */
import type { DatasetHeader, DatasetTrailer, Reject, Source } from '../../shared/dataset/contract.js';
import type { Logger } from '../../shared/runtime/log.js';
import { Problem } from '../../shared/runtime/problem.js';
import { cleanedHeaderLine, readCleaned } from '../../shared/csv/cleaned-csv.js';
import { csvLine } from '../../shared/csv/writer.js';
import { parquetObject, readParquetRows } from '../../shared/parquet/object.js';
import type { CheckpointExtra, RowSink, SinkResult } from '../../shared/sinks/sink.js';
import { getJson, putJson, removeQuietly, type Storage } from '../../shared/storage/s3.js';
import { ObjectWriter } from '../../shared/storage/object-writer.js';
import { outputsOf, sourceId, supersededManifest, type OutputNames } from '../../shared/storage/layout.js';
import { lifecycleProblems, memoryCheckpoint, type Lifecycle, type Look, type Manifest, type Outcome, type OutcomeRecord, type RunCheckpoint } from '../../shared/lifecycle/index.js';
import type { DatasetEvent } from '../../shared/csv/clean.js';
import { datasetProblems } from '../../shared/dataset/problems.js';
import { metrics } from '../../shared/runtime/metrics.js';
import { recordDelivery } from '../../shared/sinks/metrics.js';
import { SINKS } from './sinks.js';
import { decodeNdjson, decodeNdjsonToCsv, type CsvRows } from '../../shared/dataset/ndjson.js';
import { loopTurns } from '../../shared/runtime/turns.js';

/** The manifest's words when publish has no destination: the settings of every sink it lists. */
const NO_SINK = `no sink configured (set one of: ${SINKS.map((s) => s.enabledBy).join('; ')})`;

export interface PublishDeps {
  outputBucket: string;
  escapeFormulas: boolean;
  /** The formats of the cleaned rows (OUTPUT_FORMATS): `csv` when unset. */
  formats?: readonly ('csv' | 'parquet')[];
  /** Multipart part size of the CSV outputs, in bytes (Parquet's parts are S3's smallest, 5 MiB). */
  partSize?: number;
  s3: Storage;
  sinks: RowSink[];
  log: Logger;
  callId: string;
  /** The run that holds the object version's claim (transform sends it). */
  runId?: string;
  lifecycle: Lifecycle;
  signal?: AbortSignal;
}

export interface PublishResult {
  /** partial: in the output bucket whole, but a sink refused some or all of its rows (the manifest says which and why). */
  status: Outcome;
  /** The version had this outcome already: nothing was done again. */
  replay?: boolean;
  id: string;
  source: Source;
  outputs: { bucket: string; cleaned?: string; parquet?: string; manifest?: string; rejects?: string; failure?: string };
  stats?: DatasetTrailer['stats'];
  sinks: Record<string, SinkResult | { skipped: string } | { sink: string; title: string; error: unknown; rowsAcknowledged: number; rowsNotSent: number; reason: string }>;
  problem?: ReturnType<Problem['toJSON']>;
}

/**
 * The dataset's events as publish needs them: the rows written as CSV lines straight from the
 * stream's bytes (`decodeNdjsonToCsv`), unless a Parquet output needs them typed.
 */
export function readDataset(body: AsyncIterable<Buffer>, deps: Pick<PublishDeps, 'formats' | 'escapeFormulas'>): AsyncGenerator<DatasetEvent | CsvRows> {
  return deps.formats?.includes('parquet') ? decodeNdjson(body) : decodeNdjsonToCsv(body, deps.escapeFormulas);
}

export async function publishDataset(events: AsyncIterable<DatasetEvent | CsvRows>, deps: PublishDeps): Promise<PublishResult> {
  const started = performance.now();
  const bucket = deps.outputBucket;
  const it = events[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done || first.value.kind !== 'header') throw datasetProblems.invalid('the stream must start with a header line');
  const header: DatasetHeader = first.value.header;
  const source = header.source;
  const id = sourceId(source);
  const names = outputsOf(source, id);
  const lifecycle = deps.lifecycle;
  const log = deps.log.child({ id, key: source.kind === 'object' ? source.key : source.name });

  // Whether this object version is still the newest (checked at most once a second while pushing).
  let checkedAt = 0;
  let current = true;
  const isCurrent = async (now = false): Promise<boolean> => {
    if (source.kind !== 'object' || !current) return current;
    if (!now && Date.now() - checkedAt < 1000) return current;
    checkedAt = Date.now();
    try {
      const stat = await deps.s3.statObject(source.bucket, source.key);
      current = !source.etag || !stat.etag || stat.etag === source.etag;
    } catch {
      /* deleted or unreachable: finish this version */
    }
    return current;
  };
  /**
   * Whether this version is still the newest (a HEAD) while the run's checkpoint is saved (the
   * fence: it throws claim-lost once another run adopted it): two round trips at once, not in turn.
   */
  const stillOursAndCurrent = async (): Promise<boolean> => (await Promise.all([isCurrent(true), checkpoint.save()]))[0];
  /** A newer upload replaced this version mid-run: its manifest goes aside, the key's outputs stay the newer one's. */
  const finishSuperseded = async (trailer: DatasetTrailer, sinks: PublishResult['sinks']): Promise<PublishResult> => {
    const key = source.kind === 'object' ? source.key : source.name;
    const manifestKey = supersededManifest(key, id);
    await checkpoint.save();
    const manifest: Manifest = { manifestVersion: 1, id, status: 'superseded', detail: 'a newer version of this object was uploaded while this one ran: it stopped before its next Power BI batch and did not overwrite the newer outputs; rows it had pushed stay in Power BI', runId: deps.runId, source, finishedAt: new Date().toISOString(), stats: trailer.stats, sinks: sinks as Manifest['sinks'] };
    await putJson(deps.s3, bucket, manifestKey, manifest);
    await lifecycle.outcomes.record({ id, source, outcome: 'superseded', runId: deps.runId, manifest: manifestKey, sinks });
    await checkpoint.clear();
    metrics.files.inc({ outcome: 'superseded' });
    log.warn('superseded', { manifest: manifestKey });
    return { status: 'superseded', id, source, outputs: { bucket, manifest: manifestKey }, stats: trailer.stats, sinks };
  };

  // The outcome (a replay?) and the claim this run must hold, read at once: one round trip.
  const look: Look = source.kind !== 'object' ? {} : deps.runId ? await lifecycle.claims.look(id) : { done: await lifecycle.outcomes.read(id) };
  const { done, seen: claim } = look;
  if (done) {
    for (let n = await it.next(); !n.done; n = await it.next()); // drain
    log.info('replay: the version has its outcome already; nothing to do', { outcome: done.outcome });
    metrics.replays.inc({ outcome: done.outcome });
    return { status: done.outcome, replay: true, id, source, outputs: await recordedOutputs(deps.s3, bucket, done, names), sinks: done.sinks as PublishResult['sinks'] };
  }
  // The run's checkpoint: adopted only by the run that holds the version's claim.
  if (source.kind === 'object' && !deps.runId) throw lifecycleProblems.noClaim('publish needs the run id of the claim (X-Run-Id, sent by transform)');
  const checkpoint: RunCheckpoint = source.kind === 'object' ? await lifecycle.checkpoints.adopt(id, deps.runId!, claim) : memoryCheckpoint();

  // 1. Output bucket: cleaned CSV and rejects, streamed.
  const escape = deps.escapeFormulas;
  const columns = header.schema.columns;
  const cleaned = new ObjectWriter(deps.s3, bucket, names.cleaned, 'text/csv; charset=utf-8', deps.partSize, source.kind === 'object' ? source.size : undefined);
  const rejects = new ObjectWriter(deps.s3, bucket, names.rejects, 'text/csv; charset=utf-8', deps.partSize);
  const csv = !deps.formats || deps.formats.includes('csv');
  const parquet = deps.formats?.includes('parquet') ? parquetObject(deps.s3, bucket, names.parquet, columns) : undefined;
  let trailer: DatasetTrailer | undefined;
  let rejectCount = 0;
  try {
    if (csv) await cleaned.write(cleanedHeaderLine(columns));
    const turn = loopTurns();
    for (let n = await it.next(); !n.done; n = await it.next()) {
      await turn();
      const e = n.value;
      if (e.kind === 'rows') {
        await parquet?.writeRows(e.rows);
        if (!csv) continue;
        let text = '';
        for (const r of e.rows) text += csvLine(r, escape);
        await cleaned.write(text);
      } else if (e.kind === 'csv') {
        if (parquet) throw datasetProblems.invalid('rows written as CSV cannot make the Parquet output (readDataset decodes them typed)');
        if (csv) await cleaned.writeBytes(e.csv);
      } else if (e.kind === 'reject') {
        if (!rejects.started) await rejects.write(csvLine(['line', 'column', 'reason', 'raw'], false));
        rejectCount++;
        await rejects.write(rejectLine(e.reject));
      } else if (e.kind === 'trailer') trailer = e.trailer;
    }
    if (!trailer) throw datasetProblems.truncated('no trailer line');
    // A newer version's outputs are never overwritten by an older run, and the run must still be
    // this one (the checkpoint's save): both asked at once, both must hold before the outputs are completed.
    if (!(await stillOursAndCurrent())) {
      await Promise.all([cleaned.abort(), rejects.abort(), parquet?.abort()]);
      return finishSuperseded(trailer, {});
    }
    await cleaned.end();
    await parquet?.end();
    await rejects.end();
  } catch (err) {
    const problem = err instanceof Problem ? err : datasetProblems.interrupted((err as Error).message);
    await Promise.all([cleaned.abort(), rejects.abort(), parquet?.abort()]);
    throw problem;
  }

  const outputs: PublishResult['outputs'] = { bucket, ...(csv ? { cleaned: names.cleaned } : {}), ...(parquet ? { parquet: names.parquet } : {}), manifest: names.manifest, ...(rejectCount ? { rejects: names.rejects } : {}) };
  if (trailer.error) {
    // The file could not be read to the end (or too many rows were rejected): nothing goes to Power BI.
    const problem = Problem.fromDetails(trailer.error);
    await removeQuietly(deps.s3, bucket, names.cleaned);
    if (parquet) await removeQuietly(deps.s3, bucket, names.parquet);
    const { failure } = await lifecycle.outcomes.fail({ id, source, problem, runId: deps.runId, extra: { stats: trailer.stats, rejects: trailer.rejects.slice(0, 20), rejectsObject: rejectCount ? names.rejects : undefined } });
    await checkpoint.clear();
    log.warn('file failed', { problem: problem.toJSON() });
    recordFile('failed', trailer.stats, started);
    return { status: 'failed', id, source, outputs: { bucket, failure: failure!, ...(rejectCount ? { rejects: names.rejects } : {}) }, stats: trailer.stats, sinks: {}, problem: problem.toJSON() };
  }
  const s3Ms = Math.round(performance.now() - started);

  // 2. Row sinks, resumable.
  const sinks: PublishResult['sinks'] = {};
  // One checkpoint write at a time, each of the newest state; a save that fails on the store is
  // retried by itself (the rows are already acknowledged: pushing them again would duplicate them).
  const progress = checkpoint.progress;
  const saveProgress = () => checkpoint.save();
  const noteAcked = (sink: string, acked: number, extra?: CheckpointExtra) => {
    progress.acked[sink] = acked;
    if (extra?.sequenceBase !== undefined) progress.sequenceBase = { ...progress.sequenceBase, [sink]: extra.sequenceBase };
  };
  for (const sink of deps.sinks) {
    const startAt = progress.acked[sink.name] ?? 0;
    // Read back from the cleaned CSV, or from the Parquet file when it is the only format.
    const body = csv ? await deps.s3.getObject(bucket, names.cleaned) : undefined;
    try {
      const delivered = await sink.deliver({
        header,
        rows: body ? readCleaned(body as AsyncIterable<Buffer>, columns, escape) : readParquetRows(deps.s3, bucket, names.parquet, columns),
        startAt,
        sequenceBase: progress.sequenceBase?.[sink.name],
        sentTo: progress.sentTo?.[sink.name],
        signal: deps.signal,
        stillCurrent: () => isCurrent(),
        onSending: async (sentTo, acked) => {
          progress.sentTo = { ...progress.sentTo, [sink.name]: Math.max(sentTo, progress.sentTo?.[sink.name] ?? 0) };
          if (acked) noteAcked(sink.name, acked.rows, acked.extra);
          await saveProgress();
        },
        onAck: async (acked, extra) => {
          noteAcked(sink.name, acked, extra);
          await saveProgress();
        },
      });
      sinks[sink.name] = { ...delivered, title: sink.title };
      recordDelivery(delivered);
    } catch (err) {
      body?.destroy();
      const acked = progress.acked[sink.name] ?? 0;
      if (err instanceof Problem && !err.retryable) {
        // The destination refuses these rows (schema mismatch, a 400 splitting could not isolate…):
        // a retry cannot help. The output bucket has everything; the file ends partial, and the
        // manifest says what the sink did not take and why.
        const rowsNotSent = Math.max(0, trailer.stats.rowsOut - acked);
        const reason = `${err.title}${err.detail ? `: ${err.detail}` : ''}`;
        log.error('partial: a sink refused rows', { sink: sink.name, reason, rowsNotSent, acked });
        sinks[sink.name] = { sink: sink.name, title: sink.title, error: err.toJSON(), rowsAcknowledged: acked, rowsNotSent, reason };
        continue;
      }
      log.error('sink failed', { sink: sink.name, error: err, acked });
      throw err;
    }
  }
  if (!deps.sinks.length) sinks.none = { skipped: NO_SINK };
  // Still the newest version, and still this run's (the manifest and the outcome may be written).
  if (Object.values(sinks).some((r) => 'superseded' in r && r.superseded) || !(await stillOursAndCurrent())) return finishSuperseded(trailer, sinks);

  // 3. Manifest and completion marker.
  const refused = Object.entries(sinks).filter(([, r]) => 'error' in r) as [string, { title: string; reason: string; rowsNotSent: number }][];
  const status: 'published' | 'partial' = refused.length ? 'partial' : 'published';
  const manifest: Manifest = {
    manifestVersion: 1,
    id,
    status,
    ...(refused.length ? { partial: refused.map(([name, r]) => `${name}: ${r.rowsNotSent} rows not sent to ${r.title} (${r.reason}); every row is in the cleaned CSV`).join('; ') } : {}),
    callId: deps.callId,
    runId: deps.runId,
    source,
    publishedAt: new Date().toISOString(),
    dialect: header.dialect,
    schema: header.schema,
    stats: trailer.stats,
    rejects: { count: rejectCount, object: rejectCount ? names.rejects : undefined, first: trailer.rejects.slice(0, 20) },
    outputs: outputs as Manifest['outputs'],
    sinks: sinks as Manifest['sinks'],
    timings: { transformMs: trailer.stats.durationMs, outputBucketMs: s3Ms, totalMs: Math.round(performance.now() - started) },
  };
  // A fixed re-upload of a file that failed before: its old failure record no longer applies.
  // It goes first, so that the manifest is the last output a file gets: whoever sees it sees
  // the file's final outputs (a crash in between leaves the event unanswered, and it is replayed).
  await removeQuietly(deps.s3, bucket, names.failure);
  await putJson(deps.s3, bucket, names.manifest, manifest);
  await lifecycle.outcomes.record({ id, source, outcome: status, runId: deps.runId, manifest: names.manifest, sinks, reason: manifest.partial });
  await checkpoint.clear();
  // One line per file with every outcome (the manifest has the same and more).
  const sinkSummary = Object.fromEntries(
    Object.entries(sinks).map(([name, r]) => [
      name,
      'rowsSent' in r
        ? { rowsSent: r.rowsSent, requests: r.requests, retries: r.retries, throttledMs: r.throttledMs, rejected: r.rowsRejected, skippedAsAlreadySent: r.rowsSkippedAsAlreadySent, possibleDuplicates: r.possibleDuplicates ?? 0 }
        : 'error' in r
          ? { error: (r.error as { title?: string }).title }
          : r,
    ]),
  );
  recordFile(status, trailer.stats, started);
  log[refused.length ? 'error' : 'info'](status, { rowsIn: trailer.stats.rowsIn, rows: trailer.stats.rowsOut, rejected: trailer.stats.rowsRejected, rejectReasons: trailer.stats.rejectReasons, sinks: sinkSummary, totalMs: manifest.timings?.totalMs });
  return { status, id, source, outputs, stats: trailer.stats, sinks };
}

/**
 * The outputs a finished version's replay answers with: those its manifest recorded (with
 * OUTPUT_FORMATS=parquet, no cleaned CSV); a failed version's failure record.
 */
async function recordedOutputs(s3: Storage, bucket: string, done: OutcomeRecord, names: OutputNames): Promise<PublishResult['outputs']> {
  if (done.outcome === 'failed') return { bucket, failure: done.failure ?? names.failure };
  const manifest = done.manifest ?? names.manifest;
  const recorded = (await getJson<Manifest>(s3, bucket, manifest))?.outputs;
  return { ...recorded, bucket, manifest };
}

function recordFile(outcome: string, stats: DatasetTrailer['stats'], started: number): void {
  metrics.files.inc({ outcome });
  metrics.rows.inc({ kind: 'in' }, stats.rowsIn);
  metrics.rows.inc({ kind: 'out' }, stats.rowsOut);
  metrics.rows.inc({ kind: 'rejected' }, stats.rowsRejected);
  metrics.bytesIn.inc(stats.bytesIn);
  metrics.fileDuration.observe({ stage: 'transform' }, stats.durationMs / 1000);
  metrics.fileDuration.observe({ stage: 'publish' }, (performance.now() - started) / 1000);
}

function rejectLine(r: Reject): string {
  return csvLine([r.line, r.column ?? '', r.reason, csvLine(r.raw, false).slice(0, -1)], true);
}
