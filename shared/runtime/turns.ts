/**
 * Turns on the event loop for a long CPU-bound stream consumer (publish's rows, transform's
 * parse). A consumer that keeps up with its socket in the microtasks after each read lets libuv
 * read on (up to 32 reads of 64 KiB in one poll phase), so a process busy with one large file
 * answers nothing else for 100–160 ms at a time: every S3 answer and request of a small file that
 * overlaps it waited that long (measured with `monitorEventLoopDelay` in publish, a 1 GB file).
 * `loopTurns(ms)` gives back a function to call between batches: it resolves at once until `ms`
 * of work has passed since the last turn, then after one `setImmediate` (timers and other
 * sockets' callbacks run; meanwhile the stream's buffer fills and its socket stops reading).
 */
import { setImmediate as immediate } from 'node:timers/promises';

/** Work between two turns on a busy loop, in milliseconds. */
export const TURN_MS = 10;

export function loopTurns(ms = TURN_MS): () => Promise<void> | undefined {
  let since = performance.now();
  return () => {
    const now = performance.now();
    if (now - since < ms) return undefined;
    return immediate().then(() => {
      since = performance.now();
    });
  };
}

/** A byte stream whose consumer gives the event loop a turn after every `ms` of work. */
export async function* takingTurns<T>(source: AsyncIterable<T>, ms = TURN_MS): AsyncGenerator<T> {
  const turn = loopTurns(ms);
  for await (const chunk of source) {
    await turn();
    yield chunk;
  }
}
