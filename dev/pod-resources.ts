/**
 * A function's pod limits as its Knative manifest sets them (`knative/<name>.yaml`,
 * resources.limits): what the local tools give a container or a measured process, so that neither
 * runs larger than the pod. The memory limit matters beyond being a cap: Node sizes V8's heap from
 * it (a 256 MiB container gets 1 MiB semi-spaces and a ~260 MB heap, against 16 MiB and ~4 GB on an
 * unconstrained machine), which changes how often garbage is collected and so the peak RSS.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

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
