/** A sliding-window limiter: at most `limit` starts in any `windowMs` (plus a small safety margin). */
export class SlidingWindowLimiter {
  private readonly starts: number[] = [];
  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly marginMs = 30,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Milliseconds to wait before the next start is allowed. */
  delay(): number {
    const t = this.now();
    while (this.starts.length && this.starts[0] <= t - this.windowMs - this.marginMs) this.starts.shift();
    if (this.starts.length < this.limit) return 0;
    return this.starts[0] + this.windowMs + this.marginMs - t;
  }

  /** Wait until a start is allowed, then record it. Returns the time waited. */
  async acquire(): Promise<number> {
    let waited = 0;
    for (let d = this.delay(); d > 0; d = this.delay()) {
      await new Promise((r) => setTimeout(r, d));
      waited += d;
    }
    this.starts.push(this.now());
    return waited;
  }
}
