/**
 * CPU time as Linux counts it (/proc, clock ticks of 10 ms): what a measure of the local stack
 * spent, process by process, and how busy the whole machine was meanwhile. NaN where /proc is
 * not there.
 */
import { readFileSync } from 'node:fs';
import type { TestStack } from '../test/helpers.js';

const TICKS_PER_SECOND = 100;

/** A process's CPU time so far, user and system, in seconds. */
export function cpuSecondsOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

/** The machine's CPU seconds so far: all of them, and those spent busy (not idle, not waiting on I/O). */
function machineSeconds(): { all: number; busy: number } {
  try {
    const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const all = ticks.reduce((a, b) => a + b, 0);
    return { all: all / TICKS_PER_SECOND, busy: (all - ticks[3] - ticks[4]) / TICKS_PER_SECOND };
  } catch {
    return { all: NaN, busy: NaN };
  }
}

/** CPU seconds per process of a stack over one measure; `stack` is this process (embedded S3, gateway, bridge, the uploads). */
export interface StackCpu {
  stack: number;
  functions: Record<string, number>;
  /** The share of the machine's CPU time that was busy (every process, this stack's or not). */
  machineBusy: number;
}

/** Starts counting; the function it returns gives the CPU each process used since. */
export function countStackCpu(t: TestStack): () => StackCpu {
  const pids = [...t.stack.functions].map(([name, p]) => [name, p.child.pid] as const);
  const before = { stack: process.cpuUsage(), functions: pids.map(([, pid]) => cpuSecondsOf(pid)), machine: machineSeconds() };
  return () => {
    const stack = process.cpuUsage(before.stack);
    const machine = machineSeconds();
    return {
      stack: (stack.user + stack.system) / 1e6,
      functions: Object.fromEntries(pids.map(([name, pid], i) => [name, cpuSecondsOf(pid) - before.functions[i]])),
      machineBusy: (machine.busy - before.machine.busy) / (machine.all - before.machine.all),
    };
  };
}
