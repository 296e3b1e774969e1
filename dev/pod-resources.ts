/**
 * A function's pod limits as its Knative manifest sets them (`knative/<name>.yaml`,
 * resources.limits), and processes run within them: what the local tools give a container
 * (`dev/images.ts`) or a function process (`StackOptions.pods`: the tests, the bench), so that
 * neither runs larger than the pod. A pod with 500m gets half a core however many cores the node
 * has; and the memory limit matters beyond being a cap: Node sizes V8's heap from it (a 256 MiB
 * container gets 1 MiB semi-spaces and a ~260 MB heap, against 16 MiB and ~4 GB on an unconstrained
 * machine), which changes how often garbage is collected and so the peak RSS. Processes are put in
 * cgroups: Linux, as root, v2 (cpu.max, memory.max) or v1 (cpu.cfs_quota_us, memory.limit_in_bytes).
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const PERIOD_US = 100_000;
const V2 = existsSync('/sys/fs/cgroup/cgroup.controllers');

/** Which of a pod's limits a process gets. */
export type PodResource = 'cpu' | 'memory';

export interface PodLimits {
  /** CPU cores (`500m` → 0.5). */
  cpu: number;
  /** Memory in bytes (`256Mi` → 268435456). */
  memoryBytes: number;
}

type Manifest = { spec: { template: { spec: { containers: { resources?: { limits?: { cpu?: string | number; memory?: string | number } } }[] } } } };

/** The limits `knative/<name>.yaml` gives the function's container. */
export function podLimits(root: string, name: string): PodLimits {
  const file = join('knative', `${name}.yaml`);
  const doc = parse(readFileSync(join(root, file), 'utf8')) as Manifest;
  const limits = doc.spec.template.spec.containers[0].resources?.limits;
  if (limits?.cpu === undefined || limits.memory === undefined) throw new Error(`${file} sets no CPU or memory limit`);
  return { cpu: cpuCores(limits.cpu), memoryBytes: quantityBytes(limits.memory) };
}

/** A Kubernetes CPU quantity in cores: `1`, `0.5`, `500m`. */
export function cpuCores(q: string | number): number {
  const text = String(q);
  const cores = text.endsWith('m') ? Number(text.slice(0, -1)) / 1000 : Number(text);
  if (!(cores > 0)) throw new Error(`not a CPU quantity: ${text}`);
  return cores;
}

const SUFFIX: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

/** A Kubernetes memory quantity in bytes: `256Mi`, `1Gi`, `128M`, `1000`. */
export function quantityBytes(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(k|M|G|Ki|Mi|Gi)?$/.exec(String(q));
  if (!m) throw new Error(`not a memory quantity: ${q}`);
  return Math.round(Number(m[1]) * SUFFIX[m[2] ?? '']);
}

/** Where a v1 hierarchy puts this process (`/` when not listed): new groups go beneath it. */
function ownV1Group(controller: string): string {
  const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.split(':')[1]?.split(',').includes(controller));
  return line?.split(':')[2] ?? '/';
}

/** New cgroups with the pod's limits (one folder on v2, one per controller on v1); the folders a process joins. None is left behind when one fails. */
function podGroups(name: string, limits: PodLimits, which: PodResource[]): string[] {
  const quota = `${Math.round(limits.cpu * PERIOD_US)}`;
  const made: string[] = [];
  const group = (dir: string, files: [string, string][]) => {
    mkdirSync(dir);
    made.push(dir);
    for (const [file, value] of files) writeFileSync(join(dir, file), value);
  };
  try {
    if (V2) {
      const files: [string, string][] = [];
      if (which.includes('cpu')) files.push(['cpu.max', `${quota} ${PERIOD_US}`]);
      if (which.includes('memory')) files.push(['memory.max', String(limits.memoryBytes)]);
      group(join('/sys/fs/cgroup', name), files);
    } else {
      for (const controller of which) {
        const dir = join('/sys/fs/cgroup', controller, ownV1Group(controller), name);
        if (controller === 'cpu') group(dir, [['cpu.cfs_period_us', String(PERIOD_US)], ['cpu.cfs_quota_us', quota]]);
        else group(dir, [['memory.limit_in_bytes', String(limits.memoryBytes)]]);
      }
    }
    return made;
  } catch (err) {
    removeGroups(made);
    throw err;
  }
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
