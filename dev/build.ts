/**
 * `npm run build`: one bundled ESM file per function (and the bucket set-up Job), the same
 * command the image's builder stage runs. Output: dist/<name>/index.mjs.
 */
import { build } from 'esbuild';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ENTRIES: Record<string, string> = {
  webhook: 'functions/webhook/index.ts',
  transform: 'functions/transform/index.ts',
  publish: 'functions/publish/index.ts',
  setup: 'shared/setup-buckets.ts',
};

export const BANNER = "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);";

export async function bundle(name: string, outdir = 'dist'): Promise<{ file: string; bytes: number }> {
  const file = `${outdir}/${name}/index.mjs`;
  await build({
    entryPoints: [fileURLToPath(new URL(`../${ENTRIES[name]}`, import.meta.url))],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    banner: { js: BANNER },
    logLevel: 'warning',
  });
  return { file, bytes: statSync(file).size };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const name of Object.keys(ENTRIES)) {
    const { file, bytes } = await bundle(name);
    process.stdout.write(`${file}  ${(bytes / 1024).toFixed(0)} KiB\n`);
  }
}
