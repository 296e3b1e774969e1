/**
 * A REST dataset's five pending requests are handed out smallest file first: a small file's
 * request that arrives while large files' requests wait for a place takes the next one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DatasetLimits, REST_LIMITS } from './limits.js';

test("a small file's request takes the next pending place before the large files' requests that were waiting", async () => {
  const limits = new DatasetLimits(false);
  const held = await Promise.all(Array.from({ length: REST_LIMITS.inFlight }, () => limits.acquire({ cost: 10_000, rank: 100 })));
  const served: string[] = [];
  const waiting = [
    ...['large-a', 'large-b', 'large-c'].map((name) => limits.acquire({ cost: 10_000, rank: 100 }).then((s) => (served.push(name), s))),
  ];
  await new Promise((r) => setTimeout(r, 20));
  waiting.push(limits.acquire({ cost: 1_000, rank: 1 }).then((s) => (served.push('small'), s)));
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(served, [], 'all five places are taken');
  held[0].done();
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(served, ['small']);
  for (const s of held.slice(1)) s.done();
  for (const s of await Promise.all(waiting)) s.done();
  assert.deepEqual(served, ['small', 'large-a', 'large-b', 'large-c'], 'then the large files in arrival order');
});
