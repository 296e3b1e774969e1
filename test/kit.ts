/** Locate the team kit (`../shared/` beside the repository) for fixtures. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function kitPath(rel: string): string {
  const candidates = [process.env.KIT_DIR, join(repoRoot, '..', 'shared')].filter((p): p is string => !!p);
  for (const c of candidates) if (existsSync(join(c, rel))) return join(c, rel);
  throw new Error(`team kit file ${rel} not found beside the repository (set KIT_DIR)`);
}
