/**
 * The one bundler of the project: `npm start`, the bench, the tests and the image's build stage
 * all bundle with this file (same esbuild call, same flags).
 *   npm run build                                       every function into dist/<name>/, the set-up Job into dist/setup.cjs
 *   tsx dev/build.ts --function <index.ts> --outdir <d>  one function (the image's build stage)
 *   tsx dev/build.ts --entry <file.ts> --out <file>      one plain entry (the set-up Job)
 *
 * A function is two files: `function.cjs`, the bundle, and `index.cjs`, its process entry, which
 * runs the bundle through V8's code cache (`function.cache`, written in the image by
 * `CODE_CACHE=write node index.cjs`; see shared/runtime/code-cache.ts). CommonJS, because a
 * code cache applies to a script, not to an ES module.
 */
import { build, stop, type Metafile, type Plugin } from 'esbuild';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CJS_WRAPPER_HEAD, CJS_WRAPPER_TAIL } from '../shared/runtime/code-cache.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export const ENTRIES: Record<string, string> = {
  webhook: 'functions/webhook/index.ts',
  transform: 'functions/transform/index.ts',
  publish: 'functions/publish/index.ts',
};
export const SETUP_ENTRY = 'functions/setup/index.ts';
const START_ENTRY = 'shared/runtime/start.ts';

/**
 * What minio imports that a function's cold start need not pay for (dev/bundle-shims/): lodash
 * cherry-picked; mime-types, https, xml2js, block-stream2, async and query-string loaded on first
 * use. Only imports made by minio's own files are redirected; test/bundle-shims.test.ts checks
 * that the shims cover what minio uses.
 */
export const MINIO_SHIMS: Record<string, string> = {
  lodash: 'dev/bundle-shims/lodash-for-minio.cjs',
  'mime-types': 'dev/bundle-shims/mime-types-for-minio.cjs',
  https: 'dev/bundle-shims/https-for-minio.cjs',
  // Libraries minio loads as it loads but uses only in calls no cold start makes (~1.4 MB of
  // objects at every start together): kept in the bundle, evaluated on first use.
  xml2js: 'dev/bundle-shims/xml2js-for-minio.cjs',
  'block-stream2': 'dev/bundle-shims/block-stream2-for-minio.cjs',
  async: 'dev/bundle-shims/async-for-minio.cjs',
  'query-string': 'dev/bundle-shims/query-string-for-minio.cjs',
};
const MINIO_SHIM_FILTER = new RegExp(`^(${Object.keys(MINIO_SHIMS).join('|')})$`);
const minioShims: Plugin = {
  name: 'minio-shims',
  setup(b) {
    b.onResolve({ filter: MINIO_SHIM_FILTER }, (args) => (/[\\/]node_modules[\\/]minio[\\/]/.test(args.importer) ? { path: resolve(ROOT, MINIO_SHIMS[args.path]) } : undefined));
  },
};

/**
 * esbuild answers from a service process that otherwise lives as long as ours (the local stack's
 * whole life, ~90 MB after a bundle): it is stopped once no bundle is being made, and started
 * again by the next one.
 */
let bundling = 0;
async function withEsbuild<T>(run: () => Promise<T>): Promise<T> {
  bundling++;
  try {
    return await run();
  } finally {
    if (--bundling === 0) await stop();
  }
}

/**
 * Libraries a function loads only on first use, after it is ready (or only when configured),
 * bundled beside it rather than into it: the function's bundle, which every start reads and
 * deserialises with its code cache, stays as small as without them. `import('<name>')` from the
 * project's code (or `require('<name>')` from a bundle shim) becomes `require('./<file>')` next to
 * the bundle; tsx and tests load the package.
 */
export const SIDE_BUNDLES: Record<string, string> = {
  // The Eventstream sink's client (@azure/event-hubs, rhea, core-amqp: ~280 KiB of publish's bundle).
  '@azure/event-hubs': 'event-hubs.cjs',
  // The HTTP client of the chain's calls and the sinks (~525 KiB: 40 % of every bundle), first used by a request.
  undici: 'undici.cjs',
  // minio's mime lookup (mime-types and mime-db, ~140 KiB), used only by fPutObject (dev/bundle-shims/).
  'mime-types': 'mime-types.cjs',
};
const SIDE_FILTER = new RegExp(`^(${Object.keys(SIDE_BUNDLES).map((k) => k.replace(/[/\\-]/g, '\\$&')).join('|')})$`);
const sideBundles: Plugin = {
  name: 'side-bundles',
  setup(b) {
    b.onResolve({ filter: SIDE_FILTER }, (args) => {
      const fromProject = args.kind === 'dynamic-import' && !/[\\/]node_modules[\\/]/.test(args.importer);
      const fromShim = args.kind === 'require-call' && /[\\/]dev[\\/]bundle-shims[\\/]/.test(args.importer);
      return fromProject || fromShim ? { path: `./${SIDE_BUNDLES[args.path]}`, external: true } : undefined;
    });
  },
};

/**
 * Bundle one entry file into one CommonJS file (ESM only for the bench's own worker).
 * `forCodeCache` (a function's bundle, see bundleFunction): the SIDE_BUNDLES libraries are left
 * out, to be built beside it, and the file is the exact script V8 compiles with the code cache:
 * ASCII only (read as latin1, V8's cheapest string) and already inside its CommonJS wrapper (no
 * 1 MB string to join at each start).
 */
export async function bundleEntry(entry: string, outfile: string, format: 'cjs' | 'esm' = 'cjs', forCodeCache = false): Promise<{ file: string; bytes: number; metafile: Metafile }> {
  const result = await withEsbuild(() => build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format,
    target: 'node20',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    charset: 'ascii',
    ...(format === 'esm' ? { banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } } : {}),
    ...(forCodeCache ? { banner: { js: CJS_WRAPPER_HEAD }, footer: { js: CJS_WRAPPER_TAIL } } : {}),
    logLevel: 'warning',
    metafile: true,
    plugins: [minioShims, ...(forCodeCache ? [sideBundles] : [])],
    // A CommonJS bundle runs through vm.Script (the code cache), where import() has no loader: an
    // external import() becomes require() (bundled ones are inlined either way).
    ...(format === 'cjs' ? { supported: { 'dynamic-import': false } } : {}),
  }));
  if (forCodeCache && /[^\x00-\x7f]/.test(readFileSync(outfile, 'latin1'))) throw new Error(`${outfile}: not ASCII (the code cache reads it as latin1)`);
  return { file: outfile, bytes: statSync(outfile).size, metafile: result.metafile };
}

/** The side bundles a function's bundle asks for (its external `./<file>` imports), built beside it. */
async function bundleSides(metafile: Metafile, outdir: string): Promise<void> {
  const wanted = new Set(Object.values(metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)));
  for (const [pkg, file] of Object.entries(SIDE_BUNDLES)) {
    if (!wanted.has(`./${file}`)) continue;
    await build({ stdin: { contents: `module.exports = require(${JSON.stringify(pkg)});`, resolveDir: ROOT, loader: 'js' }, outfile: join(outdir, file), bundle: true, platform: 'node', format: 'cjs', target: 'node20', minify: true, legalComments: 'none', logLevel: 'warning' });
  }
}

/** Bundle a function's entry into `<outdir>/function.cjs`, with its process entry `<outdir>/index.cjs`. */
export async function bundleFunction(entry: string, outdir: string): Promise<{ file: string; bundle: string; bytes: number; metafile: Metafile }> {
  // A code cache from an earlier bundle would only be rejected: the image writes a fresh one.
  rmSync(join(outdir, 'function.cache'), { force: true });
  // One esbuild service for the bundle, its side bundles and its entry, stopped once at the end.
  return withEsbuild(async () => {
    const fn = await bundleEntry(entry, join(outdir, 'function.cjs'), 'cjs', true);
    await bundleSides(fn.metafile, outdir);
    const start = await bundleEntry(resolve(ROOT, START_ENTRY), join(outdir, 'index.cjs'));
    return { file: start.file, bundle: fn.file, bytes: fn.bytes, metafile: fn.metafile };
  });
}

/** Bundle a function by name into `<outdir>/<name>/` (run it with `node <outdir>/<name>/index.cjs`). */
export function bundle(name: string, outdir = 'dist') {
  return bundleFunction(resolve(ROOT, ENTRIES[name]), join(outdir, name));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { function: { type: 'string' }, outdir: { type: 'string' }, entry: { type: 'string' }, out: { type: 'string' } } });
  if (values.function) {
    const { file, bytes } = await bundleFunction(resolve(values.function), resolve(values.outdir ?? 'dist'));
    process.stdout.write(`${file}  (bundle ${(bytes / 1024).toFixed(0)} KiB)\n`);
  } else if (values.entry) {
    const { file, bytes } = await bundleEntry(resolve(values.entry), resolve(values.out ?? 'dist/index.cjs'));
    process.stdout.write(`${file}  ${(bytes / 1024).toFixed(0)} KiB\n`);
  } else {
    for (const name of Object.keys(ENTRIES)) {
      const { file, bytes } = await bundle(name);
      process.stdout.write(`${file}  (bundle ${(bytes / 1024).toFixed(0)} KiB)\n`);
    }
    const { file, bytes } = await bundleEntry(resolve(ROOT, SETUP_ENTRY), resolve(ROOT, 'dist/setup.cjs'));
    process.stdout.write(`${file}  ${(bytes / 1024).toFixed(0)} KiB\n`);
  }
}
