/**
 * One push URL's rate split among replicas, against the embedded store: three "replicas" (each its
 * own S3 client, limiter and share) send to one destination as fast as they may. Together they
 * never pass 5 starts in any second (as a strict push-URL server counts them), and they send at
 * the same time, not in turns; a replica that goes idle leaves its units, one that dies leaves
 * them when its lease ends, and a replica that starts late gets its share within seconds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as z from 'zod';
import { useRecordStore, worstSecond } from '../../test/budget-support.js';
import { perSecondLimiter } from './powerbi/push-url.js';
import { fairSplit, RateShare } from './rate-shares.js';

const store = useRecordStore();
const share = (key: string, ttlMs = 1_500, lingerMs = 600) => new RateShare(store(), key, perSecondLimiter(5), { ttlMs, tickMs: 200, lingerMs });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sent {
  at: number;
  by: number;
}

/** A file: requests one after another (one in flight, as a push-URL file sends), each answered after `ms`. */
async function sendFile(s: RateShare, sent: Sent[], by: number, until: () => boolean, ms = 30): Promise<void> {
  while (!until()) {
    const slot = await s.acquire();
    sent.push({ at: Date.now(), by });
    await sleep(ms);
    slot.done();
  }
}


const holders = async (key: string) => (await store().read(key, z.object({ holders: z.record(z.string(), z.object({ units: z.number() })) })))?.value.holders ?? {};

test('the split: even among active replicas, the remainder to those holding more; idle ones get none', () => {
  const split = fairSplit({ a: { units: 0, until: 0, active: true }, b: { units: 5, until: 0, active: true }, c: { units: 2, until: 0, active: false } }, 5);
  assert.deepEqual(split, { b: 3, a: 2 });
  assert.deepEqual(fairSplit({ a: { units: 1, until: 0, active: true } }, 5), { a: 5 });
});

test('three replicas, one file each, sending to one push URL: never more than 5 starts in any second, all three send in any two seconds', { timeout: 60_000 }, async () => {
  const key = '_state/budgets/shares-one.json';
  const shares = [0, 1, 2].map(() => share(key));
  const sent: Sent[] = [];
  const end = Date.now() + 6_000;
  await Promise.all(shares.map((s, i) => sendFile(s, sent, i, () => Date.now() > end)));
  assert.ok(worstSecond(sent.map((x) => x.at)) <= 5, `at most 5 starts in any second (worst: ${worstSecond(sent.map((x) => x.at))})`);
  assert.ok(sent.length >= 22, `the rate is used, not wasted (${sent.length} requests in 6 s; at most 30)`);
  // After the first seconds (units moving to the replicas that came later), all three send in any
  // two seconds. (Not in every one second: a replica with one of the five units sends about once a
  // window, and on a loaded machine its start can fall just either side of a second's edge.)
  const settled = sent.filter((x) => x.at > end - 3_000);
  for (let from = end - 3_000; from <= end - 2_000; from += 500) {
    const who = new Set(settled.filter((x) => x.at >= from && x.at < from + 2_000).map((x) => x.by));
    assert.equal(who.size, 3, `all three replicas sent in the two seconds from ${from - end + 6_000} ms (${[...who].join(',')}): shares, not turns`);
  }
  await sleep(1_500);
  assert.deepEqual(await holders(key), {}, 'idle replicas left their units');
});

test('a replica that starts while another uses the whole rate gets its share within seconds, and the first keeps sending', { timeout: 60_000 }, async () => {
  const key = '_state/budgets/shares-two.json';
  const first = share(key);
  const late = share(key);
  const sent: Sent[] = [];
  let stop = false;
  const large = sendFile(first, sent, 0, () => stop);
  await sleep(1_500);
  assert.equal(first.stats.mostUnits, 5, 'alone, a replica holds the whole rate');
  const asked = Date.now();
  const slot = await late.acquire();
  const waited = Date.now() - asked;
  slot.done();
  await sleep(2_000);
  stop = true;
  await large;
  assert.ok(waited < 3_000, `the late replica waited ${waited} ms for a unit`);
  assert.ok(sent.some((x) => x.at > asked + waited), 'the first replica sent again after giving units back');
  assert.ok(worstSecond([...sent.map((x) => x.at), asked + waited]) <= 5, 'at most 5 starts in any second');
});

test('a replica alone whose file pauses between requests keeps its units for a while: its next request does not wait for them to cool', { timeout: 30_000 }, async () => {
  const alone = share('_state/budgets/shares-four.json', 1_500, 3_000);
  (await alone.acquire()).done();
  await sleep(700); // idle for three ticks: without lingering it gave its units back, and they cool for a window
  const asked = Date.now();
  (await alone.acquire()).done();
  assert.ok(Date.now() - asked < 150, `the next request waited ${Date.now() - asked} ms`);
});

test('a replica shut down (drained) gives its units back at once: another sends after they cool, not after the lease', { timeout: 30_000 }, async () => {
  const key = '_state/budgets/shares-five.json';
  const leaving = share(key, 10_000, 10_000); // a long lease, and it would linger: only the release frees its units soon
  (await leaving.acquire()).done();
  await sleep(300);
  await leaving.release();
  (leaving as unknown as { tick: () => void }).tick = () => undefined; // the process exits after its shutdown hook
  const other = share(key);
  const asked = Date.now();
  (await other.acquire()).done();
  assert.ok(Date.now() - asked < 2_500, `the other replica waited ${Date.now() - asked} ms (the lease is 10 s)`);
  assert.equal(Object.keys(await holders(key)).length, 1, 'the record names only the replica still running');
});

test("a replica that dies holding the whole rate: the others send once its lease has ended and its units have cooled", { timeout: 30_000 }, async () => {
  const key = '_state/budgets/shares-three.json';
  const dead = share(key, 800);
  const slot = await dead.acquire(); // it holds units and never answers nor renews again: a SIGKILLed pod
  void slot;
  (dead as unknown as { tick: () => void }).tick = () => undefined;
  await sleep(300);
  const heir = share(key, 800);
  const started = Date.now();
  const next = await heir.acquire();
  next.done();
  const waited = Date.now() - started;
  assert.ok(waited >= 400 && waited < 3_000, `the heir sent after the lease ended and the units cooled, within seconds (${waited} ms)`);
});
