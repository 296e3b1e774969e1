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

  /** Continue another process's window: its recent starts count here too (two at one instant are two). */
  load(starts: unknown): void {
    const t = this.now();
    for (const s of Array.isArray(starts) ? (starts as number[]) : []) if (s > t - this.windowMs - this.marginMs) this.starts.push(s);
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
