/**
 * A function scaffolded from the template (`faas-cli new myfn --lang node20-ts --handler
 * functions/myfn --append stack.yml`) builds into an image with Docker from the context faas-cli
 * lays out, and the container, run as Knative runs it (read-only root, uid 10001, node directly),
 * answers its health, readiness and a request. Its own image tag: no other test's image is touched.
 * Needs a Docker engine (.ci/run installs and starts one).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { BASE_IMAGE, dockerAvailable, ensureBaseImage } from '../dev/images.js';
import { copyRepository, createBuildContext, faasCliNewAppend } from './scaffold-kit.js';

const TAG = 'mini-pipeline-scaffold-myfn:test';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('a scaffolded function as an image', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mini-pipeline-scaffold-image-'));
  const name = `mini-pipeline-scaffold-${process.pid}`;
  before(() => {
    assert.ok(dockerAvailable(), 'a Docker engine must be running (see .ci/run: dockerd --iptables=false --ip-masq=false --bridge=none)');
    ensureBaseImage();
  });
  after(() => {
    execFileSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
    execFileSync('docker', ['rmi', '-f', TAG], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });

  test('builds from its faas-cli context and answers as Knative runs it', async () => {
    const project = join(dir, 'project');
    mkdirSync(project);
    copyRepository(project);
    faasCliNewAppend(project, 'myfn', 'functions/myfn');
    const ctx = createBuildContext(project, 'myfn');
    execFileSync('docker', ['build', '--network', 'host', '--target', 'knative', '--build-arg', `NODE_IMAGE=${BASE_IMAGE}`, '-t', TAG, ctx], { stdio: ['ignore', 'ignore', 'inherit'] });
    const port = await freePort();
    const child = spawn('docker', ['run', '--rm', '--name', name, '--network', 'host', '--read-only', '--tmpfs', '/tmp:rw,mode=1777', '--user', '10001:10001', '-e', `PORT=${port}`, '-e', 'DRAIN_SECONDS=0', TAG], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const ready = new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (c) => {
        out += c;
        const line = out.split('\n').find((l) => l.includes('"msg":"ready"'));
        if (line) resolve(line);
      });
      child.once('exit', (code) => reject(new Error(`the container exited ${code}:\n${out}`)));
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    assert.match(await ready, /"codeCache":"used"/, 'started from the code cache made in the image');
    const base = `http://127.0.0.1:${port}`;
    for (const path of ['/_/health', '/_/ready']) {
      const res = await request(base + path);
      assert.equal(res.statusCode, 200, path);
      await res.body.dump();
    }
    const res = await request(`${base}/orders`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await res.body.json(), { method: 'POST', path: '/orders' });
    execFileSync('docker', ['stop', name], { stdio: 'ignore' });
    assert.equal(await exited, 0, 'stops cleanly on SIGTERM');
  });
});
