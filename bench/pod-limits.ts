/**
 * Function processes as small as their pods: each replica runs in its own CPU cgroup with the CPU
 * limit its Knative manifest gives the pod (`knative/<name>.yaml`, resources.limits.cpu), so a
 * benchmark on this machine is no kinder than the platform (a pod with 500m gets half a core,
 * however many cores the node has). Linux, as root, cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { StackOptions } from '../dev/stack.js';
import { NODE_RUNTIME_FLAGS } from '../shared/runtime/flags.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const PERIOD_US = 100_000;

/** The CPU limit (in cores) of a function's pod, as its Knative manifest sets it. */
export function manifestCpuLimit(name: string): number {
  const doc = parse(readFileSync(join(ROOT, 'knative', `${name}.yaml`), 'utf8')) as { spec: { template: { spec: { containers: { resources?: { limits?: { cpu?: string | number } } }[] } } } };
  const cpu = doc.spec.template.spec.containers[0].resources?.limits?.cpu;
  if (cpu === undefined) throw new Error(`knative/${name}.yaml sets no CPU limit`);
  return typeof cpu === 'number' ? cpu : cpu.endsWith('m') ? Number(cpu.slice(0, -1)) / 1000 : Number(cpu);
}

/** A new CPU cgroup limited to `cores`; returns its folder. */
function cpuGroup(name: string, cores: number): string {
  const quota = Math.round(cores * PERIOD_US);
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    const dir = join('/sys/fs/cgroup', name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`);
    return dir;
  }
  const dir = join('/sys/fs/cgroup/cpu', name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
  writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quota));
  return dir;
}

/** A launcher for the local stack whose replicas each get their pod's CPU limit; `cleanUp` removes the groups once the processes are gone. */
export function podLimitedLauncher(): { launcher: NonNullable<StackOptions['launcher']>; limits: Record<string, number>; cleanUp(): void } {
  const groups: string[] = [];
  const limits: Record<string, number> = {};
  const launcher: NonNullable<StackOptions['launcher']> = (name, env) => {
    limits[name] ??= manifestCpuLimit(name);
    const group = cpuGroup(`mini-pipeline-${process.pid}-${name}-${groups.length}`, limits[name]);
    groups.push(group);
    const bundle = join(ROOT, 'dist', name, 'index.cjs');
    // The shell joins the group, then becomes node: the process and all it starts stay in it.
    const child: ChildProcess = spawn('sh', ['-c', `echo $$ > "${group}/cgroup.procs" && exec "$0" "$@"`, process.execPath, ...NODE_RUNTIME_FLAGS, bundle], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    return child;
  };
  const cleanUp = () => {
    for (const g of groups.splice(0)) {
      try {
        rmdirSync(g);
      } catch {
        /* still in use or gone */
      }
    }
  };
  return { launcher, limits, cleanUp };
}
