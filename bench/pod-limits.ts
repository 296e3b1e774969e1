/**
 * Function processes as small as their pods: each runs in cgroups with the CPU and memory limits
 * its Knative manifest gives the pod (`dev/pod-resources.ts`), so a benchmark on this machine is no
 * kinder than the platform: a pod with 500m gets half a core however many cores the node has, and
 * Node sizes V8's heap from the memory limit as it does in the container. Linux, as root, cgroup
 * v2 (cpu.max, memory.max) or v1 (cpu.cfs_quota_us, memory.limit_in_bytes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StackOptions } from '../dev/stack.js';
import { podLimits, type PodLimits } from '../dev/pod-resources.js';
import { NODE_RUNTIME_FLAGS } from '../shared/runtime/flags.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const PERIOD_US = 100_000;
const V2 = existsSync('/sys/fs/cgroup/cgroup.controllers');

/** Which of a pod's limits a process gets. */
export type PodResource = 'cpu' | 'memory';

/** The CPU limit (in cores) of a function's pod, as its Knative manifest sets it. */
export function manifestCpuLimit(name: string): number {
  return podLimits(ROOT, name).cpu;
}

/** Where a v1 hierarchy puts this process (`/` when not listed): new groups go beneath it. */
function ownV1Group(controller: string): string {
  const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes(controller));
  return line?.split(':')[2] ?? '/';
}

/** New cgroups with the pod's limits (one folder on v2, one per controller on v1); the folders a process joins. */
function podGroups(name: string, limits: PodLimits, which: PodResource[]): string[] {
  const quota = `${Math.round(limits.cpu * PERIOD_US)}`;
  if (V2) {
    const dir = join('/sys/fs/cgroup', name);
    mkdirSync(dir);
    if (which.includes('cpu')) writeFileSync(join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`);
    if (which.includes('memory')) writeFileSync(join(dir, 'memory.max'), String(limits.memoryBytes));
    return [dir];
  }
  return which.map((controller) => {
    const dir = join('/sys/fs/cgroup', controller, ownV1Group(controller), name);
    mkdirSync(dir);
    if (controller === 'cpu') {
      writeFileSync(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), quota);
    } else writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    return dir;
  });
}

/** Whether this process may make pod groups (root, a writable cgroup file system): try one. */
export function canLimitPods(which: PodResource[]): boolean {
  try {
    removeGroups(podGroups(`mini-pipeline-probe-${process.pid}`, { cpu: 1, memoryBytes: 1 << 30 }, which));
    return true;
  } catch {
    return false;
  }
}

function removeGroups(groups: string[]): void {
  for (const g of groups) {
    try {
      rmdirSync(g);
    } catch {
      /* still in use or gone */
    }
  }
}

/** `sh` arguments that join the groups, then become the command: it and all it starts stay in them. */
function joining(groups: string[], argv: string[]): string[] {
  return ['-c', `${groups.map((g) => `echo $$ > "${g}/cgroup.procs"`).join(' && ')} && exec "$0" "$@"`, ...argv];
}

/**
 * A command run as in function `name`'s pod: `sh` and its arguments for execFile/spawn, and
 * `cleanUp` to remove the groups once the process is gone.
 */
export function inPod(name: string, which: PodResource[], argv: string[]): { file: 'sh'; args: string[]; cleanUp(): void } {
  const groups = podGroups(`mini-pipeline-${process.pid}-${name}-${++made}`, podLimits(ROOT, name), which);
  return { file: 'sh', args: joining(groups, argv), cleanUp: () => removeGroups(groups) };
}
let made = 0;

/** A launcher for the local stack whose replicas each get their pod's limits (CPU, memory or both); `cleanUp` removes the groups once the processes are gone. */
export function podLimitedLauncher(which: PodResource[] = ['cpu', 'memory']): { launcher: NonNullable<StackOptions['launcher']>; limits: Record<string, number>; cleanUp(): void } {
  const pods: (() => void)[] = [];
  const limits: Record<string, number> = {};
  const launcher: NonNullable<StackOptions['launcher']> = (name, env) => {
    limits[name] ??= manifestCpuLimit(name);
    const pod = inPod(name, which, [process.execPath, ...NODE_RUNTIME_FLAGS, join(ROOT, 'dist', name, 'index.cjs')]);
    pods.push(pod.cleanUp);
    const child: ChildProcess = spawn(pod.file, pod.args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    return child;
  };
  const cleanUp = () => {
    for (const c of pods.splice(0)) c();
  };
  return { launcher, limits, cleanUp };
}
