/**
 * What the transform function does with a request:
 * - an object reference (JSON from `webhook`): claim the version, stream the object from S3,
 *   transform, stream the dataset to `publish`, answer with publish's result;
 * - a CSV body (ad-hoc): answer the dataset as NDJSON, one JSON document or clean CSV (by
 *   `Accept`), a Parquet file (`Accept: application/vnd.apache.parquet`), or forward it to
 *   `publish` with `?publish=true`.
 */
import { Readable } from 'node:stream';
import type { CsvConfig } from '../../shared/csv/config.js';
import { NDJSON, type Cell, type DatasetHeader, type Source } from '../../shared/dataset/contract.js';
import { encodeNdjson } from '../../shared/dataset/ndjson.js';
import type { FunctionContext, FunctionEvent, FunctionResult } from '../../shared/runtime/server.js';
import { invoke, readAnswer } from '../../shared/runtime/invoke.js';
import { Problem, PROBLEM_CONTENT_TYPE, problems, toProblem, type ProblemDetails } from '../../shared/runtime/problem.js';
import { s3EventSchemas, type ObjectRef } from '../../shared/storage/s3-event.js';
import { schemaFor, type PinnedSchema } from '../../shared/csv/pinned-schema.js';
import { isOutcome, Lifecycle, lifecycleProblems, versionId, type ClaimAttempt, type HeldClaim } from '../../shared/lifecycle/index.js';
import { RUN_ID_HEADER } from '../../shared/lifecycle/run.js';
import { isNotFound, type Storage } from '../../shared/storage/s3.js';
import { transformCsv, transformCsvEncoded, transformOptionsFrom, type DatasetEvent, type EncodedCsvRows, type EncodedRows, type TransformOptions } from '../../shared/csv/clean.js';
import { storageProblems } from '../../shared/storage/problems.js';
import { holdBody } from '../../shared/runtime/spool.js';
import { csvAnswer, ndjsonAnswer, parquetAnswer } from './answers.js';
import { bearer } from '../../shared/runtime/auth.js';
import { keyProblem } from '../../shared/storage/layout.js';
import { metrics } from '../../shared/runtime/metrics.js';
import { classifyError } from '../../shared/runtime/retry.js';
import { takingTurns } from '../../shared/runtime/turns.js';

type ObjectSource = Extract<Source, { kind: 'object' }>;

export interface TransformDeps {
  csv: CsvConfig;
  outputBucket: string;
  lifecycle: Lifecycle;
  jsonMaxBytes: number;
  /** Ad-hoc bodies larger than this are refused (413). */
  spoolMaxBytes: number;
  /** Behind full-duplex proxies only: answer while the body is still being read. */
  fullDuplex: boolean;
  publishUrl: string;
  /** The only bucket objects are read from. */
  inputBucket: string;
  /** The credential of the calls inside the chain (sent to publish). */
  internalToken: string;
  s3: Storage;
  schemas: PinnedSchema[];
}

/** Pull the header (so that problems before it surface as errors), then hand on the whole stream. */
async function startDataset<E extends DatasetEvent | EncodedRows | EncodedCsvRows>(events: AsyncGenerator<E>): Promise<{ header: DatasetHeader; stream: AsyncGenerator<E> }> {
  const first = await events.next();
  if (first.done || first.value.kind !== 'header') throw problems.internal('transform produced no header');
  const header = (first.value as DatasetEvent & { kind: 'header' }).header;
  async function* all(): AsyncGenerator<E> {
    yield first.value as E;
    yield* events;
  }
  return { header, stream: all() };
}

async function forwardToPublish(deps: TransformDeps, stream: AsyncGenerator<DatasetEvent | EncodedRows>, ctx: FunctionContext, signal?: AbortSignal, runId?: string): Promise<FunctionResult> {
  const res = await invoke(deps.publishUrl, {
    target: 'publish',
    headers: { 'content-type': NDJSON, ...bearer(deps.internalToken), ...(runId ? { [RUN_ID_HEADER]: runId } : {}) },
    body: Readable.from(encodeNdjson(stream)),
    callId: ctx.callId,
    signal,
  });
  const body = await readAnswer(res.body);
  const contentType = String(res.headers['content-type'] ?? 'application/json');
  return { status: res.status, headers: { 'content-type': contentType.includes('problem') ? PROBLEM_CONTENT_TYPE : 'application/json' }, json: body };
}

/** The object version a reference names, checked against the store (it must exist and be that version). */
function objectRef(refInput: unknown, deps: TransformDeps): ObjectRef {
  const ref = s3EventSchemas().ObjectRef.parse(refInput);
  if (ref.bucket !== deps.inputBucket) throw storageProblems.wrongBucket(`transform reads only bucket ${deps.inputBucket}`, { bucket: ref.bucket });
  const refused = keyProblem(ref.key);
  if (refused) throw storageProblems.invalidKey(refused, { file: ref.key });
  return ref;
}

async function versionOf(ref: ObjectRef, deps: TransformDeps, log: FunctionContext['log']): Promise<ObjectSource> {
  let stat;
  try {
    stat = await deps.s3.statObject(ref.bucket, ref.key, ref.versionId ? { versionId: ref.versionId } : {});
  } catch (err) {
    if (isNotFound(err)) throw storageProblems.objectNotFound(`${ref.bucket}/${ref.key} does not exist (deleted since the event?)`, { file: ref.key });
    throw storageProblems.storageUnavailable((err as { code?: string }).code ?? 'error');
  }
  if (ref.etag && stat.etag && stat.etag !== ref.etag) {
    // Overwritten since the event (its own event processes the new version), or a forged reference.
    log.info('superseded', { bucket: ref.bucket, key: ref.key, eventEtag: ref.etag, currentEtag: stat.etag });
    metrics.files.inc({ outcome: 'superseded' });
    throw storageProblems.versionMismatch('the object was overwritten since this event (the newer version has its own event), or the reference is wrong', { file: ref.key, outcome: 'superseded' });
  }
  return { kind: 'object', bucket: ref.bucket, key: ref.key, etag: ref.etag ?? stat.etag, size: stat.size, ...(ref.versionId ? { versionId: ref.versionId } : {}) };
}

/** What a claim attempt that did not win answers: the version's phase, in the lifecycle's words. */
function notClaimed(taken: Exclude<ClaimAttempt, { kind: 'claimed' }>, id: string): FunctionResult {
  if (taken.kind === 'finished') {
    const r = taken.record;
    return { status: 200, json: { status: r.outcome, replay: true, id, finishedAt: r.finishedAt, ...(r.failure ? { failure: r.failure } : {}), ...(r.reason ? { reason: r.reason } : {}) } };
  }
  const h = taken.holder;
  return taken.kind === 'running' ? { status: 202, json: { status: 'running', id, since: h.claimedAt, attempts: h.attempts } } : { status: 202, json: { status: 'waiting', id, retryAt: h.expiresAt, attempts: h.attempts, last: h.last } };
}

/**
 * An object version: claimed (exactly one run of any number of replicas wins), transformed and
 * streamed to publish while the claim's heartbeat renews it; publish records the outcome. A
 * failure a retry can help leaves the version waiting for its next attempt; one it cannot ends it
 * failed, with its record. A run that loses its claim stops (its signal aborts the stream).
 */
export async function transformObject(refInput: unknown, deps: TransformDeps, ctx: FunctionContext, opts: { force?: boolean; handed?: string; deadline?: AbortSignal } = {}): Promise<FunctionResult> {
  const ref = objectRef(refInput, deps);
  const lifecycle = deps.lifecycle;
  // The version's records are read beside the source's HEAD when the event names its etag: one
  // round trip fewer before the claim. A look that is stale by the time the claim is written only
  // makes the conditional write fail and look again. A hand-off's run reads only the claim: the
  // take reads the outcome after its write (one request fewer a file).
  const lookId = ref.etag && !opts.force ? versionId(ref) : undefined;
  const look = lookId ? lifecycle.claims.look(lookId, !opts.handed) : undefined;
  look?.catch(() => undefined); // a failure is met where it is awaited
  const source = await versionOf(ref, deps, ctx.log);
  const log = ctx.log.child({ bucket: source.bucket, key: source.key });
  const id = versionId(source);
  if (opts.force) {
    // Reprocess on purpose (the chain's credential was checked): unless a run holds it now, the
    // version runs again from its first row, and its outputs are replaced.
    const now = await lifecycle.status(id);
    if (now.phase === 'running') return { status: 202, json: { status: 'running', id, since: now.claim?.claimedAt, renewedAt: now.claim?.renewedAt, expiresAt: now.claim?.expiresAt } };
    await lifecycle.outcomes.forget(id);
    log.info('reprocess requested', { id });
  }
  const runId = Lifecycle.runId();
  // A hand-off claim (the webhook's, its run id in the call) is taken over; none is taken as any claim is.
  const taken = await lifecycle.claims.take(id, source, runId, { force: opts.force, handed: opts.handed, looked: look && id === lookId ? await look : undefined });
  if (taken.kind !== 'claimed') return notClaimed(taken, id);
  const claim = taken.claim;
  claim.startHeartbeat((why) => log.warn('claim lost: stopping', { id, runId, why }));
  log.info('claimed', { id, runId, attempts: claim.attempts });
  try {
    const run = runClaimed(claim, deps, ctx, log, opts.deadline);
    if (!opts.deadline) return await run;
    // An await that never ends (a store or a publish that stops answering) cannot hold the claim past the deadline.
    const past = untilAborted(opts.deadline).then(() => pastDeadline(claim, deps, log));
    return await Promise.race([run, past]);
  } finally {
    claim.end();
  }
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** The memo of each claim's end at the deadline (the race and the run's own catch may both get there). */
const expiring = new WeakMap<HeldClaim, Promise<FunctionResult>>();

/**
 * The run passed the handler deadline (the caller was answered 504): the version waits for its
 * next attempt, counted, and this run gives its claim up so that nothing it still does is written.
 */
function pastDeadline(claim: HeldClaim, deps: TransformDeps, log: FunctionContext['log']): Promise<FunctionResult> {
  let done = expiring.get(claim);
  if (!done) {
    done = (async () => {
      if (claim.lost) return { status: 409, headers: { 'content-type': PROBLEM_CONTENT_TYPE }, json: (claim.signal.reason as Problem).toJSON() };
      const problem = problems.timeout('the run passed the handler deadline (HANDLER_TIMEOUT_SECONDS); the next attempt resumes it');
      const next = await claim.expire(problem);
      if ('failed' in next) throw lifecycleProblems.gaveUp(next.failed.reason, { failure: `${deps.outputBucket}/${next.failed.failure}`, last: problem.toJSON() });
      log.warn('the run passed its deadline: the next attempt waits', { id: claim.id, attempts: claim.attempts, retryAt: next.retryAt });
      return { status: 202, json: { status: 'waiting', id: claim.id, retryAt: next.retryAt, attempts: claim.attempts, last: problem.toJSON() } };
    })();
    expiring.set(claim, done);
  }
  return done;
}

/**
 * The run of a claimed version. It stops when its claim is lost or at the handler deadline,
 * whichever comes first: no wait (a store or a publish that never answers) holds a claim past
 * the deadline; the version then waits for its next attempt.
 */
async function runClaimed(claim: HeldClaim, deps: TransformDeps, ctx: FunctionContext, log: FunctionContext['log'], deadline?: AbortSignal): Promise<FunctionResult> {
  const { source, id, runId } = claim;
  const stop = deadline ? AbortSignal.any([claim.signal, deadline]) : claim.signal;
  const failed = async (problem: Problem): Promise<FunctionResult> => {
    const record = await deps.lifecycle.outcomes.fail({ id, source, problem, runId, attempts: claim.attempts });
    await claim.release();
    log.warn('file failed', { problem: problem.toJSON(), failure: record.failure });
    throw problem.with({ failure: `${deps.outputBucket}/${record.failure}` });
  };
  const retryLater = async (problem: Problem): Promise<FunctionResult> => {
    if (claim.lost) return { status: 409, headers: { 'content-type': PROBLEM_CONTENT_TYPE }, json: (claim.signal.reason as Problem).toJSON() };
    const verdict = classifyError(problem);
    const next = await claim.defer(problem, verdict);
    if ('failed' in next) throw lifecycleProblems.gaveUp(next.failed.reason, { failure: `${deps.outputBucket}/${next.failed.failure}`, last: problem.toJSON() });
    log.warn(verdict.kind === 'throttled' ? 'throttled: the next attempt waits' : 'the next attempt waits', { id, attempts: claim.attempts, retryAt: next.retryAt, problem: problem.toJSON() });
    return { status: 202, json: { status: 'waiting', id, retryAt: next.retryAt, attempts: claim.attempts, last: problem.toJSON() } };
  };
  let answer: FunctionResult;
  try {
    const body = await deps.s3.getObject(source.bucket, source.key, source.versionId ? { versionId: source.versionId } : {});
    let started;
    try {
      started = await startDataset(transformCsvEncoded(takingTurns(body as AsyncIterable<Buffer>), transformOptionsFrom(deps.csv, source, { schema: schemaFor(source.key, deps.schemas) })));
    } catch (err) {
      body.destroy();
      throw err;
    }
    answer = await forwardToPublish(deps, started.stream, ctx, stop, runId);
  } catch (err) {
    if (deadline?.aborted) return pastDeadline(claim, deps, log);
    const problem = err instanceof Problem ? err : toProblem(err, ctx.callId);
    if (problem.retryable || claim.lost) return retryLater(problem);
    return failed(problem);
  }
  const said = (answer.json as { status?: unknown } | undefined)?.status;
  const status = answer.status ?? 200;
  if (status < 300 && isOutcome(said)) {
    await claim.release(); // publish recorded the outcome
    return answer;
  }
  if (status >= 500 || status === 429) return retryLater(Problem.fromDetails(answer.json as ProblemDetails));
  if (status === 409 || claim.lost) return answer; // another run holds the version now
  // publish refused the dataset for good (and recorded nothing): the file fails, with its record.
  return failed(Problem.fromDetails(answer.json as ProblemDetails));
}

type Answer = 'ndjson' | 'json' | 'csv' | 'parquet';

/** The answer `Accept` names, if it names one. */
function acceptedAnswer(accept: string | undefined): Answer | undefined {
  const a = (accept ?? '').toLowerCase();
  if (a.includes('application/x-ndjson') || a.includes('application/ndjson')) return 'ndjson';
  if (a.includes('text/csv')) return 'csv';
  if (a.includes('application/vnd.apache.parquet')) return 'parquet';
  if (a.includes('application/json')) return 'json';
  return undefined;
}

export function negotiate(accept: string | undefined, contentLength: number | undefined, jsonMax: number): Answer {
  return acceptedAnswer(accept) ?? (contentLength !== undefined && contentLength <= jsonMax ? 'json' : 'ndjson');
}

export function adhocOverrides(q: URLSearchParams): Partial<TransformOptions> {
  const o: Partial<TransformOptions> = {};
  const bad = problems.invalidParameter;
  const delimiter = q.get('delimiter');
  if (delimiter !== null) {
    const d = delimiter === 'tab' || delimiter === '\\t' ? '\t' : delimiter;
    if (![',', ';', '\t', '|', 'auto'].includes(d)) throw bad('delimiter', ', ; tab | auto');
    o.delimiter = d as TransformOptions['delimiter'];
  }
  const encoding = q.get('encoding');
  if (encoding !== null) {
    const e = encoding.toLowerCase().replace('utf8', 'utf-8').replace('cp1252', 'windows-1252').replace('iso-8859-1', 'latin1');
    if (!['auto', 'utf-8', 'windows-1252', 'latin1'].includes(e)) throw bad('encoding', 'auto utf-8 windows-1252 latin1');
    o.encoding = e as TransformOptions['encoding'];
  }
  const decimal = q.get('decimal');
  if (decimal !== null) {
    const d = decimal === 'comma' ? ',' : decimal === 'dot' || decimal === 'point' ? '.' : decimal;
    if (!['.', ',', 'auto'].includes(d)) throw bad('decimal', '. , comma dot auto');
    o.decimal = d as TransformOptions['decimal'];
  }
  const header = q.get('header');
  if (header !== null) {
    if (!['true', 'false'].includes(header)) throw bad('header', 'true false');
    o.header = header === 'true';
  }
  return o;
}

/** An ad-hoc answer may be larger than its CSV (NDJSON, typed JSON): its spool holds up to 4× the body limit. */
const answerSpoolMaxBytes = (deps: TransformDeps) => 4 * deps.spoolMaxBytes;

/**
 * An ad-hoc CSV. Behind half-duplex proxies (unless `fullDuplex`) the body is transformed as it
 * arrives and the answer is held instead: spooled to a temporary file as it is made (NDJSON, CSV,
 * Parquet; a JSON document is held in memory, bounded), it starts only once the body has been
 * read whole. The file is removed on every path.
 */
export async function transformAdhoc(event: FunctionEvent, deps: TransformDeps, ctx: FunctionContext): Promise<FunctionResult> {
  const declared = event.headers['content-length'] ? Number(event.headers['content-length']) : undefined;
  const accept = String(event.headers.accept ?? '');
  if (deps.fullDuplex) return answerAdhoc(event, event.body, negotiate(accept, declared, deps.jsonMaxBytes), deps, ctx);
  const body = holdBody(event.body, deps.spoolMaxBytes, event.signal);
  let result: FunctionResult;
  try {
    // A gateway may pass the body on chunked: without its length, read ahead to see whether it is small enough for one JSON document.
    const lengthNeeded = declared === undefined && !acceptedAnswer(accept) && event.query.get('publish') !== 'true';
    const length = lengthNeeded ? await body.lengthUpTo(deps.jsonMaxBytes) : declared;
    result = await answerAdhoc(event, body.chunks, negotiate(accept, length, deps.jsonMaxBytes), deps, ctx);
  } catch (err) {
    await body.readToEnd(); // the body's own problem (too large, the client gone) comes first
    throw err;
  }
  try {
    await body.readToEnd();
    event.signal.throwIfAborted(); // answered 504 at the deadline meanwhile, or the client gone
  } catch (err) {
    if (result.body instanceof Readable) result.body.destroy(); // removes its spool file
    throw err;
  }
  return result;
}

async function answerAdhoc(event: FunctionEvent, bytes: AsyncIterable<Buffer>, answer: Answer, deps: TransformDeps, ctx: FunctionContext): Promise<FunctionResult> {
  const name = event.query.get('name') ?? String(event.headers['x-file-name'] ?? 'adhoc.csv');
  bytes = takingTurns(bytes);
  const source: Source = { kind: 'adhoc', name };
  const schemaKey = event.query.get('schema') ?? name;
  const opts = transformOptionsFrom(deps.csv, source, { ...adhocOverrides(event.query), schema: schemaFor(schemaKey, deps.schemas) });
  const publish = event.query.get('publish') === 'true';
  if (publish || answer === 'ndjson') {
    // NDJSON on the wire: the rows are typed from their bytes straight into it.
    const { stream } = await startDataset(transformCsvEncoded(bytes, opts));
    if (publish) return forwardToPublish(deps, stream, ctx, event.signal);
    return ndjsonAnswer(stream, deps.fullDuplex ? undefined : { limit: answerSpoolMaxBytes(deps) });
  }
  if (answer === 'csv') {
    // Clean CSV: the rows are typed from their bytes straight into its lines.
    const escapeFormulas = deps.csv.CSV_ESCAPE_FORMULAS;
    const { header, stream } = await startDataset(transformCsvEncoded(bytes, opts, { format: 'csv', escapeFormulas }));
    return csvAnswer(header, stream, escapeFormulas, deps.fullDuplex ? undefined : { limit: answerSpoolMaxBytes(deps) });
  }
  const { header, stream } = await startDataset(transformCsv(bytes, opts));
  if (answer === 'parquet') return parquetAnswer(header, stream, answerSpoolMaxBytes(deps));
  return jsonAnswer(source, header, stream, deps.jsonMaxBytes);
}

/** One JSON document, bounded (held in memory). */
async function jsonAnswer(source: Source, header: DatasetHeader, stream: AsyncIterable<DatasetEvent>, jsonMaxBytes: number): Promise<FunctionResult> {
  const names = header.schema.columns.map((c) => c.name);
  const rows: Record<string, Cell>[] = [];
  const rejects: unknown[] = [];
  let size = 0;
  let trailer;
  for await (const e of stream) {
    if (e.kind === 'rows') {
      for (const r of e.rows) {
        const o: Record<string, Cell> = {};
        for (let i = 0; i < names.length; i++) o[names[i]] = r[i];
        rows.push(o);
        size += JSON.stringify(r).length + names.length * 8;
      }
      if (size > jsonMaxBytes) {
        throw problems.answerTooLarge(`the answer passes ${jsonMaxBytes} bytes; ask for Accept: application/x-ndjson (streamed) or text/csv`);
      }
    } else if (e.kind === 'reject') {
      if (rejects.length < 1000) rejects.push(e.reject);
    } else if (e.kind === 'trailer') trailer = e.trailer;
  }
  const status = trailer?.error ? trailer.error.status : 200;
  return {
    status,
    headers: { 'content-type': trailer?.error ? PROBLEM_CONTENT_TYPE : 'application/json' },
    json: trailer?.error
      ? { ...trailer.error, stats: trailer.stats, rejects }
      : { source, dialect: header.dialect, schema: header.schema, rows, rejects, stats: trailer?.stats },
  };
}
