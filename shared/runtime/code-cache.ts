/**
 * Start a bundled function through V8's code cache. Compiling the 2 MB bundle is about half of a
 * cold start; the image stores the compiled code beside the bundle at build time, and the process
 * entry (`index.cjs`) runs the bundle (`function.cjs`) with it.
 *
 * - `CODE_CACHE=write` (the image's build step): run the bundle without a cache, then write
 *   `function.cache` once the function has started (or exited) and exit 0.
 * - Otherwise the cache is used when it matches the bundle, this Node and its V8 flags. When it
 *   does not (another NODE_OPTIONS, say), V8 rejects it and compiles as usual: slower, never wrong.
 *
 * `codeCacheState()` tells which happened; the function's `ready` log line reports it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';

export type CodeCacheState = 'used' | 'rejected' | 'absent' | 'writing';

const STATE = Symbol.for('mini-pipeline.code-cache');

export function codeCacheState(): CodeCacheState | undefined {
  return (globalThis as Record<symbol, CodeCacheState | undefined>)[STATE];
}

export const BUNDLE_FILE = 'function.cjs';
/**
 * The CommonJS wrapper, written around the bundle by the bundler (dev/build.ts) on its first and
 * last lines: the file is the script V8 compiles, read as it is (its positions stay true).
 */
export const CJS_WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname) {';
export const CJS_WRAPPER_TAIL = '\n})';
export const CACHE_FILE = 'function.cache';

/** How long a write run lets the function start before it saves what V8 compiled. */
const WRITE_AFTER_MS = 1500;

export function runBundle(dir: string, mode = process.env.CODE_CACHE): void {
  const file = join(dir, BUNDLE_FILE);
  const cacheFile = join(dir, CACHE_FILE);
  // ASCII (the bundler checks): latin1 makes V8's one-byte string without decoding UTF-8.
  const source = readFileSync(file, 'latin1');
  let cachedData: Buffer | undefined;
  if (mode !== 'write') {
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      cachedData = undefined;
    }
  }
  const script = new Script(source, { filename: file, cachedData });
  (globalThis as Record<symbol, CodeCacheState>)[STATE] = mode === 'write' ? 'writing' : !cachedData ? 'absent' : script.cachedDataRejected ? 'rejected' : 'used';

  if (mode === 'write') {
    let written = false;
    const write = () => {
      if (written) return;
      written = true;
      writeFileSync(cacheFile, script.createCachedData());
    };
    // A function whose configuration is incomplete exits at once: what it compiled is saved all the same.
    const exit = process.exit.bind(process);
    process.exit = (() => {
      write();
      exit(0);
    }) as typeof process.exit;
    setTimeout(() => process.exit(0), WRITE_AFTER_MS);
  }

  const run = script.runInThisContext() as (exports: object, req: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;
  const mod = { exports: {} };
  run(mod.exports, createRequire(file), mod, file, dir);
}
