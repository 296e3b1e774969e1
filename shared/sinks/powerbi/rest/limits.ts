/**
 * The REST route's documented limits (reference/powerbi.md): ≤ 10,000 rows and ≤ 16 MB a
 * request, ≤ 5 in flight, ≤ 120 requests a minute (≤ 120 an hour for tables of ≥ 250,000 rows),
 * ≤ 1,000,000 rows an hour per dataset. `DatasetLimits` holds them for one dataset and can hand
 * its windows to another process: with a `SharedBudget` per dataset only the replica whose turn it
 * is sends, and the windows travel with the turn, so the limits hold across replicas.
 */
import { sleep } from '../../../runtime/retry.js';
import { placeOf, SlidingWindowLimiter, takeFirst, unionOf, type Ask, type Slot } from '../../rate-limiter.js';
import type { PortableLimiter } from '../../shared-budget.js';

export const REST_LIMITS = { rowsPerRequest: 10_000, bytesPerRequest: 16 * 1024 * 1024, inFlight: 5, perMinute: 120, perHourBigTable: 120, rowsPerHour: 1_000_000 };

const HOUR = 3_600_000;

/** What one dataset's windows look like when they are handed to another process. */
interface DatasetWindows {
  minute: number[];
  hour: number[];
  rows: { at: number; n: number }[];
}

/**
 * Every documented limit of one dataset in one object: ≤ 5 requests pending, ≤ 120 a minute
 * (≤ 120 an hour for big tables), ≤ 1,000,000 rows an hour. A request takes a slot with its row
 * count; the windows can be exported and loaded (handed over with the dataset's turn).
 */
export class DatasetLimits implements PortableLimiter<number> {
  private readonly perMinute = new SlidingWindowLimiter(REST_LIMITS.perMinute, 60_000, { marginMs: 50 });
  private readonly perHour = new SlidingWindowLimiter(REST_LIMITS.perHourBigTable, HOUR, { marginMs: 50 });
  private rows: { at: number; n: number }[] = [];
  private pending = 0;
  /** Requests waiting for one of the 5 pending places, served best place first (rate-limiter.ts HEAD_START). */
  private readonly queue: { place: [number, number]; go: () => void }[] = [];
  private arrivals = 0;

  constructor(private readonly bigTable: boolean) {}

  async acquire({ cost: rows = 0, rank }: Ask<number> = {}): Promise<Slot> {
    const started = Date.now();
    const place = placeOf(rank, this.arrivals++);
    while (this.pending >= REST_LIMITS.inFlight) await new Promise<void>((go) => this.queue.push({ place, go }));
    this.pending++;
    await this.rowsFit(rows);
    const minute = await this.perMinute.acquire({ rank });
    const hour = this.bigTable ? await this.perHour.acquire({ rank }) : undefined;
    if (rows) this.rows.push({ at: Date.now(), n: rows });
    let ended = false;
    const end = (how: 'done' | 'cancel') => {
      if (ended) return;
      ended = true;
      if (how === 'done') {
        minute.done();
        hour?.done();
      } else {
        minute.cancel?.();
        hour?.cancel?.();
        if (rows) this.rows.splice(this.rows.findIndex((r) => r.n === rows), 1);
      }
      this.pending--;
      takeFirst(this.queue)?.go();
    };
    return { waited: Date.now() - started, done: () => end('done'), cancel: () => end('cancel') };
  }

  private async rowsFit(rows: number): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.rows = this.rows.filter((r) => now - r.at < HOUR);
      const used = this.rows.reduce((s, r) => s + r.n, 0);
      if (used + rows <= REST_LIMITS.rowsPerHour) return;
      let freed = 0;
      let until = now;
      for (const r of this.rows) {
        freed += r.n;
        until = r.at + HOUR;
        if (used - freed + rows <= REST_LIMITS.rowsPerHour) break;
      }
      await sleep(until - now + 50);
    }
  }

  export(): DatasetWindows {
    return { minute: this.perMinute.export(), hour: this.perHour.export(), rows: this.rows.filter((r) => Date.now() - r.at < HOUR) };
  }

  load(state: unknown): void {
    const w = state as Partial<DatasetWindows> | undefined;
    this.perMinute.load(w?.minute ?? []);
    this.perHour.load(w?.hour ?? []);
    this.rows = unionOf(this.rows, w?.rows ?? [], (r) => `${r.at}:${r.n}`);
  }

  fill(staleMs: number): void {
    this.perMinute.fill(staleMs);
    if (this.bigTable) this.perHour.fill(staleMs);
  }
}
