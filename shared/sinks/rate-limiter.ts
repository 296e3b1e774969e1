/**
 * A sliding-window limiter: at most `limit` requests in any `windowMs` (plus a small margin), as
 * the server counts them. A slot is counted from its start until its answer arrives, then from
 * that moment: the server saw the request no later than the answer came back, so spacing the next
 * start from the answer keeps the server's count inside the limit whatever the network's jitter.
 */
export interface Slot {
  /** Milliseconds waited for the slot. */
  waited: number;
  /** The answer arrived (or the attempt ended): the slot's time becomes now. */
  done(): void;
  /** The request was never sent: the slot is given back. */
  cancel?(): void;
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

export class SlidingWindowLimiter {
  private readonly starts: number[] = [];
  /** The last waiter in line (FIFO). */
  private tail: Promise<void> = Promise.resolve();
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly marginMs = 30,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Milliseconds to wait before the next start is allowed. */
  delay(): number {
    const t = this.now();
    this.starts.sort((a, b) => a - b);
    while (this.starts.length && this.starts[0] <= t - this.windowMs - this.marginMs) this.starts.shift();
    if (this.starts.length < this.limit) return 0;
    return this.starts[0] + this.windowMs + this.marginMs - t;
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

  /** Wait until a start is allowed, then record it. Waiters are served in arrival order (files with one request pending each take turns). */
  async acquire(): Promise<Slot> {
    const arrived = this.now();
    const turn = this.tail;
    let leave!: () => void;
    this.tail = new Promise<void>((r) => (leave = r));
    await turn;
    try {
      for (let d = this.delay(); d > 0; d = this.delay()) await new Promise((r) => setTimeout(r, d));
    } finally {
      leave();
    }
    const waited = this.now() - arrived;
    const entry = this.now();
    this.starts.push(entry);
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
