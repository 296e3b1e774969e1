/**
 * The limiter's line: a file that has sent few requests goes before files past their head start
 * (a small file behind large ones is not served after them), files past it take turns in arrival
 * order, and the window's limit holds whatever the order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HEAD_START, SlidingWindowLimiter } from './rate-limiter.js';

/** Each file sends `requests` requests one after the other (one in flight, as a push-URL file does), ranked by what it has sent. */
async function file(limiter: SlidingWindowLimiter, name: string, requests: number, sentBefore: number, served: string[], starts: number[]): Promise<void> {
  for (let i = 0; i < requests; i++) {
    const slot = await limiter.acquire({ rank: sentBefore + i });
    served.push(name);
    starts.push(Date.now());
    await new Promise((r) => setTimeout(r, 2));
    slot.done();
  }
}

test('a file with few requests sent goes before files past their head start; those take turns; the limit holds', async () => {
  const limiter = new SlidingWindowLimiter(2, 100, { marginMs: 5 });
  const served: string[] = [];
  const starts: number[] = [];
  const large = ['a', 'b', 'c'].map((n) => file(limiter, n, 6, HEAD_START, served, starts));
  await new Promise((r) => setTimeout(r, 120)); // the large files are in line and sending
  const smallFrom = served.length;
  const small = file(limiter, 'small', 3, 0, served, starts);
  await Promise.all([...large, small]);

  // The small file has one request in flight at a time, so it can take one start of each window
  // opening (2 starts here): its three requests are served in the first three openings after it
  // arrived (places 0–5). In arrival order, behind three large files, the third would be near place 9.
  const afterArrival = served.slice(smallFrom);
  const smallAt = afterArrival.map((n, i) => (n === 'small' ? i : -1)).filter((i) => i >= 0);
  assert.equal(smallAt.length, 3);
  assert.ok(smallAt[2] <= 5, `the small file was served at places ${smallAt} after it arrived: ${afterArrival.join(' ')}`);

  // Past their head start, the large files take turns: no file is served twice while another waits.
  const largeOrder = served.filter((n) => n !== 'small');
  for (let i = 0; i + 2 < 9; i++) assert.equal(new Set(largeOrder.slice(i, i + 3)).size, 3, `turns broken at ${i}: ${largeOrder.join(' ')}`);

  // At most 2 starts in any 100 ms.
  starts.sort((x, y) => x - y);
  for (let i = 2; i < starts.length; i++) assert.ok(starts[i] - starts[i - 2] >= 100, `3 starts within ${starts[i] - starts[i - 2]} ms`);
});

test('spread: starts a share of the window apart, so a small file with one request in flight takes every next start', async () => {
  const limiter = new SlidingWindowLimiter(2, 100, { marginMs: 5, spread: true });
  const served: string[] = [];
  const starts: number[] = [];
  const large = ['a', 'b', 'c'].map((n) => file(limiter, n, 6, HEAD_START, served, starts));
  await new Promise((r) => setTimeout(r, 120));
  const smallFrom = served.length;
  const small = file(limiter, 'small', 3, 0, served, starts);
  await Promise.all([...large, small]);

  // Back in line 2 ms after each start, well before the next one (52 ms later): no large file's
  // start comes between its own. Without spreading the window opens as a burst of 2, and the
  // other start of each burst goes to a large file (the test above: places 0, 2, 4).
  const smallAt = served.slice(smallFrom).map((n, i) => (n === 'small' ? i : -1)).filter((i) => i >= 0);
  assert.deepEqual(smallAt, [0, 1, 2], served.slice(smallFrom).join(' '));
  // While the four files compete, starts are a share of the window apart (52 ms, some leeway for timers).
  const competing = starts.slice(smallFrom - 2, smallFrom + 6).sort((x, y) => x - y);
  for (let i = 1; i < competing.length; i++) assert.ok(competing[i] - competing[i - 1] >= 45, `two starts ${competing[i] - competing[i - 1]} ms apart`);
  starts.sort((x, y) => x - y);
  for (let i = 2; i < starts.length; i++) assert.ok(starts[i] - starts[i - 2] >= 100, `3 starts within ${starts[i] - starts[i - 2]} ms`);

  // A lone file on an idle target is not spread: its two requests go within the window at once.
  const alone: number[] = [];
  await new Promise((r) => setTimeout(r, 120));
  await file(limiter, 'alone', 2, 0, [], alone);
  assert.ok(alone[1] - alone[0] < 45, `a lone file's two starts were ${alone[1] - alone[0]} ms apart`);
});

test('without a rank, requests are served in arrival order', async () => {
  const limiter = new SlidingWindowLimiter(1, 30, { marginMs: 2 });
  const served: number[] = [];
  await Promise.all(
    [0, 1, 2, 3, 4].map(async (n) => {
      const slot = await limiter.acquire();
      served.push(n);
      slot.done();
    }),
  );
  assert.deepEqual(served, [0, 1, 2, 3, 4]);
});

test("a replica's share: at most the allowed starts a window; 0 holds requests until it is raised; a request that gives up leaves the line", async () => {
  const limiter = new SlidingWindowLimiter(5, 200, { marginMs: 5 });
  limiter.setAllowed(2);
  const starts: number[] = [];
  await Promise.all(Array.from({ length: 6 }, async () => ((await limiter.acquire()).done(), starts.push(Date.now()))));
  assert.ok(starts[2] - starts[0] >= 200 && starts[4] - starts[2] >= 200, `2 starts a window (${starts.map((s) => s - starts[0]).join(',')})`);
  limiter.setAllowed(0);
  await new Promise((r) => setTimeout(r, 250));
  let served = false;
  const held = limiter.acquire().then((s) => ((served = true), s.done()));
  const gaveUp = new AbortController();
  const leaving = limiter.acquire({ signal: gaveUp.signal });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(served, false, 'no start while nothing is allowed');
  gaveUp.abort(new Error('deadline'));
  await assert.rejects(leaving, /deadline/);
  limiter.setAllowed(5);
  await held;
  assert.equal(served, true, 'served once the share is raised');
});
