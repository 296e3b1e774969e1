/**
 * One request budget across replicas, against the embedded store: three "replicas" (each its own
 * S3 client, limiter and budget) send to one destination as fast as they may; the starts of all
 * of them together never pass 5 in any second (as a strict push-URL server counts them), every
 * replica gets turns, and a holder that dies is replaced once its turn expires.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useRecordStore, worstSecond } from '../../test/budget-support.js';
import { perSecondLimiter } from './powerbi/push-url.js';
import { SharedBudget } from './shared-budget.js';

const store = useRecordStore();


/** A request to the destination: it starts, is answered after `ms`, and the server counts it from its start. */
async function send(budget: SharedBudget, starts: number[], who: number, by: number[], ms = 40): Promise<void> {
  const slot = await budget.acquire();
  starts.push(Date.now());
  by.push(who);
  await new Promise((r) => setTimeout(r, ms));
  slot.done();
}


test('three replicas sending to one destination: never more than 5 starts in any second, and each gets turns', { timeout: 60_000 }, async () => {
  const budgets = [0, 1, 2].map(() => new SharedBudget(store(), '_state/budgets/test-one.json', perSecondLimiter(5), { ttlMs: 1500, quantumMs: 600 }));
  const starts: number[] = [];
  const by: number[] = [];
  const until = Date.now() + 5_000;
  await Promise.all(
    budgets.map(async (b, i) => {
      // Two files at a time in each replica.
      await Promise.all([0, 1].map(async () => {
        while (Date.now() < until) await send(b, starts, i, by);
      }));
    }),
  );
  assert.ok(worstSecond(starts) <= 5, `at most 5 starts in any second (worst: ${worstSecond(starts)})`);
  assert.ok(starts.length >= 18, `the budget is used, not wasted (${starts.length} requests in 5 s)`);
  for (const i of [0, 1, 2]) assert.ok(by.includes(i), `replica ${i} had a turn (${budgets.map((b) => b.stats.turns).join(',')})`);
});

test('a holder that dies is replaced once its turn expires', { timeout: 30_000 }, async () => {
  const dead = new SharedBudget(store(), '_state/budgets/test-two.json', perSecondLimiter(5), { ttlMs: 800, quantumMs: 400 });
  const slot = await dead.acquire(); // it takes the turn and never answers nor renews again: a SIGKILLed pod
  void slot;
  (dead as unknown as { keepAlive: () => void }).keepAlive = () => undefined;
  const heir = new SharedBudget(store(), '_state/budgets/test-two.json', perSecondLimiter(5), { ttlMs: 800, quantumMs: 400 });
  const started = Date.now();
  const next = await heir.acquire();
  next.done();
  assert.ok(Date.now() - started < 3_000, `the next holder sent within the turn's time-to-live (${Date.now() - started} ms)`);
});

test('one replica taking its own turn back, file after file: its windows are not counted twice (REST: rows an hour)', { timeout: 60_000 }, async () => {
  const { DatasetLimits } = await import('./powerbi/rest/limits.js');
  const limits = new DatasetLimits(false);
  const budget = new SharedBudget(store(), '_state/budgets/test-three.json', limits, { ttlMs: 600, quantumMs: 300 });
  // 12 files of 10,000 rows one after another, the turn handed over while idle between them: 120,000
  // rows in the hour, far below the 1,000,000 limit. Counted twice at each handover (2^12 × 10,000)
  // the limit would be passed by the 7th file, and the next would wait for an hour.
  for (let file = 0; file < 12; file++) {
    const slot = await Promise.race([budget.acquire({ cost: 10_000 }), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`file ${file} still waits for a slot after 5 s`)), 5_000).unref())]);
    slot.done();
    const turns = budget.stats.turns;
    const idle = Date.now();
    while (budget.stats.turns === turns && Date.now() - idle < 1_000 && (budget as unknown as { held: boolean }).held) await new Promise((r) => setTimeout(r, 20));
  }
  const window = limits.export();
  assert.equal(window.rows.reduce((n, r) => n + r.n, 0), 120_000, 'each file\'s rows counted once');
  assert.equal(window.minute.length, 12, 'each request counted once in the minute window');
  assert.ok(budget.stats.turns >= 6, `the turn was handed over and taken back (${budget.stats.turns} turns)`);
});

test("a replica with a small file waiting gets the turn before the holder's quantum ends; the holder then carries on", { timeout: 60_000 }, async () => {
  const key = '_state/budgets/test-four.json';
  // The quantum is long (20 s): only a small file's word makes the holder hand over sooner.
  const holder = new SharedBudget(store(), key, perSecondLimiter(5), { ttlMs: 1500, quantumMs: 20_000 });
  const other = new SharedBudget(store(), key, perSecondLimiter(5), { ttlMs: 1500, quantumMs: 20_000 });
  let stop = false;
  const sentAt: number[] = [];
  const large = (async () => {
    while (!stop) {
      const slot = await holder.acquire({ rank: 50 }); // a large file: past the head start
      sentAt.push(Date.now());
      await new Promise((r) => setTimeout(r, 20));
      slot.done();
    }
  })();
  await new Promise((r) => setTimeout(r, 1_000)); // the holder holds and sends
  const asked = Date.now();
  const small = await other.acquire({ rank: 2 }); // a small file on the other replica
  const waited = Date.now() - asked;
  small.done();
  const smallDone = Date.now();
  await new Promise((r) => setTimeout(r, 5_000));
  stop = true;
  await large;
  assert.ok(waited < 6_000, `the small file's request waited ${waited} ms for the turn (the quantum is 20 s)`);
  assert.ok(sentAt.some((t) => t > smallDone), 'the large file was sent again once the small file was done');
});
