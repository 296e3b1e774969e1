// This process's peak resident memory, in MB, counted from the start of its own program (`exec`):
// VmHWM in /proc/self/status. getrusage's maxrss (`process.resourceUsage().maxRSS`, Python's
// `ru_maxrss`) is not that on Linux: a child starts with its parent's high-water mark from the
// fork, so a worker spawned by a large bench process reported the parent's size (under a 300 MB
// parent, 290 MB for a worker that peaks at 69 MB). Plain JS: the peers that run without a loader
// use it too. Elsewhere (no /proc), maxrss.
import { readFileSync } from 'node:fs';

export function peakRssMB() {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (kb) return Number(kb[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

// The same for the Python peers (`python3 -c`): a function to paste before their script.
export const PYTHON_PEAK_RSS_MB = [
  'def peak_rss_mb():',
  '  try:',
  "    for l in open('/proc/self/status'):",
  "      if l.startswith('VmHWM:'): return int(l.split()[1]) / 1024",
  '  except OSError: pass',
  '  import resource',
  '  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024',
  '',
].join('\n');
