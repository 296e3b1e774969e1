/** The pod limits the local tools apply come from the deploy manifests, and both manifests agree. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { cpuCores, podLimits, quantityBytes } from './pod-resources.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

describe('pod limits from knative/*.yaml', () => {
  test('Kubernetes quantities', () => {
    assert.equal(quantityBytes('256Mi'), 268_435_456);
    assert.equal(quantityBytes('1Gi'), 1_073_741_824);
    assert.equal(quantityBytes('128M'), 128_000_000);
    assert.equal(quantityBytes(1000), 1000);
    assert.throws(() => quantityBytes('256MB'), /not a memory quantity/);
    assert.equal(cpuCores('500m'), 0.5);
    assert.equal(cpuCores('1'), 1);
    assert.equal(cpuCores(2), 2);
    assert.throws(() => cpuCores('lots'), /not a CPU quantity/);
  });

  test('transform: one core and 256 MiB, as its manifest says', () => {
    assert.deepEqual(podLimits(ROOT, 'transform'), { cpu: 1, memoryBytes: 268_435_456 });
  });

  test('stack.yml gives every function the limits its Knative manifest gives it', () => {
    const stack = parse(readFileSync(join(ROOT, 'stack.yml'), 'utf8')) as { functions: Record<string, { limits: { cpu: string; memory: string } }> };
    for (const [name, fn] of Object.entries(stack.functions)) {
      assert.deepEqual(podLimits(ROOT, name), { cpu: cpuCores(fn.limits.cpu), memoryBytes: quantityBytes(fn.limits.memory) }, name);
    }
  });
});
