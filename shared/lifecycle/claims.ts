/**
 * Claims: who runs an object version now. Taken by conditional writes only — created with
 * `If-None-Match: *`, taken over (once expired) with `If-Match` on the ETag that showed it expired —
 * so of any number of claimers exactly one wins. The winner's random run id is in the claim; a
 * heartbeat renews it (If-Match again) every third of its time-to-live while the run lives. A run
 * whose renewal is refused, or that could not renew before its claim expired, has lost it: its
 * `signal` aborts, and it stops before its next request to a sink.
 */
import { hostname } from 'node:os';
import type { Problem } from '../runtime/problem.js';
import { delayFor, type RetryPolicy, type Verdict } from '../runtime/retry.js';
import type { Source } from '../dataset/contract.js';
import { stateKeys } from './keys.js';
import { recordSchemas, type Claim, type OutcomeRecord } from './records.js';
import type { ConditionalStore, Versioned } from '../storage/conditional-store.js';
import type { Outcomes } from './outcomes.js';
import { lifecycleProblems } from './problems.js';

export interface ClaimSettings {
  /** A claim's time-to-live without a renewal. */
  claimMs: number;
  /** Runs of one version before it fails for good. */
  maxAttempts: number;
}

/** Waits between the attempts at one version (the one backoff: 2 s doubling to 5 minutes). */
export const ATTEMPT_POLICY: RetryPolicy = { maxRetries: Infinity, baseMs: 2_000, maxMs: 300_000, throttleMs: 5_000 };

export const HOLDER = `${hostname()}/${process.pid}`;

/** A version's outcome and claim as one look saw them (the claim with the etag a conditional write needs). */
export interface Look {
  done?: OutcomeRecord;
  seen?: Versioned<Claim>;
}

export type ClaimAttempt =
  | { kind: 'claimed'; claim: HeldClaim }
  | { kind: 'running'; holder: Claim }
  | { kind: 'waiting'; holder: Claim }
  /** The version has its outcome (`gaveUp`: this attempt was past the ceiling, and recorded it). */
  | { kind: 'finished'; record: OutcomeRecord; gaveUp?: boolean };

type VersionSource = Extract<Source, { kind: 'object' }>;

export class Claims {
  constructor(
    private readonly store: ConditionalStore,
    private readonly outcomes: Outcomes,
    readonly settings: ClaimSettings,
  ) {}

  read(id: string) {
    return this.store.read(stateKeys.claim(id), recordSchemas().Claim);
  }

  /** The version's outcome (unless `outcome` is false) and claim, read at once. */
  async look(id: string, outcome = true): Promise<Look> {
    const [done, seen] = await Promise.all([outcome ? this.outcomes.read(id) : undefined, this.read(id)]);
    return { done, seen };
  }

  /**
   * Take the version's claim for run `runId`, unless a live run holds it, its next attempt is not
   * due yet, or it has an outcome. `force` (a reprocess on purpose) ignores the outcome and the wait.
   * `handed`: the run id of a claim written to hand the version on (the webhook's): that claim,
   * live or not, is taken over as this attempt's own (not counted again); once taken, its id is
   * gone from the record, so of any number of calls that carry it exactly one takes it.
   * `handingOff`: this claim is one to hand on (the webhook's); the run that takes it over reads
   * the outcome again after its own write, so this one does not (one round trip fewer before
   * MinIO's next event; a hand-off claim left beside an outcome is deleted by the due sweep).
   */
  async take(id: string, source: VersionSource, runId: string, opts: { force?: boolean; looked?: Look; handed?: string; handingOff?: boolean } = {}): Promise<ClaimAttempt> {
    for (let round = 0; round < 12; round++) {
      // The outcome and the claim in one round trip (or a look taken just before); an outcome
      // recorded after the look is caught below, a claim changed since makes the write fail.
      const { done: before, seen } = round === 0 && opts.looked ? opts.looked : await this.look(id, !opts.force);
      if (before) return { kind: 'finished', record: before };
      const now = Date.now();
      const prior = seen?.value;
      const handedOver = !!opts.handed && prior?.runId === opts.handed;
      if (prior && Date.parse(prior.expiresAt) > now && !handedOver) {
        if (prior.runId) return { kind: 'running', holder: prior };
        if (!opts.force) return { kind: 'waiting', holder: prior };
      }
      const attempts = opts.force ? 1 : handedOver ? prior.attempts : (prior?.attempts ?? 0) + 1;
      const record = this.fresh(id, source, runId, attempts, prior);
      const etag = seen ? await this.store.replace(stateKeys.claim(id), record, seen.etag) : await this.store.create(stateKeys.claim(id), record);
      if (!etag) continue; // another claimer was first: look again
      const claim = new HeldClaim(this.store, this.outcomes, this.settings, id, source, runId, etag, record);
      // An outcome recorded between the look and the claim: the version is finished.
      const done = opts.force || opts.handingOff ? undefined : await this.outcomes.read(id);
      if (done) {
        await claim.release();
        return { kind: 'finished', record: done };
      }
      if (attempts > this.settings.maxAttempts) return { kind: 'finished', record: await claim.giveUp(prior?.last), gaveUp: true };
      return { kind: 'claimed', claim };
    }
    throw lifecycleProblems.contended(`the claim of ${id} kept changing while it was taken`);
  }

  private fresh(id: string, source: VersionSource, runId: string | undefined, attempts: number, prior?: Claim): Claim {
    const now = new Date();
    return {
      id,
      bucket: source.bucket,
      key: source.key,
      ...(source.etag ? { etag: source.etag } : {}),
      ...(source.versionId ? { versionId: source.versionId } : {}),
      ...(source.size !== undefined ? { size: source.size } : {}),
      ...(runId ? { runId, holder: HOLDER } : {}),
      claimedAt: now.toISOString(),
      renewedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.settings.claimMs).toISOString(),
      attempts,
      ...(prior?.last ? { last: prior.last } : {}),
    };
  }
}

/** A claim record that waits for its next attempt after `problem`. */
function waiting(c: Claim, problem: Problem, verdict: Verdict): Claim {
  const wait = delayFor(verdict, Math.max(0, c.attempts - 1), ATTEMPT_POLICY);
  const { runId: _r, holder: _h, ...rest } = c;
  void _r;
  void _h;
  return { ...rest, expiresAt: new Date(Date.now() + wait).toISOString(), last: problem.toJSON(), ...(verdict.kind === 'throttled' ? { throttled: true } : {}) };
}

/** A claim this run holds: renewed by its heartbeat, every write of it conditional on the last. */
export class HeldClaim {
  private readonly controller = new AbortController();
  private timer?: NodeJS.Timeout;
  /** Until when the claim is surely ours (the time of the last renewal's request plus the time-to-live). */
  private validUntil: number;
  private queue: Promise<unknown> = Promise.resolve();
  private ended = false;

  constructor(
    private readonly store: ConditionalStore,
    private readonly outcomes: Outcomes,
    private readonly settings: ClaimSettings,
    readonly id: string,
    readonly source: VersionSource,
    readonly runId: string,
    private etag: string,
    public record: Claim,
  ) {
    this.validUntil = Date.now() + settings.claimMs;
  }

  /** Aborted when the claim is lost (another run took it over, or it could not be renewed in time). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get attempts(): number {
    return this.record.attempts;
  }

  get lost(): boolean {
    return this.controller.signal.aborted;
  }

  /** Renew every third of the time-to-live until the run ends. */
  startHeartbeat(onLost?: (why: string) => void): void {
    const every = Math.max(50, Math.floor(this.settings.claimMs / 3));
    this.timer = setInterval(() => {
      if (Date.now() > this.validUntil) this.lose('it could not be renewed before it expired');
      else this.renew().catch(() => undefined);
    }, every);
    this.timer.unref();
    this.controller.signal.addEventListener('abort', () => onLost?.(String(this.controller.signal.reason?.detail ?? 'lost')), { once: true });
  }

  /** Renew now; throws claim-lost when another run has it. */
  renew(): Promise<void> {
    return this.update((c) => c);
  }

  /** The version waits for its next attempt after a failure a retry can help (or fails for good past the ceiling). */
  async defer(problem: Problem, verdict: Verdict): Promise<{ retryAt: string } | { failed: OutcomeRecord }> {
    if (this.record.attempts >= this.settings.maxAttempts) return { failed: await this.giveUp(problem.toJSON()) };
    await this.update((c) => waiting(c, problem, verdict));
    this.end();
    return { retryAt: this.record.expiresAt };
  }

  /**
   * The run ends at its deadline: the version waits for its next attempt (as `defer`), and the
   * claim counts as lost from now on, so that whatever the run still does writes nothing.
   */
  async expire(problem: Problem): Promise<{ retryAt: string } | { failed: OutcomeRecord }> {
    const next = await this.defer(problem, { kind: 'retryable', reason: problem.title });
    this.lose('its run passed its deadline');
    return next;
  }

  /** Past the ceiling of attempts: the version fails for good, with its record. */
  async giveUp(last?: Claim['last']): Promise<OutcomeRecord> {
    const problem = lifecycleProblems.gaveUp(`gave up after ${this.record.attempts} attempts${last ? `; the last: ${last.title}${last.detail ? ` (${last.detail})` : ''}` : ''}`, { last });
    const record = await this.outcomes.fail({ id: this.id, source: this.source, problem, attempts: this.record.attempts, runId: this.runId || undefined });
    await this.release();
    return record;
  }

  /** Delete the claim if it is still the one this run wrote (once the outcome is recorded, or when refusing the run). */
  async release(): Promise<void> {
    this.end();
    await this.enqueue(() => this.store.remove(stateKeys.claim(this.id), this.etag));
  }

  /** Stop renewing (the run is over; its claim stays until released or expired). */
  end(): void {
    this.ended = true;
    clearInterval(this.timer);
  }

  private update(change: (c: Claim) => Claim): Promise<void> {
    return this.enqueue(async () => {
      if (this.lost) throw this.controller.signal.reason;
      const startedAt = Date.now();
      const next = { ...change(this.record), renewedAt: new Date(startedAt).toISOString() };
      if (next.runId) next.expiresAt = new Date(startedAt + this.settings.claimMs).toISOString();
      const etag = await this.store.replace(stateKeys.claim(this.id), next, this.etag).catch((err: unknown) => {
        if (Date.now() > this.validUntil) this.lose('it could not be renewed before it expired');
        throw err;
      });
      if (!etag) throw this.lose('another run took it over');
      this.etag = etag;
      this.record = next;
      this.validUntil = startedAt + this.settings.claimMs;
    });
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private lose(why: string): Problem {
    const problem = lifecycleProblems.claimLost(`run ${this.runId} lost its claim on ${this.id}: ${why}`);
    if (!this.lost) this.controller.abort(problem);
    this.end();
    return problem;
  }

  /** Whether the run is over (released, deferred or lost). */
  get over(): boolean {
    return this.ended;
  }
}

