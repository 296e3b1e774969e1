/**
 * One push URL's rate shared by every publish replica at once. Power BI counts a push URL's
 * requests in a sliding second whoever sends them; where replicas took turns (shared-budget.ts),
 * only one replica's files could send to a target at a time, and with many targets three replicas
 * were slower than one. Here the target's limit (5 requests a window) is split in units, and each
 * replica that has requests to send holds some of them at the same time as the others:
 *
 * - The units live in a small record in the output bucket, changed only by conditional writes.
 *   A replica holds its units under a lease renewed every tick; it sends only while the lease
 *   holds, at most its units in any window (its limiter's `setAllowed`).
 * - Fair: the units are split evenly among the replicas with requests waiting (rounding in
 *   favour of those that hold more, so that units do not move back and forth). A replica above
 *   its share gives the excess back; one below takes units that are free.
 * - A unit given back "cools" for one window before anyone may take it: the giver's requests
 *   started before it gave the unit back are still inside the server's window until then. It
 *   gives units back only when its requests in flight fit in what it keeps (a slot counts until
 *   its answer: rate-limiter.ts).
 * - A replica that dies stops renewing: once its lease ends, any replica moves its units to cool
 *   from the lease's end, so they are free one window after its last possible start.
 *
 * So at every moment each unit is held by one replica, cooling, or unused for a whole window,
 * and the replicas' starts together stay within the limit as the server counts them (the
 * replicas' clocks are assumed to agree within the limiter's margin, as a cluster's NTP does).
 * The REST route keeps the turns: its rows-per-hour limit cannot be split without hour-long waits.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import * as z from 'zod';
import { ConditionalStore, type Versioned } from '../storage/conditional-store.js';
import type { Storage } from '../storage/s3.js';
import { stateKeys } from '../lifecycle/keys.js';
import { endingOnce, type Ask, type SlidingWindowLimiter, type Slot } from './rate-limiter.js';

/** The record's schema, built on first use (a cold start reads no record before it is ready). */
function buildSharesSchema() {
  const Holding = z.object({
    /** Units held: requests this replica may start in any window. */
    units: z.number().int().min(0),
    /** The lease's end: after it, the units are the others' (one window later). */
    until: z.number(),
    /** Whether it has requests waiting or in flight (it counts in the split). */
    active: z.boolean(),
  });
  return z.object({
    holders: z.record(z.string(), Holding).default({}),
    /** Units given back (or left by a replica whose lease ended), free from `freeAt`. */
    cooling: z.array(z.object({ units: z.number().int().min(1), freeAt: z.number() })).default([]),
  });
}
let sharesSchema: ReturnType<typeof buildSharesSchema> | undefined;
const sharesRecord = () => (sharesSchema ??= buildSharesSchema());
type Shares = z.infer<ReturnType<typeof buildSharesSchema>>;
type Holding = Shares['holders'][string];

export interface RateShareOptions {
  /** The lease's time-to-live without a renewal (a dead replica's units cool after it). */
  ttlMs?: number;
  /** How often a replica with requests or units reads the record (and renews, or moves units). */
  tickMs?: number;
  /** How long an idle replica keeps its units while no other replica wants any (a file waiting for its next rows). */
  lingerMs?: number;
}

/** The split of `limit` units among the active holders: even, the remainder to those holding more, then by name. */
export function fairSplit(holders: Record<string, Holding>, limit: number): Record<string, number> {
  const active = Object.keys(holders)
    .filter((id) => holders[id].active)
    .sort((a, b) => holders[b].units - holders[a].units || a.localeCompare(b));
  const split: Record<string, number> = {};
  active.forEach((id, i) => (split[id] = Math.floor(limit / active.length) + (i < limit % active.length ? 1 : 0)));
  return split;
}

/** The record as of `now`: ended leases' units cooling from the lease's end, cooled units dropped (free). */
export function settle(seen: Shares | undefined, now: number, coolMs: number, me: string): Shares {
  const holders: Record<string, Holding> = {};
  const cooling = (seen?.cooling ?? []).filter((c) => c.freeAt > now);
  for (const [id, h] of Object.entries(seen?.holders ?? {})) {
    if (id === me || h.until > now) holders[id] = h;
    else if (h.units > 0 && h.until + coolMs > now) cooling.push({ units: h.units, freeAt: h.until + coolMs });
  }
  return { holders, cooling };
}

/** Units neither held nor cooling. */
export function freeUnits(s: Shares, limit: number): number {
  const held = Object.values(s.holders).reduce((n, h) => n + h.units, 0);
  return limit - held - s.cooling.reduce((n, c) => n + c.units, 0);
}

export class RateShare {
  /** Its name in the record: pod (host name), process, and a random part. */
  private readonly me = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  private readonly limit: number;
  private readonly coolMs: number;
  private readonly ttlMs: number;
  private readonly tickMs: number;
  private readonly lingerMs: number;
  /** Units held in the record, and until when. */
  private units = 0;
  private leaseUntil = 0;
  private waiting = 0;
  private inFlight = 0;
  /** Whether requests waited or were in flight since the last tick (a file between two requests stays active). */
  private busy = false;
  private idleSince?: number;
  private closed = false;
  private ticker?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  /** Figures for tests and the bench: record writes, and the most units held at once. */
  readonly stats = { writes: 0, mostUnits: 0 };

  constructor(
    private readonly store: ConditionalStore,
    private readonly key: string,
    private readonly limiter: SlidingWindowLimiter,
    opts: RateShareOptions = {},
  ) {
    this.limit = limiter.limit;
    this.coolMs = limiter.windowMs + limiter.marginMs;
    this.ttlMs = opts.ttlMs ?? 3_000;
    this.tickMs = opts.tickMs ?? 500;
    this.lingerMs = opts.lingerMs ?? 3_000;
    limiter.setAllowed(0);
  }

  /** Wait for a start within this replica's units (while its lease holds); the slot's `done` ends the request. */
  async acquire(ask: Ask = {}): Promise<Slot> {
    const started = Date.now();
    this.waiting++;
    this.busy = true;
    if (!this.ticker) void this.tick();
    try {
      for (;;) {
        const slot = await this.limiter.acquire(ask);
        if (!this.leased()) {
          // The lease was not renewed in time (the store is slow or down): no start until it is.
          slot.cancel?.();
          this.limiter.setAllowed(0);
          continue;
        }
        this.inFlight++;
        return endingOnce(slot, Date.now() - started, () => this.inFlight--);
      }
    } finally {
      this.waiting--;
    }
  }

  /** At shutdown, once drained: give the units back now (they cool one window) rather than when the lease ends. */
  async release(): Promise<void> {
    this.closed = true;
    clearTimeout(this.ticker);
    await this.ticking;
    this.limiter.setAllowed(0);
    if (this.units > 0) await this.update(false, false).catch(() => undefined); // else the lease ends on its own
  }

  private leased(): boolean {
    return Date.now() < this.leaseUntil - Math.min(500, this.ttlMs / 4);
  }

  /** Read the record and write what changes (one tick at a time); tick again while there is work or units. */
  private tick(): Promise<void> {
    clearTimeout(this.ticker);
    if (this.closed) return Promise.resolve();
    this.ticking ??= (async () => {
      const active = this.busy || this.waiting > 0 || this.inFlight > 0;
      this.busy = false;
      this.idleSince = active ? undefined : (this.idleSince ?? Date.now());
      const lingering = !active && Date.now() - this.idleSince! < this.lingerMs;
      try {
        await this.update(active, lingering);
      } catch {
        // The store did not answer: the lease runs out and sending stops until a later tick renews it.
      } finally {
        this.ticking = undefined;
        const again = !this.closed && (this.busy || this.waiting > 0 || this.inFlight > 0 || this.units > 0);
        this.ticker = again ? setTimeout(() => void this.tick(), this.tickMs) : undefined;
        this.ticker?.unref();
      }
    })();
    return this.ticking;
  }

  /** One change of this replica's holding, retried while another replica wrote the record first. */
  private async update(active: boolean, lingering: boolean): Promise<void> {
    for (let round = 0; round < 8; round++) {
      const seen = await this.store.read(this.key, sharesRecord());
      const plan = this.plan(seen, Date.now(), active, lingering);
      if (plan.write) {
        const etag = seen ? await this.store.replace(this.key, plan.shares, seen.etag) : await this.store.create(this.key, plan.shares);
        if (!etag) continue;
        this.stats.writes++;
        const mine = plan.shares.holders[this.me];
        this.units = mine?.units ?? 0;
        this.leaseUntil = mine?.until ?? 0;
        this.stats.mostUnits = Math.max(this.stats.mostUnits, this.units);
      }
      this.limiter.setAllowed(Math.min(this.units, plan.keep));
      return;
    }
  }

  /**
   * This tick's change: the units to keep (its even share while active; while idle for less than
   * `lingerMs` with no other replica wanting units, what it holds, so that a file waiting for its
   * next rows does not wait a window for its units again; none otherwise), taken from the free
   * ones or given back to cool. The record is written when the holding changes, when the lease is
   * half gone, or to leave it when idle.
   */
  private plan(seen: Versioned<Shares> | undefined, now: number, active: boolean, lingering: boolean): { shares: Shares; keep: number; write: boolean } {
    const s = settle(seen?.value, now, this.coolMs, this.me);
    const before = s.holders[this.me];
    if (!before) this.units = 0; // its lease ended and its units were moved (or it held none)
    const held = before?.units ?? 0;
    const othersWant = Object.entries(s.holders).some(([id, h]) => id !== this.me && h.active);
    const keep = active ? (fairSplit({ ...s.holders, [this.me]: { units: held, until: now, active } }, this.limit)[this.me] ?? 0) : lingering && !othersWant ? held : 0;
    let units = held;
    if (keep < held && this.inFlight <= keep) {
      s.cooling.push({ units: held - keep, freeAt: now + this.coolMs });
      units = keep;
    } else if (keep > held) units = held + Math.min(keep - held, Math.max(0, freeUnits(s, this.limit)));
    if (!active && units === 0) {
      delete s.holders[this.me];
      return { shares: s, keep, write: before !== undefined };
    }
    s.holders[this.me] = { units, until: now + this.ttlMs, active };
    const write = !before || units !== held || before.active !== active || before.until - now < this.ttlMs / 2;
    return { shares: s, keep, write };
  }
}

/** Make the shared rate of one push URL (`target` names it; hashed into the record's key) around this process's limiter. */
export type RateShareFactory = (target: string, limiter: SlidingWindowLimiter) => { acquire(ask?: Ask): Promise<Slot>; release(): Promise<void> };

/** Each push URL's rate, split among the publish replicas through the output bucket (one record per URL). */
export function rateShares(s3: Storage, bucket: string, opts: RateShareOptions = {}): RateShareFactory {
  const store = new ConditionalStore(s3, bucket);
  return (target, limiter) => new RateShare(store, stateKeys.budget(`shares:${target}`), limiter, opts);
}
