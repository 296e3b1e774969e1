/**
 * A sliding-window limiter: at most `limit` requests in any `windowMs` (plus a small margin), as
 * the server counts them. A slot is counted from its start until its answer arrives, then from
 * that moment: the server saw the request no later than the answer came back, so spacing the next
 * start from the answer keeps the server's count inside the limit whatever the network's jitter.
 *
 * Spread (`spread: true`, the push URL's 5 a second): while requests compete (more than one
 * waits), starts are also at least a window's share apart (window ÷ allowed), so the window does
 * not open as a burst; a lone request still goes at once, so one small file on an idle target
 * sends its few requests back to back. With bursts, every request waiting took a start at the
 * same instant and the next ones waited for the whole window to turn; a small file with one
 * request in flight could take only one start of each burst, and the large files the other four.
 * Spread, a start comes free every share of the window, and the small file, back in line within
 * its answer and its save, takes the next. The rate over a window is the same, and the push
 * API's users report bursts failing within it.
 */
export interface Slot {
  /** Milliseconds waited for the slot. */
  waited: number;
  /** The answer arrived (or the attempt ended): the slot's time becomes now. */
  done(): void;
  /** The request was never sent: the slot is given back. */
  cancel?(): void;
}

/** The slot, with `onEnd` called once when it ends (however often `done` is called): a budget counting its requests in flight. */
export function endingOnce(slot: Slot, waited: number, onEnd: () => void): Slot {
  let ended = false;
  return {
    waited,
    done: () => {
      if (ended) return;
      ended = true;
      slot.done();
      onEnd();
    },
  };
}

/** What a request asks a limiter for: its cost (e.g. its rows), its rank (its file's size in requests, see HEAD_START), and when to give up. */
export interface Ask<C = undefined> {
  cost?: C;
  rank?: number;
  signal?: AbortSignal;
}

/**
 * Two accounts of the same events, merged so that each event counts once: an event in both (equal
 * key) is kept once, as often as the larger account has it. A window handed over and taken back by
 * the same process holds its own events twice otherwise, and doubles at every turn.
 */
export function unionOf<T>(mine: readonly T[], theirs: readonly T[], key: (x: T) => string | number): T[] {
  const held = new Map<string | number, number>();
  for (const x of mine) held.set(key(x), (held.get(key(x)) ?? 0) + 1);
  const out = [...mine];
  for (const x of theirs) {
    const n = held.get(key(x)) ?? 0;
    if (n > 0) held.set(key(x), n - 1);
    else out.push(x);
  }
  return out;
}

/**
 * Which requests go ahead in a target's line: those of files whose size in requests (what the
 * whole file is expected to need, or what it has sent if more: delivery.ts Batch.rank) is under
 * this go before the others, smallest first, so a small file uploaded behind large ones is done
 * within seconds. The others take turns in arrival order, so files that share a target share its
 * budget in turns; a file goes ahead for at most this many requests.
 */
export const HEAD_START = 10;

/** Whether a request of this rank goes ahead of the others. */
export function goesAhead(rank: number | undefined): boolean {
  return rank !== undefined && rank < HEAD_START;
}

/** A request's place in line: smaller files first, up to the head start; then arrival order. */
export function placeOf(rank: number | undefined, seq: number): [number, number] {
  return [Math.min(Math.max(0, rank ?? HEAD_START), HEAD_START), seq];
}

interface Waiter {
  place: [number, number];
  serve: (entry: number) => void;
}

/** Wait `ms` (forever when Infinity), or until `wake` is called. */
function pause(ms: number, onWake: (wake: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    onWake(resolve);
    if (Number.isFinite(ms)) setTimeout(resolve, ms);
  });
}

export class SlidingWindowLimiter {
  private readonly starts: number[] = [];
  /** Requests waiting for a start, served by `place` (see HEAD_START). */
  private readonly line: Waiter[] = [];
  private arrivals = 0;
  private serving = false;
  /** Wakes the line's server when the limit changes. */
  private wake = () => {};
  /** Requests allowed in a window now (a replica's share of the target's limit: rate-shares.ts). */
  private allowed: number;
  /** Milliseconds a window's margin adds (the clocks' and the server's leeway). */
  readonly marginMs: number;
  private readonly spread: boolean;
  /** When the latest start was granted (spread: the next is a share of the window later). */
  private lastStart = -Infinity;
  private readonly now: () => number;

  constructor(
    /** The target's limit: requests in any window. */
    readonly limit: number,
    readonly windowMs: number,
    opts: { marginMs?: number; spread?: boolean; now?: () => number } = {},
  ) {
    this.allowed = limit;
    this.marginMs = opts.marginMs ?? 30;
    this.spread = opts.spread ?? false;
    this.now = opts.now ?? (() => Date.now());
  }

  /** Allow `n` requests a window from now on (0 holds every request until it is raised). */
  setAllowed(n: number): void {
    this.allowed = Math.max(0, Math.min(this.limit, n));
    this.wake();
  }

  /** Milliseconds to wait before the next start is allowed. */
  delay(): number {
    const t = this.now();
    this.starts.sort((a, b) => a - b);
    while (this.starts.length && this.starts[0] <= t - this.windowMs - this.marginMs) this.starts.shift();
    if (this.allowed <= 0) return Infinity;
    // Spread only while requests compete for starts: a lone request goes at once (within the window).
    const paced = this.spread && this.line.length > 1 ? this.lastStart + (this.windowMs + this.marginMs) / this.allowed - t : 0;
    if (this.starts.length < this.allowed) return Math.max(0, paced);
    return Math.max(paced, this.starts[this.starts.length - this.allowed] + this.windowMs + this.marginMs - t);
  }

  /** Serve the line, best place first, each as soon as the window allows a start (the start is recorded as it is served). */
  private async serveLine(): Promise<void> {
    if (this.serving) return;
    this.serving = true;
    try {
      while (this.line.length) {
        for (let d = this.delay(); d > 0 && this.line.length; d = this.delay()) await pause(d, (wake) => (this.wake = wake));
        const next = takeFirst(this.line);
        if (!next) break;
        const entry = this.now();
        this.starts.push(entry);
        this.lastStart = entry;
        next.serve(entry);
      }
    } finally {
      this.serving = false;
    }
  }

  /** The recent starts (to hand the window to another process). */
  export(): number[] {
    const t = this.now();
    return this.starts.filter((s) => s > t - this.windowMs - this.marginMs).sort((a, b) => a - b);
  }

  /**
   * Continue the window handed over with the turn: its recent starts count here too (two at one
   * instant are two), but a start this process holds already — its own, handed over and taken back
   * — is not counted again.
   */
  load(starts: unknown): void {
    const t = this.now();
    const recent = (Array.isArray(starts) ? (starts as number[]) : []).filter((s) => s > t - this.windowMs - this.marginMs);
    const merged = unionOf(this.starts, recent, (s) => s);
    this.starts.length = 0;
    this.starts.push(...merged);
  }

  /**
   * Count as used, from now, what another process could have started in the last `staleMs` that
   * this one was not told of (a holder that vanished after its last handover of the window): at
   * the limit's rate over that time, at most the whole limit.
   */
  fill(staleMs: number): void {
    const t = this.now();
    const n = Math.min(this.limit, Math.max(1, Math.ceil((this.limit * staleMs) / this.windowMs)));
    for (let i = 0; i < n; i++) this.starts.push(t + i * 1e-3);
  }

  /**
   * Wait until a start is allowed, then record it. `ask.rank`: the request's file's size in
   * requests (see HEAD_START); without one, a request takes its turn in arrival order.
   */
  async acquire({ rank, signal }: Ask<unknown> = {}): Promise<Slot> {
    const arrived = this.now();
    signal?.throwIfAborted();
    const entry = await new Promise<number>((serve, reject) => {
      const waiter: Waiter = { place: placeOf(rank, this.arrivals++), serve: (at) => (signal?.removeEventListener('abort', leave), serve(at)) };
      const leave = () => {
        const i = this.line.indexOf(waiter);
        if (i !== -1) this.line.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', leave, { once: true });
      this.line.push(waiter);
      void this.serveLine();
    });
    const waited = this.now() - arrived;
    let released = false;
    return {
      waited,
      done: () => {
        if (released) return;
        released = true;
        const i = this.starts.indexOf(entry);
        if (i !== -1) this.starts[i] = Math.max(entry, this.now());
      },
      cancel: () => {
        if (released) return;
        released = true;
        const i = this.starts.indexOf(entry);
        if (i !== -1) this.starts.splice(i, 1);
      },
    };
  }
}

/** Take out of a line the one whose place comes first (placeOf). */
export function takeFirst<T extends { place: [number, number] }>(line: T[]): T | undefined {
  let best = 0;
  for (let i = 1; i < line.length; i++) {
    const [a, b] = [line[i].place, line[best].place];
    if (a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])) best = i;
  }
  return line.splice(best, 1)[0];
}
