/** The autoscaler's settings come from the deploy manifests themselves (no copy). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { durationMs, knativePolicy, openfaasPolicy } from './scale-policy.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

describe('scale policies from knative/*.yaml and stack.yml', () => {
  test('transform as the KPA reads knative/transform.yaml: target 4 × 70 %, containerConcurrency 4, max-scale 5, 1 m retention', () => {
    const p = knativePolicy(ROOT, 'transform');
    assert.equal(p.source, 'knative/transform.yaml');
    assert.deepEqual({ min: p.min, max: p.max, cc: p.containerConcurrency, initial: p.initial, toZero: p.toZero }, { min: 0, max: 5, cc: 4, initial: 1, toZero: true });
    assert.ok(Math.abs(p.target - 2.8) < 1e-9, String(p.target));
    assert.deepEqual({ stable: p.stableMs, panic: p.panicMs, zeroAfter: p.zeroAfterMs, hold: p.holdMs }, { stable: 60_000, panic: 6_000, zeroAfter: 60_000, hold: 590_000 });
  });

  test('webhook: containerConcurrency 50 caps nothing below its target 20', () => {
    const p = knativePolicy(ROOT, 'webhook');
    assert.equal(p.containerConcurrency, 50);
    assert.ok(Math.abs(p.target - 14) < 1e-9, String(p.target));
  });

  test('a shorter window shrinks retention and grace in proportion; the hold time can be set', () => {
    const p = knativePolicy(ROOT, 'publish', { windowSeconds: 6, holdSeconds: 3 });
    assert.deepEqual({ stable: p.stableMs, panic: p.panicMs, zeroAfter: p.zeroAfterMs, hold: p.holdMs }, { stable: 6_000, panic: 600, zeroAfter: 6_000, hold: 3_000 });
  });

  test('OpenFaaS CE from stack.yml labels: never below one process', () => {
    assert.deepEqual(
      (['webhook', 'transform', 'publish'] as const).map((n) => {
        const p = openfaasPolicy(ROOT, n);
        return [n, p.min, p.max, p.toZero];
      }),
      [
        ['webhook', 1, 3, false],
        ['transform', 1, 5, false],
        ['publish', 1, 5, false],
      ],
    );
  });

  test('Kubernetes durations', () => {
    assert.equal(durationMs('1m30s', 0), 90_000);
    assert.equal(durationMs('1h', 0), 3_600_000);
    assert.equal(durationMs(undefined, 7), 7);
    assert.throws(() => durationMs('soon', 0), /not a duration: soon/);
  });
});
