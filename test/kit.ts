/** Where the tests find the repository and its fixtures (all in the repo: a bare clone runs its tests). */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A file under test/fixtures/ (MinIO events, the CSV conformance corpus, the Knative CRDs). */
export function fixturePath(rel: string): string {
  const path = join(repoRoot, 'test', 'fixtures', rel);
  if (!existsSync(path)) throw new Error(`fixture ${rel} not found under test/fixtures/`);
  return path;
}

/** A sample CSV under examples/ (the files the README uses). */
export function examplePath(name: string): string {
  return join(repoRoot, 'examples', name);
}

/** A script of the repo run as `npm run` runs it (tsx): its exit code and its output, stdout and stderr together. */
export function runScript(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    // 'close', not 'exit': the child's last output may still be in its pipes when it exits.
    child.once('close', (code) => resolve({ code, out }));
  });
}
