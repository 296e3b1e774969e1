/**
 * `npm run bench`'s memory figures are the measured process's own. A peer runs in a process the
 * bench spawns, and on Linux getrusage's maxrss (what `process.resourceUsage().maxRSS` reads)
 * starts at the parent's high-water mark from the fork: every peer spawned after the bench had
 * started its gateway stack reported the bench's size, not its own. `bench/peak-rss.mjs` reads
 * VmHWM, which counts from the child's own program.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

test('a process spawned by a large parent reports its own peak resident memory, not the parent’s', () => {
  const parentMB = 300;
  const ballast = Buffer.alloc(parentMB * 1024 * 1024, 1); // written: resident in this process
  const script = `import { peakRssMB } from ${JSON.stringify(pathToFileURL(resolve('bench/peak-rss.mjs')).href)}; console.log(JSON.stringify({ own: peakRssMB(), maxrss: process.resourceUsage().maxRSS / 1024 }))`;
  const { own, maxrss } = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { own: number; maxrss: number };
  assert.ok(own > 10 && own < 150, `the child's own peak: ${own.toFixed(0)} MB (a bare node process; the parent holds ${parentMB} MB)`);
  if (process.platform === 'linux') assert.ok(maxrss > parentMB, `getrusage's maxrss carries the parent's mark (${maxrss.toFixed(0)} MB): the reason it is not used`);
  assert.equal(ballast[ballast.length - 1], 1);
});
