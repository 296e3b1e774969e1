/** The pod limits the local tools apply come from the deploy manifests, and both manifests agree. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { canLimitPods, cpuCores, inPod, podLimits, quantityBytes } from './pod-resources.js';

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

  test("a process run in transform's pod sees its memory limit, and V8 is sized from it; the group goes with it", () => {
    assert.ok(canLimitPods(['memory']), 'needs root and a writable memory cgroup (as CI runs)');
    const probe = 'const v8 = require("v8"); console.log(JSON.stringify({ limit: process.constrainedMemory(), semi: v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size, cgroup: require("fs").readFileSync("/proc/self/cgroup", "utf8") }))';
    const pod = inPod('transform', ['memory'], [process.execPath, '-e', probe]);
    const seen = JSON.parse(execFileSync(pod.file, pod.args, { encoding: 'utf8' })) as { limit: number; semi: number; cgroup: string };
    assert.equal(seen.limit, podLimits(ROOT, 'transform').memoryBytes);
    assert.ok(seen.semi <= 2 * 1048576, `new space ${seen.semi}`);
    const group = /mini-pipeline-\d+-transform-\d+/.exec(seen.cgroup)?.[0];
    assert.ok(group, seen.cgroup);
    pod.cleanUp();
    const v1 = join('/sys/fs/cgroup/memory', seen.cgroup.split('\n').find((l) => l.includes(group))!.split(':')[2]);
    assert.equal(existsSync(v1) || existsSync(join('/sys/fs/cgroup', group)), false, 'the group is removed');
  });
});
