/**
 * What the webhook function does with a notification: check the bearer token (constant
 * time), validate the S3 event, keep object creations in watched buckets and suffixes, and
 * hand each object to `transform`. It answers within MinIO's 60 s: 2xx for events it ignores
 * or that were handled (also files recorded as failed: their retry cannot help), 202 when the
 * work is still going after the wait, 5xx only when a retry can help.
 */
import type { FunctionContext, FunctionEvent, FunctionResult } from '../../shared/runtime/server.js';
import { bearer, requireBearer } from '../../shared/runtime/auth.js';
import { readJson } from '../../shared/runtime/body.js';
import { keyProblem } from '../../shared/storage/layout.js';
import { invoke, readAnswer } from '../../shared/runtime/invoke.js';
import { Problem, problems } from '../../shared/runtime/problem.js';
import { decide, S3EventNotification, type ObjectRef } from '../../shared/storage/s3-event.js';
import { idempotencyKey } from '../../shared/storage/object-state.js';
import { storageProblems } from '../../shared/storage/problems.js';
import { metrics } from '../../shared/runtime/metrics.js';

export interface WebhookDeps {
  /** The bearer token MinIO sends. */
  token: string;
  /** Which objects are processed. */
  filter: { buckets: string[]; prefix: string; suffixes: string[] };
  /** How long to wait for a run before answering 202. */
  waitSeconds: number;
  transformUrl: string;
  /** The credential of the calls inside the chain. */
  internalToken: string;
  /** Record why a key was refused at the edge (a terminal failure: never retried). */
  recordRefusal(ref: ObjectRef, reason: string): Promise<string>;
  /** Count a failed attempt; past MAX_ATTEMPTS the object fails for good. Returns the record when it does. */
  recordAttempt(ref: ObjectRef, problem: unknown): Promise<{ attempts: number; failure?: string }>;
}

/** Objects being handed off right now by this process: a duplicate delivery joins the same run. */
interface HandOff {
  status: number;
  result: unknown;
}

interface Run {
  outcome: Promise<HandOff>;
  /** Set once MinIO was answered 202: from then on this process owns the retries. */
  answered: boolean;
}

const runs = new Map<string, Run>();

/** Delays between retries of a handed-off object (about 4 minutes in all). */
export const HANDOFF_RETRY_MS = [2_000, 5_000, 15_000, 30_000, 60_000, 120_000];

export function handOff(ref: ObjectRef, deps: WebhookDeps, ctx: FunctionContext): Run {
  const id = idempotencyKey(ref);
  const running = runs.get(id);
  if (running) return running;
  const run: Run = { answered: false, outcome: Promise.resolve({ status: 0, result: undefined }) };
  const once = async (): Promise<HandOff> => {
    try {
      const res = await invoke(deps.transformUrl, {
        target: 'transform',
        headers: { 'content-type': 'application/json', ...bearer(deps.internalToken) },
        body: JSON.stringify(ref),
        callId: ctx.callId,
        retries: 3,
      });
      return { status: res.status, result: await readAnswer(res.body) };
    } catch (err) {
      const problem = err instanceof Problem ? err : problems.downstreamUnreachable('transform');
      return { status: problem.status, result: problem.toJSON() };
    }
  };
  run.outcome = (async (): Promise<HandOff> => {
    for (let attempt = 0; ; attempt++) {
      const out = await once();
      let retryable = out.status >= 500 || out.status === 429;
      if (retryable) {
        // Every failure a retry could help is counted for the object version; past the ceiling it
        // fails for good (with its record), and nobody retries it again.
        const counted = await deps.recordAttempt(ref, out.result).catch(() => ({ attempts: 0, failure: undefined }));
        if (counted.failure) {
          ctx.log.error('failed for good after too many attempts', { bucket: ref.bucket, key: ref.key, attempts: counted.attempts, record: counted.failure });
          return { status: 200, result: { status: 'failed', attempts: counted.attempts, failure: counted.failure, last: out.result } };
        }
        retryable = true;
      }
      // Before MinIO has its answer, a failure goes back to MinIO (its queue retries).
      // After a 202, nobody else will retry: this process does, with backoff.
      if (!retryable || !run.answered || attempt >= HANDOFF_RETRY_MS.length) {
        if (retryable && run.answered) ctx.log.error('gave up on a handed-off object', { bucket: ref.bucket, key: ref.key, status: out.status });
        return out;
      }
      ctx.log.warn('retrying a handed-off object', { bucket: ref.bucket, key: ref.key, status: out.status, inMs: HANDOFF_RETRY_MS[attempt] });
      await new Promise((r) => setTimeout(r, HANDOFF_RETRY_MS[attempt]));
    }
  })().finally(() => runs.delete(id));
  runs.set(id, run);
  return run;
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
  const parsed = S3EventNotification.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.length ? issue.path.join('.') : '(root)';
    throw storageProblems.invalidEvent(`${field}: ${issue.message}`, { field });
  }
  const decisions = decide(parsed.data, deps.filter);
  const results: Record<string, unknown>[] = [];
  let retry = false;
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
      metrics.files.inc({ outcome: 'refused' });
      ctx.log.warn('refused', { bucket: d.ref.bucket, key: d.ref.key, reason: refused, record });
      results.push({ status: 'refused', bucket: d.ref.bucket, key: d.ref.key, reason: refused, record });
      continue;
    }
    const run = handOff(d.ref, deps, ctx);
    const waitMs = deps.waitSeconds * 1000;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([run.outcome, new Promise<null>((r) => (timer = setTimeout(() => r(null), waitMs)))]);
    clearTimeout(timer);
    if (outcome === null) {
      run.answered = true;
      pending = true;
      ctx.log.info('handed off', { bucket: d.ref.bucket, key: d.ref.key, detail: `still running after ${deps.waitSeconds}s` });
      results.push({ status: 'accepted', bucket: d.ref.bucket, key: d.ref.key, detail: 'processing continues; the lease makes a redelivery a no-op' });
      continue;
    }
    if (outcome.status >= 500 || outcome.status === 429) retry = true;
    // The outcome in words: published, partial, already-published (identical bytes), failed…
    const said = (outcome.result as { status?: string } | undefined)?.status;
    ctx.log[said === 'partial' || outcome.status >= 400 ? 'warn' : 'info']('handled', { bucket: d.ref.bucket, key: d.ref.key, transformStatus: outcome.status, ...(said ? { outcome: said } : {}), ...(said === 'already-published' ? { detail: 'identical bytes were processed before: nothing to do (a forced rerun: transform ?force=true with the chain credential; locally npm run reprocess)' } : {}) });
    results.push({ status: outcome.status < 300 ? 'processed' : outcome.status >= 500 ? 'retry' : outcome.status === 409 ? 'superseded' : 'failed', bucket: d.ref.bucket, key: d.ref.key, transformStatus: outcome.status, result: outcome.result });
  }
  if (retry) {
    throw problems.downstreamFailed('a downstream function or Power BI failed; MinIO will redeliver the event', { results });
  }
  return { status: pending ? 202 : 200, json: { results } };
}
