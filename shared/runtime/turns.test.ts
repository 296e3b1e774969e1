import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loopTurns, takingTurns } from './turns.js';

/** Chunks that are all ready at once: consuming them never waits for I/O, only for microtasks. */
async function* ready(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
}

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** Which chunk the consumer was at when a callback queued on the event loop at the start first ran. */
async function chunkWhenLoopRan(source: AsyncIterable<number>, workMs: number): Promise<number | undefined> {
  let at = -1;
  let ranAt: number | undefined;
  setImmediate(() => (ranAt = at));
  for await (const i of source) {
    at = i;
    busy(workMs);
  }
  return ranAt;
}

test('without turns, a consumer of ready chunks keeps the event loop from everything else until it ends', async () => {
  assert.equal(await chunkWhenLoopRan(ready(60), 1), undefined);
});

test('takingTurns gives the event loop a turn once its time slice is spent, not only at the end', async () => {
  const at = await chunkWhenLoopRan(takingTurns(ready(60), 5), 1);
  assert.ok(at !== undefined && at >= 1 && at < 30, `the loop ran at chunk ${at}`);
});

test('loopTurns resolves at once (no turn) within the slice, and takes a turn past it', async () => {
  const turn = loopTurns(1_000);
  assert.equal(turn(), undefined);
  const now = loopTurns(0);
  let ran = false;
  setImmediate(() => (ran = true));
  await now();
  assert.equal(ran, true);
});
