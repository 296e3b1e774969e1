/**
 * The lifecycle against the embedded store (which answers conditional writes as S3 and MinIO do):
 * claims raced on purpose, taken over after a run dies, fenced checkpoints, lost answers, one
 * outcome, the ceiling of attempts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmbeddedS3, type EmbeddedS3 } from '../../dev/embedded-s3.js';
import { problems } from '../runtime/problem.js';
import { LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY } from '../storage/config.js';
import { createStorage } from '../storage/s3.js';
import { Lifecycle, versionId, type Claim } from './index.js';
import type { Versioned } from '../storage/conditional-store.js';

let dir: string;
let server: EmbeddedS3;
/** A lifecycle as one process (one replica) sees it: its own S3 client. */
let replica: (claimMs?: number, maxAttempts?: number) => Lifecycle;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lifecycle-'));
  server = await startEmbeddedS3({ directory: dir, accessKey: LOCAL_S3_ACCESS_KEY, secretKey: LOCAL_S3_SECRET_KEY, buckets: ['incoming', 'processed'] });
  replica = (claimMs = 30_000, maxAttempts = 20) => new Lifecycle(createStorage({ S3_ENDPOINT: server.url, S3_ACCESS_KEY: LOCAL_S3_ACCESS_KEY, S3_SECRET_KEY: LOCAL_S3_SECRET_KEY, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 }), 'processed', { claimMs, maxAttempts });
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A claim as a look read it while it was live: its expiry a minute on. */
const stillLive = (seen: Versioned<Claim>): Versioned<Claim> => ({ ...seen, value: { ...seen.value, expiresAt: new Date(Date.now() + 60_000).toISOString() } });

const version = (key: string) => {
  const source = { kind: 'object' as const, bucket: 'incoming', key, etag: 'e'.repeat(32), size: 10 };
  return { source, id: versionId(source) };
};

describe('claims', () => {
  test('3 claimers race for one version 200 times: exactly one wins each time', { timeout: 120_000 }, async () => {
    const claimers = [replica(), replica(), replica()];
    for (let round = 0; round < 200; round++) {
      const { source, id } = version(`race/${round}.csv`);
      const tries = await Promise.all(claimers.map((l) => l.claims.take(id, source, Lifecycle.runId())));
      const won = tries.filter((t) => t.kind === 'claimed');
      assert.equal(won.length, 1, `round ${round}: ${tries.map((t) => t.kind).join(',')}`);
      assert.ok(tries.every((t) => t.kind === 'claimed' || t.kind === 'running'), tries.map((t) => t.kind).join(','));
      const holder = (await claimers[0].claims.read(id))!.value.runId;
      assert.equal(holder, won[0].kind === 'claimed' ? won[0].claim.runId : '', 'the claim names the winner');
    }
  });

  test('an expired claim raced by 3 claimers 50 times: exactly one takes it over', { timeout: 120_000 }, async () => {
    const claimers = [replica(), replica(), replica()];
    for (let round = 0; round < 50; round++) {
      const { source, id } = version(`takeover/${round}.csv`);
      const dead = await replica(1).claims.take(id, source, 'dead-run');
      assert.equal(dead.kind, 'claimed');
      await new Promise((r) => setTimeout(r, 5)); // its 1 ms claim has expired, and nothing renews it
      const tries = await Promise.all(claimers.map((l) => l.claims.take(id, source, Lifecycle.runId())));
      const won = tries.filter((t) => t.kind === 'claimed');
      assert.equal(won.length, 1, `round ${round}: ${tries.map((t) => t.kind).join(',')}`);
      assert.equal(won[0].kind === 'claimed' && won[0].claim.attempts, 2, 'the takeover is counted as the second attempt');
    }
  });

  test('a hand-off claim raced by 3 runs that carry its run id, and one that does not, 50 times: exactly one carrier takes it over, not counted again', { timeout: 120_000 }, async () => {
    const claimers = [replica(), replica(), replica(), replica()];
    for (let round = 0; round < 50; round++) {
      const { source, id } = version(`handoff/${round}.csv`);
      const handOff = await replica().claims.take(id, source, `handoff-${round}`);
      assert.equal(handOff.kind, 'claimed');
      if (handOff.kind !== 'claimed') return;
      handOff.claim.startHeartbeat(); // (the webhook does not renew it; a renewal here races the take-overs too)
      const tries = await Promise.all(claimers.map((l, i) => l.claims.take(id, source, Lifecycle.runId(), i < 3 ? { handed: `handoff-${round}` } : {})));
      const won = tries.filter((t) => t.kind === 'claimed');
      assert.equal(won.length, 1, `round ${round}: ${tries.map((t) => t.kind).join(',')}`);
      assert.notEqual(tries[3].kind, 'claimed', 'a run without the hand-off id finds it running');
      assert.equal(won[0].kind === 'claimed' && won[0].claim.attempts, 1, 'the hand-off and its run are one attempt');
      const now = (await claimers[0].claims.read(id))!.value;
      assert.equal(now.runId, won[0].kind === 'claimed' ? won[0].claim.runId : '', 'the claim names the run, not the hand-off');
      // The hand-off's own writes are refused from now on: it can neither release nor defer the run's claim.
      await assert.rejects(handOff.claim.defer(problems.downstreamUnreachable('transform'), { kind: 'retryable', reason: 'test' }), (err: Error & { status?: number }) => err.status === 409);
      assert.equal(await claimers[0].claims.read(id).then((c) => c?.value.runId), now.runId);
      handOff.claim.end();
      assert.equal((await replica().claims.take(id, source, Lifecycle.runId(), { handed: `handoff-${round}` })).kind, 'running', 'a late call with the hand-off id finds the run');
    }
  });

  test('an expired hand-off claim: its carrier still takes it over as the same attempt, unless the sweep handed the version on first', async () => {
    const { source, id } = version('handoff-expired.csv');
    assert.equal((await replica(1).claims.take(id, source, 'handoff-late')).kind, 'claimed');
    await new Promise((r) => setTimeout(r, 5));
    const late = await replica().claims.take(id, source, 'run-late', { handed: 'handoff-late' });
    assert.deepEqual([late.kind, late.kind === 'claimed' && late.claim.attempts], ['claimed', 1]);

    const other = version('handoff-swept.csv');
    assert.equal((await replica(1).claims.take(other.id, other.source, 'handoff-lost')).kind, 'claimed');
    await new Promise((r) => setTimeout(r, 5));
    const swept = await replica().claims.take(other.id, other.source, 'handoff-sweep'); // the sweep's own hand-off
    assert.deepEqual([swept.kind, swept.kind === 'claimed' && swept.claim.attempts], ['claimed', 2], 'a claim no run took counts as an attempt');
    assert.equal((await replica().claims.take(other.id, other.source, 'run-late', { handed: 'handoff-lost' })).kind, 'running', 'the late call finds the sweep\'s');
  });

  test('a hand-off claim written over an outcome its look missed: the run that takes it finds the outcome, and the due sweep deletes the claim', async () => {
    const { source, id } = version('handoff-finished.csv');
    const l = replica();
    await l.outcomes.record({ id, source, outcome: 'published' });
    const handOff = await l.claims.take(id, source, 'handoff-stale', { handingOff: true, looked: {} }); // a look from before the outcome
    assert.equal(handOff.kind, 'claimed', 'no second read of the outcome: the hand-off is claimed');
    // transform's run of a hand-off looks at the claim only (beside the source's HEAD): its take reads the outcome after its write.
    const claimOnly = await replica().claims.look(id, false);
    assert.deepEqual([claimOnly.done, claimOnly.seen?.value.runId], [undefined, 'handoff-stale']);
    const run = await replica().claims.take(id, source, Lifecycle.runId(), { handed: 'handoff-stale', looked: claimOnly });
    assert.equal(run.kind, 'finished', 'the run that takes it over finds the outcome');
    const listed = [];
    for await (const c of l.due(Date.now() + 10 * 60_000)) listed.push(c.key);
    assert.ok(!listed.includes('handoff-finished.csv'), 'not due: it has its outcome');
    assert.equal(await l.claims.read(id), undefined, 'the claim beside the outcome is gone');
  });

  test('a heartbeat keeps the claim; a run that stops renewing is taken over, and its next write is refused (its signal aborts)', async () => {
    const { source, id } = version('heartbeat.csv');
    const a = await replica(300).claims.take(id, source, 'run-a');
    assert.equal(a.kind, 'claimed');
    if (a.kind !== 'claimed') return;
    a.claim.startHeartbeat();
    await new Promise((r) => setTimeout(r, 700));
    assert.equal((await replica().claims.take(id, source, 'run-b')).kind, 'running', 'renewed: still held after twice its time-to-live');
    a.claim.end(); // the run "dies": no more renewals
    await new Promise((r) => setTimeout(r, 400));
    const b = await replica(300).claims.take(id, source, 'run-b');
    assert.equal(b.kind, 'claimed', 'taken over once expired');
    await assert.rejects(a.claim.renew(), (err: Error & { status?: number }) => err.status === 409);
    assert.ok(a.claim.signal.aborted, 'the old run is told');
  });

  test('a look taken before the claim (transform reads it beside the source HEAD) that went stale: a run took the version, or finished it, meanwhile', async () => {
    const a = replica();
    const b = replica();
    const taken = version('stale-look/taken.csv');
    const before = await a.claims.look(taken.id);
    const other = await b.claims.take(taken.id, taken.source, 'run-b');
    assert.equal(other.kind, 'claimed');
    const late = await a.claims.take(taken.id, taken.source, 'run-a', { looked: before });
    assert.equal(late.kind, 'running', 'the conditional write fails on the stale look, and the look again sees the live run');
    assert.equal((await a.claims.read(taken.id))!.value.runId, 'run-b');

    const finished = version('stale-look/finished.csv');
    const empty = await a.claims.look(finished.id);
    const run = await b.claims.take(finished.id, finished.source, 'run-b');
    assert.equal(run.kind, 'claimed');
    await b.outcomes.record({ id: finished.id, source: finished.source, outcome: 'published', runId: 'run-b' });
    if (run.kind === 'claimed') await run.claim.release();
    const again = await a.claims.take(finished.id, finished.source, 'run-a', { looked: empty });
    assert.equal(again.kind, 'finished', 'the outcome read after the claim catches the run that ended');
    assert.equal(await a.claims.read(finished.id), undefined, 'and the claim it wrote is let go');
  });

  test('a claim whose answer was lost is still ours: the retry finds its own write', async () => {
    const { source, id } = version('lost-answer.csv');
    server.loseAnswers(/_state\/claims\//);
    const taken = await replica().claims.take(id, source, 'run-lost');
    assert.equal(taken.kind, 'claimed');
    assert.equal((await replica().claims.read(id))!.value.runId, 'run-lost');
  });
});

describe('checkpoints are fenced', () => {
  test('a run that lost its claim cannot save its checkpoint once the new run adopted it', async () => {
    const { source, id } = version('fence.csv');
    const l = replica(200);
    const a = await l.claims.take(id, source, 'run-a');
    assert.equal(a.kind, 'claimed');
    const cpA = await l.checkpoints.adopt(id, 'run-a');
    cpA.progress.acked.sink = 10;
    await cpA.save();
    await new Promise((r) => setTimeout(r, 250)); // run-a's claim expires
    const b = await replica(30_000).claims.take(id, source, 'run-b');
    assert.equal(b.kind, 'claimed');
    await assert.rejects(replica().checkpoints.adopt(id, 'run-a'), (err: Error & { status?: number }) => err.status === 409, 'a run that does not hold the claim cannot adopt');
    const cpB = await replica().checkpoints.adopt(id, 'run-b');
    assert.equal(cpB.progress.acked.sink, 10, 'the new run resumes from the checkpoint');
    cpA.progress.acked.sink = 20;
    await assert.rejects(cpA.save(), (err: Error & { status?: number }) => err.status === 409, 'the old run is fenced out');
    cpB.progress.acked.sink = 15;
    await cpB.save();
  });

  test('a claim read before the adoption (publish reads it beside the outcome) that went stale: the run that lost it never takes the checkpoint from the run that holds the claim', async () => {
    const { source, id } = version('stale-look.csv');
    const l = replica(200);
    assert.equal((await l.claims.take(id, source, 'run-a')).kind, 'claimed');
    // run-a's look, read while its claim still had time left (the clock moves on before it is used).
    const lookA = stillLive((await l.claims.look(id)).seen!);
    assert.equal(lookA.value.runId, 'run-a');
    await new Promise((r) => setTimeout(r, 250)); // run-a's claim expires
    assert.equal((await replica(30_000).claims.take(id, source, 'run-b')).kind, 'claimed');
    const cpB = await replica().checkpoints.adopt(id, 'run-b');
    cpB.progress.acked.sink = 7;
    await cpB.save();
    // run-a's look still says it holds the claim: its create is refused, and the claim read again says it does not.
    await assert.rejects(replica().checkpoints.adopt(id, 'run-a', lookA), (err: Error & { status?: number }) => err.status === 409, 'the stale run cannot adopt');
    cpB.progress.acked.sink = 9;
    await cpB.save(); // still run-b's
    // With no checkpoint yet, a stale look creates one; the run that holds the claim adopts it next and fences the stale run out.
    const other = version('stale-look-first.csv');
    assert.equal((await l.claims.take(other.id, other.source, 'run-a')).kind, 'claimed');
    const lookA2 = stillLive((await l.claims.look(other.id)).seen!);
    await new Promise((r) => setTimeout(r, 250));
    assert.equal((await replica(30_000).claims.take(other.id, other.source, 'run-b')).kind, 'claimed');
    const cpA2 = await replica().checkpoints.adopt(other.id, 'run-a', lookA2);
    const cpB2 = await replica().checkpoints.adopt(other.id, 'run-b');
    assert.deepEqual(cpB2.progress.acked, {});
    await assert.rejects(cpA2.save(), (err: Error & { status?: number }) => err.status === 409, 'the stale run is fenced out');
    await cpB2.save();
  });
});

describe('outcomes and attempts', () => {
  test('an outcome is recorded once: a second run finishing finds the first', async () => {
    const { source, id } = version('once.csv');
    const l = replica();
    const first = await l.outcomes.record({ id, source, outcome: 'published', runId: 'run-1' });
    const second = await replica().outcomes.record({ id, source, outcome: 'partial', runId: 'run-2' });
    assert.equal(first.runId, 'run-1');
    assert.equal(second.runId, 'run-1');
    assert.equal((await l.status(id)).phase, 'published');
    assert.equal((await l.claims.take(id, source, 'run-3')).kind, 'finished');
  });

  test('deferred hand-offs are counted; past MAX_ATTEMPTS the version fails for good with its record', async () => {
    const { source, id } = version('ceiling.csv');
    const l = replica(30_000, 2);
    const p = problems.downstreamUnreachable('transform');
    // A hand-off whose call failed before any run took it (the webhook's claim, deferred).
    const handOffFails = async () => {
      const t = await l.claims.take(id, source, Lifecycle.runId());
      assert.equal(t.kind, 'claimed');
      return t.kind === 'claimed' ? t.claim.defer(p, { kind: 'retryable', reason: 'x' }) : undefined;
    };
    const one = await handOffFails();
    assert.ok(one && 'retryAt' in one);
    const waiting = await l.status(id);
    assert.deepEqual([waiting.phase, waiting.claim!.attempts], ['waiting', 1]);
    assert.equal((await l.claims.take(id, source, 'early')).kind, 'waiting', 'not before its next attempt is due');
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(one.retryAt) - Date.now()) + 20));
    const two = await handOffFails();
    assert.ok(two && 'failed' in two, 'the second attempt is the last');
    const status = await l.status(id);
    assert.equal(status.phase, 'failed');
    assert.equal(status.outcome!.failure, 'failed/ceiling.csv.json');
    assert.equal(status.claim, undefined, 'the claim is gone once the outcome is recorded');
  });

  test('due(): a version waiting for its next attempt is listed once due; a claim left beside an outcome is cleaned up', async () => {
    const l = replica(30_000);
    const w = version('due/waiting.csv');
    const handOff = await l.claims.take(w.id, w.source, Lifecycle.runId());
    assert.equal(handOff.kind, 'claimed');
    if (handOff.kind === 'claimed') await handOff.claim.defer(problems.downstreamUnreachable('transform'), { kind: 'throttled', retryAfterMs: 0, reason: 'x' });
    const soon = [];
    for await (const c of l.due(Date.now() + 10 * 60_000)) soon.push(c.key);
    assert.ok(soon.includes('due/waiting.csv'));
    const left = version('due/left.csv');
    const t = await replica(1).claims.take(left.id, left.source, 'r');
    assert.equal(t.kind, 'claimed');
    await l.outcomes.record({ id: left.id, source: left.source, outcome: 'published' });
    const listed = [];
    for await (const c of l.due(Date.now() + 10 * 60_000)) listed.push(c.key);
    assert.ok(!listed.includes('due/left.csv'));
    assert.equal(await l.claims.read(left.id), undefined);
  });
});
