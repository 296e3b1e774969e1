/**
 * A function scaffolded from the template builds and answers. In a copy of the repository, this
 * does what `faas-cli new myfn --lang node20-ts --handler functions/myfn --append stack.yml` does
 * (faas-cli commands/new_function.go: a 0700 folder, the template's function/ files copied in,
 * the function's YAML appended as text to the stack file, .gitignore updated), lays out the build
 * context as `faas-cli build --shrinkwrap` does (go-sdk builder.CreateBuildContext), and runs the
 * build stage of template/node20-ts/Dockerfile as written (its WORKDIR, COPY and RUN lines; only
 * `npm ci` is replaced by the installed node_modules, since no registry is reachable in tests).
 * Then it starts the bundle as the image does (`node index.cjs`) and calls it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { parse } from 'yaml';
import { repoRoot } from './kit.js';
import { copyRepository, createBuildContext, faasCliNewAppend, LANG, type Stack } from './scaffold-kit.js';

/** The Dockerfile's instructions of one stage, continuation lines joined, comments dropped. */
function stageOf(dockerfile: string, stage: string): { op: string; args: string }[] {
  const joined = dockerfile.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const start = joined.findIndex((l) => new RegExp(`^FROM .* AS ${stage}$`, 'i').test(l));
  assert.ok(start >= 0, `the Dockerfile has a ${stage} stage`);
  const out: { op: string; args: string }[] = [];
  for (const line of joined.slice(start + 1)) {
    if (/^FROM /i.test(line)) break;
    const [, op, args] = /^(\w+)\s+(.*)$/.exec(line)!;
    out.push({ op: op.toUpperCase(), args });
  }
  return out;
}

/**
 * Runs the build stage on this machine: `/home/app` is mapped to `home`, COPY reads from the
 * context, RUN runs in sh. Returns the files the stage wrote to /home/app/dist.
 */
function runBuildStage(ctx: string, home: string): string {
  const path = (p: string) => p.replaceAll('/home/app', home);
  let workdir = home;
  const steps = stageOf(readFileSync(join(ctx, 'Dockerfile'), 'utf8'), 'build');
  assert.ok(steps.some((s) => s.op === 'RUN' && /npm ci/.test(s.args)), 'the stage installs with npm ci');
  for (const { op, args } of steps) {
    if (op === 'WORKDIR') {
      workdir = path(args);
      mkdirSync(workdir, { recursive: true });
    } else if (op === 'COPY') {
      const parts = args.split(/\s+/).filter((a) => !a.startsWith('--'));
      const dest = join(workdir, parts.pop()!);
      for (const src of parts) {
        const from = join(ctx, src);
        assert.ok(existsSync(from), `COPY ${src}: the build context has no ${src} (stack.yml's configuration.copy)`);
        const to = dest.endsWith('/') || parts.length > 1 ? join(dest, basename(src)) : dest;
        mkdirSync(dirname(to), { recursive: true });
        cpSync(from, to, { recursive: true });
      }
    } else if (op === 'RUN' && /^npm ci\b/.test(args)) {
      symlinkSync(join(repoRoot, 'node_modules'), join(workdir, 'node_modules'), 'dir');
    } else if (op === 'RUN') {
      const run = spawnSync('sh', ['-ec', path(args)], { cwd: workdir, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: home } });
      assert.equal(run.status, 0, `RUN ${args}\n${run.stdout}\n${run.stderr}`);
    } else {
      assert.fail(`the build stage has an instruction this test does not run: ${op} ${args}`);
    }
  }
  return join(home, 'dist');
}

describe('a function scaffolded from the template', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mini-pipeline-scaffold-'));
  const project = join(dir, 'project');
  let dist = '';
  let child: ChildProcess | undefined;
  before(() => {
    mkdirSync(project);
    copyRepository(project);
  });
  after(() => {
    child?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });

  test('faas-cli new … --append stack.yml adds it beside the others, with the stack copy paths', () => {
    faasCliNewAppend(project, 'myfn', 'functions/myfn');
    const stack = parse(readFileSync(join(project, 'stack.yml'), 'utf8')) as Stack;
    assert.deepEqual(Object.keys(stack.functions), ['webhook', 'transform', 'publish', 'myfn'], 'appended under functions: (stack.yml ends with its functions)');
    assert.deepEqual(stack.functions.myfn, { lang: LANG, handler: './functions/myfn', image: 'myfn:latest' });
    assert.ok(stack.configuration?.copy?.includes('package.json'), 'the build will get package.json, shared/ and the bundler');
    assert.deepEqual(readdirSync(join(project, 'functions/myfn')).sort(), ['handler.ts', 'index.ts']);
    assert.equal(statSync(join(project, 'functions/myfn')).mode & 0o777, 0o700);
  });

  test('its build context passes the Dockerfile build stage: type-checked and bundled as the image does', () => {
    const ctx = createBuildContext(project, 'myfn');
    assert.ok(existsSync(join(ctx, 'function/package.json')) && existsSync(join(ctx, 'function/shared')));
    dist = runBuildStage(ctx, join(dir, 'home-app'));
    for (const file of ['index.cjs', 'function.cjs', 'setup.cjs']) assert.ok(statSync(join(dist, file)).size > 0, `${file} in /home/app/dist`);
  });

  test('started as the image starts it (node index.cjs), it answers its health, readiness and a request', async () => {
    assert.ok(dist, 'built by the test before');
    child = spawn(process.execPath, ['index.cjs'], { cwd: dist, env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', DRAIN_SECONDS: '0', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stderr!.on('data', (c) => (out += c));
    const port = await new Promise<number>((resolve, reject) => {
      child!.stdout!.on('data', (c) => {
        out += c;
        const m = /"msg":"listening","port":(\d+)/.exec(out) ?? /"msg":"listening".*?"port":(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child!.once('exit', (code) => reject(new Error(`exited ${code} before listening:\n${out}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    for (const path of ['/_/health', '/_/ready']) {
      const res = await request(base + path);
      assert.equal(res.statusCode, 200, `${path}: ${await res.body.text()}`);
      await res.body.dump();
    }
    const res = await request(`${base}/orders?x=1`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), { method: 'POST', path: '/orders' });
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, 'stops cleanly on SIGTERM');
    child = undefined;
  });
});
