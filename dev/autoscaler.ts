/**
 * Knative's activator and KPA on one machine. The gateway asks `admit(fn)` for a process before it
 * proxies a request: a ready process with a free slot (`containerConcurrency`) takes it at once;
 * otherwise the request is held (the activator's buffer) until a process is ready or a slot frees,
 * and answered 504 if none comes within the hold time. Every tick the autoscaler averages the
 * concurrency (in flight + held) over the stable and panic windows, wants
 * ceil(concurrency / target) processes between min- and max-scale, starts them at once and removes
 * them (newest first, as a ReplicaSet does) once the stable window no longer asks for them, the last
 * one only after the retention period. A removal is a SIGTERM: the process drains as in its image.
 */
import type { ChildProcess } from 'node:child_process';
import type { ScalePolicy } from './scale-policy.js';

/** A function process as the autoscaler needs it (the stack's FunctionProcess). */
export interface ScaledProcess {
  port: number;
  child: ChildProcess;
}

export interface ScaleEvent {
  at: number;
  fn: string;
  kind: 'start' | 'ready' | 'stop' | 'exit' | 'held' | 'timeout' | 'failed' | 'wake';
  /** Processes of the function after the event (starting or ready). */
  processes: number;
  /** Processes still running, those draining after a SIGTERM included (`kubectl get pods`). */
  running: number;
  /** For `held`: how long the request waited for a process (its cold-start wait). */
  waitMs?: number;
  detail?: string;
}

export interface Lease {
  port: number;
  release(): void;
}

/** What the gateway answers when no process becomes ready in time (Knative: "activator request timeout"). */
export class HoldTimeout extends Error {
  readonly status = 504;
}

interface Proc<P> {
  fp?: P;
  state: 'starting' | 'ready' | 'stopping';
  inFlight: number;
  startedAt: number;
}

interface Waiter {
  since: number;
  grant(lease: Lease): void;
  fail(err: Error): void;
}

export interface ScalerDeps<P extends ScaledProcess> {
  launch(): Promise<P>;
  terminate(fp: P): Promise<void>;
  /** The ready processes changed (the stack's `replicas` map). */
  onChange(ready: P[]): void;
  onEvent(ev: ScaleEvent): void;
}

/** One function's processes, its held requests and its scaling decisions. */
export class FunctionScaler<P extends ScaledProcess = ScaledProcess> {
  private procs: Proc<P>[] = [];
  private waiters: Waiter[] = [];
  private samples: { at: number; value: number }[] = [];
  private lastBusy = Date.now();
  private panicUntil = 0;
  private stopped = false;

  constructor(
    readonly name: string,
    readonly policy: ScalePolicy,
    private readonly deps: ScalerDeps<P>,
  ) {}

  /** Processes starting or ready (what `replicas` reports) and those ready (`availableReplicas`). */
  counts(): { replicas: number; availableReplicas: number; inFlight: number; held: number } {
    const live = this.procs.filter((p) => p.state !== 'stopping');
    return { replicas: live.length, availableReplicas: live.filter((p) => p.state === 'ready').length, inFlight: live.reduce((s, p) => s + p.inFlight, 0), held: this.waiters.length };
  }

  /** Start the processes a fresh deployment has (initial-scale) and wait until they are ready. */
  async deploy(): Promise<void> {
    const n = Math.max(this.policy.initial, this.policy.min);
    await Promise.all(Array.from({ length: n }, () => this.startOne(true)));
    this.lastBusy = Date.now(); // a fresh deployment counts as activity: its processes get a full window
  }

  admit(): Promise<Lease> {
    const lease = this.tryLease();
    if (lease) return Promise.resolve(lease);
    return new Promise<Lease>((resolve, reject) => {
      const since = Date.now();
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        this.event('timeout', { waitMs: Date.now() - since, detail: `no process of ${this.name} became ready within ${this.policy.holdMs / 1000} s` });
        reject(new HoldTimeout(`no process of ${this.name} became ready within ${this.policy.holdMs / 1000} s (activator request timeout)`));
      }, this.policy.holdMs);
      const waiter: Waiter = {
        since,
        grant: (l) => {
          clearTimeout(timer);
          this.event('held', { waitMs: Date.now() - since });
          resolve(l);
        },
        fail: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(waiter);
      // The activator pokes the autoscaler at once: a function at zero starts a process now.
      if (!this.procs.some((p) => p.state !== 'stopping')) void this.startOne();
    });
  }

  /** Start a process now though no request asks for one (work is due); it gets a full window. */
  wake(reason: string): void {
    if (this.stopped || this.procs.some((p) => p.state !== 'stopping')) return;
    this.lastBusy = Date.now();
    this.event('wake', { detail: reason });
    void this.startOne();
  }

  /** The ready process with the fewest requests in flight, if one has a free slot. */
  private tryLease(): Lease | undefined {
    const cc = this.policy.containerConcurrency;
    const free = this.procs.filter((p) => p.state === 'ready' && (cc === 0 || p.inFlight < cc)).sort((a, b) => a.inFlight - b.inFlight)[0];
    if (!free) return undefined;
    free.inFlight++;
    this.lastBusy = Date.now();
    let released = false;
    return {
      port: free.fp!.port,
      release: () => {
        if (released) return;
        released = true;
        free.inFlight--;
        this.lastBusy = Date.now();
        this.dispatch();
      },
    };
  }

  /** Hand held requests to processes with free slots, oldest first. */
  private dispatch(): void {
    while (this.waiters.length) {
      const lease = this.tryLease();
      if (!lease) return;
      this.waiters.shift()!.grant(lease);
    }
  }

  private async startOne(throwOnFail = false): Promise<void> {
    if (this.stopped) return;
    const proc: Proc<P> = { state: 'starting', inFlight: 0, startedAt: Date.now() };
    this.procs.push(proc);
    this.event('start');
    try {
      proc.fp = await this.deps.launch();
    } catch (err) {
      this.procs = this.procs.filter((p) => p !== proc);
      this.event('failed', { detail: (err as Error).message });
      if (throwOnFail) throw err;
      return;
    }
    proc.fp.child.once('exit', () => this.exited(proc));
    if (this.stopped || proc.state === 'stopping') return void this.deps.terminate(proc.fp);
    proc.state = 'ready';
    this.event('ready', { waitMs: Date.now() - proc.startedAt });
    this.changed();
    this.dispatch();
  }

  private exited(proc: Proc<P>): void {
    if (!this.procs.includes(proc)) return;
    this.procs = this.procs.filter((p) => p !== proc);
    this.event('exit');
    this.changed();
  }

  private changed(): void {
    this.deps.onChange(this.procs.filter((p) => p.state === 'ready').map((p) => p.fp!));
  }

  private event(kind: ScaleEvent['kind'], extra: Partial<ScaleEvent> = {}): void {
    this.deps.onEvent({ at: Date.now(), fn: this.name, kind, processes: this.counts().replicas, running: this.procs.length, ...extra });
  }

  /** The processes the KPA wants now (stable or panic mode), between min- and max-scale. */
  desired(now: number): number {
    const { inFlight, held } = this.counts();
    const concurrency = inFlight + held;
    if (concurrency > 0) this.lastBusy = now;
    this.samples.push({ at: now, value: concurrency });
    this.samples = this.samples.filter((s) => now - s.at <= this.policy.stableMs);
    const avg = (ms: number) => {
      const inWindow = this.samples.filter((s) => now - s.at <= ms);
      return inWindow.reduce((s, x) => s + x.value, 0) / inWindow.length;
    };
    const p = this.policy;
    const stable = Math.ceil(avg(p.stableMs) / p.target);
    const panic = Math.ceil(avg(p.panicMs) / p.target);
    const live = this.counts().replicas;
    const ready = Math.max(1, this.counts().availableReplicas);
    if (panic / ready >= p.panicThreshold) this.panicUntil = now + p.stableMs;
    let want = now < this.panicUntil ? Math.max(panic, stable, live) : stable;
    // Zero is decided once the stable window has seen no request; the last process then stays for
    // the retention period (or the scale-to-zero grace, whichever is longer).
    if (want === 0 && (held > 0 || now - this.lastBusy < p.stableMs + p.zeroAfterMs)) want = 1;
    if (!p.toZero) want = Math.max(1, want);
    return Math.min(p.max, Math.max(p.min, want));
  }

  /** One decision: start what is wanted, SIGTERM the newest processes that are not. */
  tick(now = Date.now()): void {
    if (this.stopped) return;
    const want = this.desired(now);
    const live = this.procs.filter((p) => p.state !== 'stopping');
    for (let i = live.length; i < want; i++) void this.startOne();
    const surplus = live.length - want;
    if (surplus <= 0) return;
    const victims = [...live].sort((a, b) => b.startedAt - a.startedAt).slice(0, surplus);
    for (const v of victims) this.remove(v);
  }

  private remove(proc: Proc<P>): void {
    proc.state = 'stopping';
    this.event('stop', { detail: proc.inFlight ? `${proc.inFlight} request(s) in flight: it drains` : undefined });
    this.changed();
    if (proc.fp) void this.deps.terminate(proc.fp);
  }

  /** Everything stops: held requests fail, every process gets SIGTERM and is waited for. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.waiters.splice(0)) w.fail(new HoldTimeout(`${this.name} is shutting down`));
    await Promise.all(this.procs.map((p) => p.fp && this.deps.terminate(p.fp)));
  }
}

/** The autoscaler of every function: one tick loop, one timeline. */
export class Autoscaler<P extends ScaledProcess = ScaledProcess> {
  readonly timeline: ScaleEvent[] = [];
  readonly scalers = new Map<string, FunctionScaler<P>>();
  private timer?: NodeJS.Timeout;
  private readonly listeners = new Set<(ev: ScaleEvent) => void>();

  constructor(
    policies: Record<string, ScalePolicy>,
    deps: (name: string) => Omit<ScalerDeps<P>, 'onEvent'>,
    readonly tickMs = 500,
  ) {
    for (const [name, policy] of Object.entries(policies)) this.scalers.set(name, new FunctionScaler<P>(name, policy, { ...deps(name), onEvent: (ev) => this.record(ev) }));
  }

  private record(ev: ScaleEvent): void {
    this.timeline.push(ev);
    if (this.timeline.length > 10_000) this.timeline.splice(0, 1_000);
    for (const l of this.listeners) l(ev);
  }

  onEvent(listener: (ev: ScaleEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {
    await Promise.all([...this.scalers.values()].map((s) => s.deploy()));
    this.timer = setInterval(() => {
      for (const s of this.scalers.values()) s.tick();
    }, this.tickMs);
    this.timer.unref();
  }

  admit(name: string): Promise<Lease> | undefined {
    return this.scalers.get(name)?.admit();
  }

  functions(): { name: string; replicas: number; availableReplicas: number }[] {
    return [...this.scalers.values()].map((s) => ({ name: s.name, ...s.counts() }));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.scalers.values()].map((s) => s.stop()));
  }
}
