/**
 * How each function scales, read from the deploy manifests themselves (one source of truth):
 * `knative/<fn>.yaml` (the KPA's annotations and the revision's `containerConcurrency` and
 * timeouts) or `stack.yml` (OpenFaaS CE's `com.openfaas.scale.min/max` labels). Knative's cluster
 * defaults (`config-autoscaler`) fill what a manifest leaves out.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export interface ScalePolicy {
  /** Where the settings come from (for the timeline and the errors). */
  source: string;
  min: number;
  max: number;
  /** Requests in flight one process should carry (KPA: min(target, containerConcurrency) × utilization). */
  target: number;
  /** Requests one process takes at once; more wait in the gateway (0: no limit). */
  containerConcurrency: number;
  /** Processes a function starts with when deployed (Knative's initial-scale, default 1). */
  initial: number;
  stableMs: number;
  panicMs: number;
  /** Panic mode when the panic window asks for this many times the ready processes (KPA: 200 %). */
  panicThreshold: number;
  /** The last process stays this long after the stable window went idle (retention, or the scale-to-zero grace if longer). */
  zeroAfterMs: number;
  /** How long a request waits for a process before the gateway answers 504 (the activator's timeout). */
  holdMs: number;
  /** Whether the function may have no process at all (KPA yes; OpenFaaS CE never). */
  toZero: boolean;
}

/** Knative's cluster defaults (`config/core/configmaps/autoscaler.yaml`). */
const KPA_DEFAULTS = { target: 100, utilization: 70, windowS: 60, panicWindowPct: 10, panicThresholdPct: 200, graceS: 30, maxLocal: 16 };

/** A Kubernetes duration ("1m", "30s", "1m30s", "1h") in milliseconds. */
export function durationMs(text: string | undefined, fallbackMs: number): number {
  if (text === undefined || text === '') return fallbackMs;
  const parts = [...String(text).matchAll(/(\d+(?:\.\d+)?)(h|m|s|ms)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== String(text)) throw new Error(`not a duration: ${text}`);
  const unit = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2] as keyof typeof unit], 0);
}

export interface PolicyOverrides {
  /** Shortens the stable window for demos and tests; retention and grace shrink in proportion. */
  windowSeconds?: number;
  /** How long a request is held for a process (default: the revision's responseStartTimeoutSeconds). */
  holdSeconds?: number;
}

/** The KPA's view of one Knative Service manifest. */
export function knativePolicy(root: string, name: string, o: PolicyOverrides = {}): ScalePolicy {
  const file = join('knative', `${name}.yaml`);
  const doc = parse(readFileSync(join(root, file), 'utf8')) as { spec: { template: { metadata?: { annotations?: Record<string, string> }; spec: { containerConcurrency?: number; timeoutSeconds?: number; responseStartTimeoutSeconds?: number } } } };
  const a = doc.spec.template.metadata?.annotations ?? {};
  const rev = doc.spec.template.spec;
  const get = (k: string) => a[`autoscaling.knative.dev/${k}`];
  const cc = rev.containerConcurrency ?? 0;
  const annotated = Number(get('target') ?? KPA_DEFAULTS.target);
  const utilization = Number(get('target-utilization-percentage') ?? KPA_DEFAULTS.utilization) / 100;
  const manifestWindowMs = durationMs(get('window'), KPA_DEFAULTS.windowS * 1000);
  const stableMs = o.windowSeconds ? o.windowSeconds * 1000 : manifestWindowMs;
  const shrink = stableMs / manifestWindowMs;
  const retentionMs = durationMs(get('scale-to-zero-pod-retention-period'), 0) * shrink;
  const max = Number(get('max-scale') ?? 0) || KPA_DEFAULTS.maxLocal;
  return {
    source: file,
    min: Number(get('min-scale') ?? 0),
    max,
    target: Math.max(0.01, (cc > 0 ? Math.min(annotated, cc) : annotated) * utilization),
    containerConcurrency: cc,
    initial: Number(get('initial-scale') ?? 1),
    stableMs,
    panicMs: (stableMs * Number(get('panic-window-percentage') ?? KPA_DEFAULTS.panicWindowPct)) / 100,
    panicThreshold: Number(get('panic-threshold-percentage') ?? KPA_DEFAULTS.panicThresholdPct) / 100,
    zeroAfterMs: Math.max(retentionMs, KPA_DEFAULTS.graceS * 1000 * shrink),
    holdMs: (o.holdSeconds || rev.responseStartTimeoutSeconds || rev.timeoutSeconds || 300) * 1000,
    toZero: true,
  };
}

/**
 * OpenFaaS CE as far as it goes: `com.openfaas.scale.min` processes from the start and never
 * fewer (CE refuses 0 replicas), at most `com.openfaas.scale.max`. CE has no concurrency target
 * (its legacy alert scales by requests per second): each process takes requests as they come.
 */
export function openfaasPolicy(root: string, name: string, o: PolicyOverrides = {}): ScalePolicy {
  const doc = parse(readFileSync(join(root, 'stack.yml'), 'utf8')) as { functions: Record<string, { labels?: Record<string, string> }> };
  const labels = doc.functions[name]?.labels ?? {};
  const min = Math.max(1, Number(labels['com.openfaas.scale.min'] ?? 1));
  const windowMs = (o.windowSeconds || KPA_DEFAULTS.windowS) * 1000;
  return {
    source: 'stack.yml',
    min,
    max: Math.max(min, Number(labels['com.openfaas.scale.max'] ?? 5)),
    target: Number.POSITIVE_INFINITY,
    containerConcurrency: 0,
    initial: min,
    stableMs: windowMs,
    panicMs: windowMs / 10,
    panicThreshold: 2,
    zeroAfterMs: Number.POSITIVE_INFINITY,
    holdMs: (o.holdSeconds || 100) * 1000, // the gateway polls ~100 s for a ready replica
    toZero: false,
  };
}
