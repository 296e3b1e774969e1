/**
 * What the webhook function does with a notification: check the bearer token (constant
 * time), validate the S3 event, keep object creations in watched buckets and suffixes, and
 * hand each object version to `transform` unless the lifecycle says it needs nothing: it has its
 * outcome already (a replay), or a live run holds it. It answers MinIO once its hand-off claim is
 * written, before calling transform, so MinIO's one-at-a-time delivery never waits for a file:
 * 200 when every record has its outcome or was ignored, 202 while one is running or waiting for
 * its next attempt (the lifecycle's records carry it on), 5xx only when the store itself could
 * not be reached (a retry by MinIO is then what helps).
 */
import type { FunctionContext, FunctionEvent, FunctionResult } from '../../shared/runtime/server.js';
import { bearer, requireBearer } from '../../shared/runtime/auth.js';
import { readJson } from '../../shared/runtime/body.js';
import { keyProblem } from '../../shared/storage/layout.js';
import { invoke, readAnswer } from '../../shared/runtime/invoke.js';
import { Problem, problems, type ProblemDetails } from '../../shared/runtime/problem.js';
import { decide, s3EventSchemas, type ObjectRef } from '../../shared/storage/s3-event.js';
import { isOutcome, Lifecycle, versionId, type HeldClaim, type Phase } from '../../shared/lifecycle/index.js';
import { RUN_ID_HEADER } from '../../shared/lifecycle/run.js';
import { storageProblems } from '../../shared/storage/problems.js';
import { metrics } from '../../shared/runtime/metrics.js';
import { classifyStatus, withRetries, type RetryPolicy } from '../../shared/runtime/retry.js';

export interface WebhookDeps {
  /** The bearer token MinIO sends. */
  token: string;
  /** Which objects are processed. */
  filter: { buckets: string[]; prefix: string; suffixes: string[] };
  transformUrl: string;
  /** The credential of the calls inside the chain. */
  internalToken: string;
  lifecycle: Lifecycle;
  /** Record why a key was refused at the edge (a terminal failure: never retried). */
  recordRefusal(ref: ObjectRef, reason: string): Promise<string>;
}

/** What became of one record, in the lifecycle's words. */
export interface HandOff {
  status: Phase;
  replay?: boolean;
  id: string;
  /** What the record ended with, when it ended here (failed for good). */
  result?: unknown;
  retryAt?: string;
}

/** Calling transform: connection failures retried through the one policy before the version is deferred. */
const INVOKE_POLICY: RetryPolicy = { maxRetries: 3, baseMs: 200, maxMs: 2_000 };

async function callTransform(ref: ObjectRef, runId: string, deps: WebhookDeps, ctx: FunctionContext): Promise<{ status: number; result: unknown }> {
  try {
    const res = await withRetries(
      () =>
        invoke(deps.transformUrl, {
          target: 'transform',
          headers: { 'content-type': 'application/json', ...bearer(deps.internalToken), [RUN_ID_HEADER]: runId },
          body: JSON.stringify(ref),
          callId: ctx.callId,
          retries: 0,
        }),
      INVOKE_POLICY,
    );
    return { status: res.status, result: await readAnswer(res.body) };
  } catch (err) {
    const problem = err instanceof Problem ? err : problems.downstreamUnreachable('transform');
    return { status: problem.status, result: problem.toJSON() };
  }
}

/**
 * transform's answer in the lifecycle's words (a problem without an outcome: a retry may help, or
 * not). `ranIt`: transform's run took the hand-off claim over and ended it (an outcome that is not
 * a replay: a version transform did not run is always answered as one).
 */
function phaseOf(answer: { status: number; result: unknown }): { status: Phase; replay?: boolean; retryable: boolean; ranIt?: boolean } {
  const body = answer.result as { status?: unknown; replay?: boolean; outcome?: unknown } | undefined;
  if (answer.status < 300 && (isOutcome(body?.status) || body?.status === 'running' || body?.status === 'waiting')) {
    return { status: body!.status as Phase, replay: body?.replay, retryable: false, ranIt: isOutcome(body?.status) && !body?.replay };
  }
  if (isOutcome(body?.outcome)) return { status: body!.outcome as Phase, retryable: false }; // a problem that names its outcome (superseded)
  const verdict = classifyStatus(answer.status);
  return verdict.kind === 'permanent' ? { status: 'failed', retryable: false } : { status: 'waiting', retryable: true };
}

/**
 * Hand one object version on: nothing to do when it has its outcome or a live run holds it; else
 * the webhook claims it for the hand-off (a conditional write, as any run does), answers, and calls
 * transform with the claim's run id, which transform's run takes over as its own. MinIO's
 * one-at-a-time delivery so waits for two round trips to the store (the look, the claim), not
 * for the call. A call that fails before transform took the claim leaves the version waiting for
 * its next attempt (counted); a claim no run took expires (CLAIM_SECONDS) — the sweep hands the
 * version on when either is due.
 */
export async function handOff(ref: ObjectRef, deps: WebhookDeps, ctx: FunctionContext): Promise<HandOff> {
  const id = versionId(ref);
  const taken = await deps.lifecycle.claims.take(id, { kind: 'object', ...ref }, Lifecycle.runId(), { handingOff: true });
  if (taken.kind === 'finished') {
    if (taken.gaveUp) return { status: 'failed', id, result: { status: 'failed', failure: taken.record.failure } };
    metrics.replays.inc({ outcome: taken.record.outcome });
    return { status: taken.record.outcome, replay: true, id };
  }
  if (taken.kind === 'running') return { status: 'running', id };
  if (taken.kind === 'waiting') return { status: 'waiting', id, retryAt: taken.holder.expiresAt };
  // Not renewed: a call that never reaches transform must not hold the version. transform takes
  // the claim over even once it has expired, unless the sweep has handed the version on again.
  void passOn(taken.claim, ref, deps, ctx);
  return { status: 'running', id };
}

/**
 * The call to transform with a hand-off claim, after the webhook answered. transform's run takes
 * the claim over (every write of the webhook's after that is refused: its etag is gone); a call
 * that ended without that — transform unreachable, or an answer before any run took it (the
 * version superseded, the object gone) — leaves the version waiting for its next attempt when a
 * retry may help, and no claim when not.
 */
async function passOn(claim: HeldClaim, ref: ObjectRef, deps: WebhookDeps, ctx: FunctionContext): Promise<void> {
  const answer = await callTransform(ref, claim.runId, deps, ctx);
  const phase = phaseOf(answer);
  ctx.log[answer.status >= 400 ? 'warn' : 'info']('hand-off ended', { bucket: ref.bucket, key: ref.key, id: claim.id, transformStatus: answer.status, outcome: phase.status });
  // A run took it over: its records say the rest (a release would only be refused: its etag is gone).
  if (claim.lost || phase.ranIt) return;
  try {
    if (!phase.retryable) return void (await claim.release());
    const body = answer.result as ProblemDetails | undefined;
    const problem = body?.title ? Problem.fromDetails(body) : problems.downstreamFailed(`transform answered ${answer.status}`);
    const next = await claim.defer(problem, classifyStatus(answer.status));
    if ('failed' in next) ctx.log.error('failed for good after too many attempts', { bucket: ref.bucket, key: ref.key, attempts: claim.attempts, record: next.failed.failure });
    else ctx.log.warn('hand-off failed: the next attempt waits', { bucket: ref.bucket, key: ref.key, transformStatus: answer.status, attempts: claim.attempts, retryAt: next.retryAt });
  } catch (err) {
    // Refused: a run took the claim over after all. Unreachable store: the claim expires, the sweep hands it on.
    if (!claim.lost) ctx.log.error('hand-off: the claim could not be updated; it expires and the sweep hands it on', { bucket: ref.bucket, key: ref.key, error: err });
  }
}

/** MinIO sends one record per request; a batch from other stores stays far below this. */
const NOTIFICATION_MAX_BYTES = 1024 * 1024;

export async function handleNotification(event: FunctionEvent, deps: WebhookDeps, ctx: FunctionContext): Promise<FunctionResult> {
  const token = deps.token;
  if (event.method === 'HEAD' || event.method === 'GET') return { status: 200, body: '' };
  if (event.method !== 'POST') throw problems.methodNotAllowed('send POST with an S3 event notification');
  requireBearer(event.headers, [token], 'WEBHOOK_TOKEN'); // MinIO: auth_token
  const raw = await readJson(event.body, NOTIFICATION_MAX_BYTES, 'an S3 event notification');
  if (raw === null) return { status: 204 }; // old MinIO liveness probe: an empty POST
  const parsed = s3EventSchemas().S3EventNotification.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.length ? issue.path.join('.') : '(root)';
    throw storageProblems.invalidEvent(`${field}: ${issue.message}`, { field });
  }
  const decisions = decide(parsed.data, deps.filter);
  const results: Record<string, unknown>[] = [];
  let storeDown = false;
  let pending = false;
  for (const d of decisions) {
    if (d.action === 'ignore') {
      metrics.files.inc({ outcome: 'ignored' });
      ctx.log.info('ignored', { eventName: d.eventName, bucket: d.bucket, key: d.key, reason: d.reason });
      results.push({ status: 'ignored', eventName: d.eventName, bucket: d.bucket, key: d.key, reason: d.reason });
      continue;
    }
    // Keys are checked once, here: one that can never name outputs fails for good, with a record.
    const refused = keyProblem(d.ref.key);
    if (refused) {
      const record = await deps.recordRefusal(d.ref, refused);
      metrics.files.inc({ outcome: 'failed' });
      ctx.log.warn('refused', { bucket: d.ref.bucket, key: d.ref.key, reason: refused, record });
      results.push({ status: 'failed', bucket: d.ref.bucket, key: d.ref.key, reason: refused, record });
      continue;
    }
    let out: HandOff;
    try {
      out = await handOff(d.ref, deps, ctx);
    } catch (err) {
      // The store could not be reached (the lifecycle's records): MinIO's retry is what helps.
      ctx.log.error('hand-off failed: the store is unreachable', { bucket: d.ref.bucket, key: d.ref.key, error: err });
      storeDown = true;
      results.push({ status: 'waiting', bucket: d.ref.bucket, key: d.ref.key, detail: 'the object store could not be reached; MinIO will redeliver the event' });
      continue;
    }
    if (out.status === 'running' || out.status === 'waiting' || out.status === 'pending') pending = true;
    const level = out.status === 'failed' || out.status === 'partial' ? 'warn' : 'info';
    ctx.log[level]('handed off', { bucket: d.ref.bucket, key: d.ref.key, id: out.id, outcome: out.status, ...(out.replay ? { replay: true, detail: 'this version has its outcome already: nothing to do (a forced rerun: npm run reprocess, or transform ?force=true with the chain credential)' } : {}) });
    results.push({ status: out.status, ...(out.replay ? { replay: true } : {}), bucket: d.ref.bucket, key: d.ref.key, id: out.id, ...(out.retryAt ? { retryAt: out.retryAt } : {}), ...(out.result !== undefined ? { result: out.result } : {}) });
  }
  if (storeDown) {
    throw storageProblems.storageUnavailable('the lifecycle records could not be read or written; MinIO will redeliver the event', { results });
  }
  return { status: pending ? 202 : 200, json: { results } };
}
