/**
 * The REST route's documented limits (reference/powerbi.md): ≤ 10,000 rows and ≤ 16 MB a
 * request, ≤ 5 in flight, ≤ 120 requests a minute (≤ 120 an hour for tables of ≥ 250,000 rows),
 * ≤ 1,000,000 rows an hour per dataset. Held in the process: the sink is built once per process.
 */
import { sleep } from '../../../runtime/retry.js';
import { SlidingWindowLimiter, type Slot } from '../../rate-limiter.js';

export const REST_LIMITS = { rowsPerRequest: 10_000, bytesPerRequest: 16 * 1024 * 1024, inFlight: 5, perMinute: 120, perHourBigTable: 120, rowsPerHour: 1_000_000 };

const HOUR = 3_600_000;

/** Rows sent to one dataset in the last hour; waits until a batch fits. */
export class HourlyRowBudget {
  private readonly sent = new Map<string, { at: number; n: number }[]>();

  /** Wait until `rows` more fit in the dataset's hour, then count them. Returns the time waited. */
  async take(datasetId: string, rows: number, signal?: AbortSignal): Promise<number> {
    const hourly = this.sent.get(datasetId) ?? [];
    this.sent.set(datasetId, hourly);
    let waited = 0;
    for (;;) {
      const now = Date.now();
      while (hourly.length && now - hourly[0].at >= HOUR) hourly.shift();
      const used = hourly.reduce((s, r) => s + r.n, 0);
      if (used + rows <= REST_LIMITS.rowsPerHour) break;
      let freed = 0;
      let until = now;
      for (const r of hourly) {
        freed += r.n;
        until = r.at + HOUR;
        if (used - freed + rows <= REST_LIMITS.rowsPerHour) break;
      }
      waited += until - now;
      await sleep(until - now + 50, signal);
    }
    hourly.push({ at: Date.now(), n: rows });
    return waited;
  }
}

/** The request-rate limits: 120 a minute, and 120 an hour for big tables. */
export function requestLimiters(bigTable: boolean): () => Promise<Slot> {
  const perMinute = new SlidingWindowLimiter(REST_LIMITS.perMinute, 60_000, 50);
  const perHour = new SlidingWindowLimiter(REST_LIMITS.perHourBigTable, HOUR, 50);
  return async () => {
    const minute = await perMinute.acquire();
    const hour = bigTable ? await perHour.acquire() : undefined;
    return {
      waited: minute.waited + (hour?.waited ?? 0),
      done: () => {
        minute.done();
        hour?.done();
      },
    };
  };
}
