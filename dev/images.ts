/**
 * The function images, built and run here as the platforms build and run them, with nothing
 * pulled from a registry:
 * - a Node base image made locally from Debian (debootstrap) with this machine's Node 20, npm
 *   and CA bundle (`npm ci` in the build stage reaches the registry through the same proxy);
 * - each function's build context laid out exactly as `faas-cli build` lays it out
 *   (reference/openfaas-knative.md §1.3): the template folder, the handler folder as `function/`,
 *   and every `configuration.copy` path of stack.yml copied into `function/<path>`;
 * - `docker build --network host --target knative` of template/node20-ts/Dockerfile (the
 *   `openfaas` target differs only by the watchdog layer, whose image cannot be pulled here);
 * - containers run as Knative runs them: read-only root, tmpfs /tmp, uid 10001, node directly.
 *   tsx dev/images.ts [fn…]   builds the base image (once) and the named images (default: all)
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { podLimits } from './pod-resources.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
// v2: no NODE_EXTRA_CA_CERTS in the image (the CA bundle is npm's cafile only): like the official
// node image. Node reads and parses a whole CA bundle at every start with it, ~90 ms here.
export const BASE_IMAGE = 'mini-pipeline/node:20-debian-local-v2';
export const imageOf = (fn: string) => `mini-pipeline-${fn}:local`;
const DEBIAN_MIRROR = process.env.DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

function docker(args: string[], opts: { quiet?: boolean } = {}): string {
  return execFileSync('docker', args, { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['pipe', 'pipe', opts.quiet ? 'pipe' : 'inherit'], env: { ...process.env, DOCKER_BUILDKIT: '0' } });
}

export function dockerAvailable(): boolean {
  return spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' }).status === 0;
}

function imageExists(tag: string): boolean {
  return spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0;
}

/** The Node base image: Debian minbase, this machine's node and npm, its CA bundle. Made once. */
export function ensureBaseImage(log: (line: string) => void = () => {}): string {
  if (imageExists(BASE_IMAGE)) return BASE_IMAGE;
  const rootfs = mkdtempSync(join(tmpdir(), 'mini-pipeline-rootfs-'));
  try {
    log(`debootstrap bookworm (minbase) from ${DEBIAN_MIRROR}`);
    execFileSync('debootstrap', ['--variant=minbase', 'bookworm', rootfs, DEBIAN_MIRROR], { stdio: ['ignore', 'ignore', 'inherit'] });
    for (const dir of ['usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale', 'var/cache/apt', 'var/lib/apt/lists']) {
      rmSync(join(rootfs, dir), { recursive: true, force: true });
      mkdirSync(join(rootfs, dir), { recursive: true });
    }
    // This machine's Node 20 and npm.
    cpSync(process.execPath, join(rootfs, 'usr/local/bin/node'));
    const npmRoot = join(execFileSync('npm', ['root', '-g'], { encoding: 'utf8' }).trim(), 'npm');
    cpSync(npmRoot, join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true });
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/local/bin/npx'));
    // This machine's CA bundle, for npm in the build stage (its cafile; not NODE_EXTRA_CA_CERTS).
    if (existsSync(CA_BUNDLE)) {
      mkdirSync(join(rootfs, 'etc/ssl/certs'), { recursive: true });
      cpSync(CA_BUNDLE, join(rootfs, CA_BUNDLE.slice(1)));
      mkdirSync(join(rootfs, 'usr/local/etc'), { recursive: true });
      writeFileSync(join(rootfs, 'usr/local/etc/npmrc'), `cafile=${CA_BUNDLE}\nupdate-notifier=false\nfund=false\naudit=false\n`);
    }
    log(`docker import ${BASE_IMAGE}`);
    execFileSync('sh', ['-c', 'tar -C "$1" -c . | docker import --change "ENV PATH=/usr/local/bin:/usr/bin:/bin" - "$2"', 'sh', rootfs, BASE_IMAGE], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    return BASE_IMAGE;
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

/** The paths stack.yml copies into every build context (`configuration.copy`). */
export function copyPaths(): string[] {
  const stack = parse(readFileSync(join(ROOT, 'stack.yml'), 'utf8')) as { configuration?: { copy?: string[] } };
  return stack.configuration?.copy ?? [];
}

/**
 * A build context laid out as faas-cli's createBuildContext does: build/<fn>/ holds the template,
 * build/<fn>/function/ the handler folder (without sub-folders named build or template), and
 * each configuration.copy path is copied into build/<fn>/function/<path>.
 */
export function layoutContext(fn: string, buildDir = join(ROOT, 'build')): string {
  const ctx = join(buildDir, fn);
  rmSync(ctx, { recursive: true, force: true });
  cpSync(join(ROOT, 'template/node20-ts'), ctx, { recursive: true });
  const handler = join(ROOT, 'functions', fn);
  const fnDir = join(ctx, 'function');
  rmSync(fnDir, { recursive: true, force: true });
  mkdirSync(fnDir, { recursive: true });
  for (const entry of readdirSync(handler, { withFileTypes: true })) {
    if (entry.isDirectory() && (entry.name === 'build' || entry.name === 'template')) continue;
    cpSync(join(handler, entry.name), join(fnDir, entry.name), { recursive: true });
  }
  for (const path of copyPaths()) {
    mkdirSync(dirname(join(fnDir, path)), { recursive: true });
    cpSync(join(ROOT, path), join(fnDir, path), { recursive: true });
  }
  return ctx;
}

/** Build one function's image from its faas-cli-shaped context; returns its tag and size. */
export function buildImage(fn: string, target: 'knative' | 'openfaas' = 'knative'): { tag: string; bytes: number } {
  const tag = imageOf(fn);
  const ctx = layoutContext(fn);
  docker(['build', '--network', 'host', '--target', target, '--build-arg', `NODE_IMAGE=${BASE_IMAGE}`, '-t', tag, ctx], { quiet: true });
  return { tag, bytes: Number(docker(['image', 'inspect', '--format', '{{.Size}}', tag], { quiet: true }).trim()) };
}

/**
 * Run a function's image as Knative runs it: read-only, a non-root user, and the CPU and memory
 * limits of its manifest (Node sizes V8's heap from the memory limit, as in the pod); the
 * caller's environment is passed as -e flags.
 */
export function runContainer(fn: string, env: Record<string, string>, opts: { name?: string; command?: string[] } = {}): ChildProcess {
  const flags = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  const name = opts.name ?? `mini-pipeline-${fn}-${process.pid}-${Date.now()}`;
  const limits = podLimits(ROOT, fn);
  const pod = ['--cpus', String(limits.cpu), '--memory', String(limits.memoryBytes)];
  return spawn('docker', ['run', '--rm', '--name', name, '--network', 'host', '--read-only', '--tmpfs', '/tmp:rw,mode=1777', '--user', '10001:10001', ...pod, ...flags, imageOf(fn), ...(opts.command ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fns = process.argv.slice(2).length ? process.argv.slice(2) : ['webhook', 'transform', 'publish'];
  ensureBaseImage((l) => process.stdout.write(l + '\n'));
  for (const fn of fns) {
    const { tag, bytes } = buildImage(fn);
    process.stdout.write(`${tag}  ${(bytes / 1024 / 1024).toFixed(0)} MiB\n`);
  }
}
