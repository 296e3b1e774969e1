/** Where the tests find the repository and its fixtures (all in the repo: a bare clone runs its tests). */
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
