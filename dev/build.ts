/**
 * The one bundler of the project: `npm start`, the bench, the tests and the image's build stage
 * all bundle with this file (same esbuild call, same flags).
 *   npm run build                                    every function (and the set-up Job) into dist/<name>/index.mjs
 *   tsx dev/build.ts --entry <file.ts> --out <file>  one entry (the image's build stage)
 */
import { build, type Metafile } from 'esbuild';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export const ENTRIES: Record<string, string> = {
  webhook: 'functions/webhook/index.ts',
  transform: 'functions/transform/index.ts',
  publish: 'functions/publish/index.ts',
  setup: 'functions/setup/index.ts',
};

export const BANNER = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

/** Bundle one entry file into one ESM file. */
export async function bundleEntry(entry: string, outfile: string): Promise<{ file: string; bytes: number; metafile: Metafile }> {
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    banner: { js: BANNER },
    logLevel: 'warning',
    metafile: true,
  });
  return { file: outfile, bytes: statSync(outfile).size, metafile: result.metafile };
}

/** Bundle a function by name into `<outdir>/<name>/index.mjs`. */
export function bundle(name: string, outdir = 'dist') {
  return bundleEntry(resolve(ROOT, ENTRIES[name]), `${outdir}/${name}/index.mjs`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { entry: { type: 'string' }, out: { type: 'string' } } });
  if (values.entry) {
    const { file, bytes } = await bundleEntry(resolve(values.entry), resolve(values.out ?? 'dist/index.mjs'));
    process.stdout.write(`${file}  ${(bytes / 1024).toFixed(0)} KiB\n`);
  } else {
    for (const name of Object.keys(ENTRIES)) {
      const { file, bytes } = await bundle(name);
      process.stdout.write(`${file}  ${(bytes / 1024).toFixed(0)} KiB\n`);
    }
  }
}
