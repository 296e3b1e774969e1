/**
 * One request budget per destination across every publish replica, in turns: the REST route's
 * datasets (a push URL's per-second rate is split among replicas at once instead: rate-shares.ts;
 * a REST dataset's rows-per-hour limit cannot be split without hour-long waits). Power BI counts a
 * dataset's requests whoever sends them, so replicas that each kept their own limiter multiplied
 * the rate (3 replicas drew 57% 429s). Here the replicas take turns:
 * the turn is a small record in the output bucket, taken by conditional writes (create if absent,
 * take over with If-Match once expired or released), held for a short time-to-live renewed while
 * the holder has requests to send. Only the holder sends; its limiter's recent request times travel
 * in the record, so the sliding window goes on across a handover exactly as the server counts it.
 *
 * Fair in turns: a replica that wants the turn says so in the record; the holder hands it over
 * after `quantumMs` (waiting for its requests in flight to be answered first), or as soon as it
 * has nothing to send. A replica with a small file waiting (a request that goes ahead in the
 * line, rate-limiter.ts HEAD_START) says so too: a holder without one hands over at once, and the
 * replicas without one let it take the turn first. A holder that dies stops renewing: its turn
 * expires after `ttlMs`.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import * as z from 'zod';
import { sleep } from '../runtime/retry.js';
import { ConditionalStore } from '../storage/conditional-store.js';
import type { Storage } from '../storage/s3.js';
import { stateKeys } from '../lifecycle/keys.js';
import { endingOnce, goesAhead, type Ask, type SlidingWindowLimiter, type Slot } from './rate-limiter.js';

/** The turn's record schema, built on first use (a cold start reads no record before it is ready). */
function buildTurnSchema() {
  return z.object({
    holder: z.string().optional(),
    expiresAt: z.number(),
    /** Replicas that want the turn, with when they last said so. */
    waiters: z.record(z.string(), z.number()).default({}),
    /** Of those, the replicas with a request that goes ahead (a small file), with when they last said so. */
    ahead: z.record(z.string(), z.number()).default({}),
    /** The limiter's windows (recent request times), handed to the next holder. */
    window: z.unknown().optional(),
    /** Who handed the turn over last (it lets the others go first). */
    releasedBy: z.string().optional(),
  });
}
let turnSchema: ReturnType<typeof buildTurnSchema> | undefined;
const turnRecord = () => (turnSchema ??= buildTurnSchema());
type Turn = z.infer<ReturnType<typeof buildTurnSchema>>;

export interface SharedBudgetOptions {
  /** The turn's time-to-live without a renewal (a dead holder's turn is free after it). */
  ttlMs?: number;
  /** How long a holder keeps the turn while others wait. */
  quantumMs?: number;
}

/** A limiter whose windows can be handed from one process to the next (`C`: what a request costs, e.g. its rows). */
export interface PortableLimiter<C = undefined> {
  acquire(ask?: Ask<C>): Promise<Slot>;
  /** Its windows (recent request times), to hand over. */
  export(): unknown;
  /** Take over the windows of the previous holder. */
  load(window: unknown): void;
  /** Count as used what a vanished holder could have sent in its last `staleMs` (not handed over). */
  fill(staleMs: number): void;
}

export class SharedBudget<C = undefined> {
  /** The holder's name in the record: its pod (host name) and process, so that an operator can tell who holds the turn. */
  private readonly me = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  private held = false;
  private heldUntil = 0;
  private heldSince = 0;
  private othersWaiting = false;
  /** Another replica waits with a small file's request. */
  private othersAhead = false;
  private demand = 0;
  /** This replica's waiting requests that go ahead (small files). */
  private demandAhead = 0;
  private inFlight = 0;
  private releasing?: Promise<void>;
  private turnTaking?: Promise<void>;
  private ticking?: NodeJS.Timeout;
  private readonly ttlMs: number;
  private readonly quantumMs: number;
  /** Figures for the benchmark: turns taken, time waited for them, renewals. */
  readonly stats = { turns: 0, waitedMs: 0, renewals: 0 };

  constructor(
    private readonly store: ConditionalStore,
    private readonly key: string,
    private readonly limiter: PortableLimiter<C>,
    opts: SharedBudgetOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 3_000;
    this.quantumMs = opts.quantumMs ?? 2_000;
  }

  /** Wait for this replica's turn and a slot of the limiter; the slot's `done` ends the request. */
  async acquire(ask: Ask<C> = {}): Promise<Slot> {
    const ahead = goesAhead(ask.rank);
    this.demand++;
    if (ahead) this.demandAhead++;
    const started = Date.now();
    try {
      for (;;) {
        await this.releasing;
        if (!this.holds()) {
          await (this.turnTaking ??= this.takeTurn(ask.signal).finally(() => (this.turnTaking = undefined)));
          continue;
        }
        const slot = await this.limiter.acquire(ask);
        // The turn may have been handed over while the slot was awaited: then the request waits for the next one.
        if (!this.holds() || this.releasing) {
          slot.cancel?.();
          continue;
        }
        this.inFlight++;
        return endingOnce(slot, Date.now() - started, () => {
          this.inFlight--;
          if (this.mustHandOver()) void this.handOver();
        });
      }
    } finally {
      this.demand--;
      if (ahead) this.demandAhead--;
    }
  }

  /** Others wait past the quantum, or one waits with a small file and this replica has none. */
  private mustHandOver(): boolean {
    return (this.othersWaiting && Date.now() - this.heldSince >= this.quantumMs) || (this.othersAhead && this.demandAhead === 0);
  }

  /** Whether a replica other than this one said, recently, that it waits. */
  private othersIn(said: Record<string, number> | undefined, now: number): boolean {
    return Object.entries(said ?? {}).some(([id, at]) => id !== this.me && at > now - 2 * this.ttlMs);
  }

  private holds(): boolean {
    return this.held && Date.now() < this.heldUntil - Math.min(500, this.ttlMs / 4);
  }

  /** Take the turn when it is free (absent, released or expired); say we want it otherwise, and wait. */
  private async takeTurn(signal?: AbortSignal): Promise<void> {
    const waitStart = Date.now();
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      const seen = await this.store.read(this.key, turnRecord());
      const now = Date.now();
      const t = seen?.value;
      const othersWant = this.othersIn(t?.waiters, now);
      const justGaveItUp = t?.releasedBy === this.me && othersWant && now - t.expiresAt < 1_000;
      // A replica with a small file waiting goes first (while its word is fresh).
      const yieldToAhead = this.demandAhead === 0 && this.othersIn(t?.ahead, now);
      const free = !t || !t.holder || t.expiresAt <= now || t.holder === this.me;
      if (free && !justGaveItUp && !yieldToAhead) {
        const waiters = without(t?.waiters, this.me);
        const ahead = without(t?.ahead, this.me);
        const mine: Turn = { holder: this.me, expiresAt: now + this.ttlMs, waiters, ahead, window: t?.window };
        const etag = seen ? await this.store.replace(this.key, mine, seen.etag) : await this.store.create(this.key, mine);
        if (!etag) continue;
        this.limiter.load(t?.window);
        // A holder that vanished (its turn expired, not handed over) may have sent after its last renewal.
        if (t?.holder && t.holder !== this.me) this.limiter.fill(this.ttlMs);
        this.held = true;
        this.heldSince = now;
        this.heldUntil = now + this.ttlMs;
        this.othersWaiting = this.othersIn(waiters, now);
        this.othersAhead = this.othersIn(ahead, now);
        this.stats.turns++;
        this.stats.waitedMs += now - waitStart;
        this.keepAlive();
        return;
      }
      const stale = (said: Record<string, number>) => !(this.me in said) || said[this.me] < now - this.ttlMs;
      if (t && (stale(t.waiters) || (this.demandAhead > 0 && stale(t.ahead)))) {
        const ahead = this.demandAhead > 0 ? { ...t.ahead, [this.me]: now } : t.ahead;
        await this.store.replace(this.key, { ...t, waiters: { ...t.waiters, [this.me]: now }, ahead }, seen!.etag);
      }
      await sleep(Math.max(20, Math.min(100, (t?.expiresAt ?? now) - now)), signal);
    }
  }

  /** While held: renew every third of the time-to-live; hand over when others wait past the quantum, or when idle. */
  private keepAlive(): void {
    clearTimeout(this.ticking);
    const tick = async () => {
      if (!this.held || this.releasing) return;
      if ((this.demand === 0 && this.inFlight === 0) || this.mustHandOver()) return void (await this.handOver());
      await this.renew();
      if (this.held) this.ticking = setTimeout(() => void tick().catch(() => undefined), this.ttlMs / 3);
    };
    this.ticking = setTimeout(() => void tick().catch(() => undefined), this.ttlMs / 3);
    this.ticking.unref();
  }

  /** Renew the turn (a waiter may have written the record since: read, then replace, until it holds). */
  private async renew(): Promise<void> {
    for (let round = 0; round < 5; round++) {
      const now = Date.now();
      const seen = await this.store.read(this.key, turnRecord());
      if (!seen || seen.value.holder !== this.me || seen.value.expiresAt <= now) {
        this.held = false; // lost: stop sending
        return;
      }
      this.othersWaiting = this.othersIn(seen.value.waiters, now);
      this.othersAhead = this.othersIn(seen.value.ahead, now);
      const next = await this.store.replace(this.key, { ...seen.value, expiresAt: now + this.ttlMs, window: this.limiter.export() }, seen.etag);
      if (next) {
        this.heldUntil = now + this.ttlMs;
        this.stats.renewals++;
        return;
      }
    }
  }

  /** Stop taking new slots, let the requests in flight be answered, then free the turn with the window in it. */
  private handOver(): Promise<void> {
    this.releasing ??= (async () => {
      this.heldUntil = 0; // no new slot from now on
      clearTimeout(this.ticking);
      while (this.inFlight > 0) await sleep(10);
      try {
        for (let round = 0; round < 5; round++) {
          const seen = await this.store.read(this.key, turnRecord());
          if (!seen || seen.value.holder !== this.me) break;
          const turn: Turn = { expiresAt: Date.now(), waiters: without(seen.value.waiters, this.me), ahead: without(seen.value.ahead, this.me), window: this.limiter.export(), releasedBy: this.me };
          if (await this.store.replace(this.key, turn, seen.etag)) break;
        }
      } finally {
        this.held = false;
        this.releasing = undefined;
      }
    })();
    return this.releasing;
  }
}

function without(said: Record<string, number> | undefined, me: string): Record<string, number> {
  const { [me]: _self, ...rest } = said ?? {};
  void _self;
  return rest;
}

/** Make the shared budget of one destination (`target` names it; hashed into the record's key) around this process's limiter. */
export type BudgetFactory = <C>(target: string, limiter: PortableLimiter<C>) => { acquire(ask?: Ask<C>): Promise<Slot> };

/** Each destination's budget, shared by every publish replica through the output bucket (one record per destination). */
export function sharedBudgets(s3: Storage, bucket: string): BudgetFactory {
  const store = new ConditionalStore(s3, bucket);
  return <C>(target: string, limiter: PortableLimiter<C>) => new SharedBudget<C>(store, stateKeys.budget(target), limiter);
}
