/**
 * The images that ship, built and run by the tests: the base image made locally from Debian,
 * each function built from template/node20-ts/Dockerfile in a context laid out as faas-cli lays
 * it out, then run as Knative runs it (read-only root, tmpfs /tmp, uid 10001, node directly, no
 * watchdog), with the seed file sent through the three containers from end to end.
 * Needs a Docker engine (.ci/run installs and starts one).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { allComponents, variablesOf } from '../dev/config-catalogue.js';
import { buildImage, dockerAvailable, ensureBaseImage, imageOf, runContainer } from '../dev/images.js';
import { emulatorRows, useTestStack, waitForJson, waitForLog } from './helpers.js';
import { examplePath, repoRoot } from './kit.js';
import { podLimits } from '../dev/pod-resources.js';

const FUNCTIONS = ['webhook', 'transform', 'publish'] as const;
const configVars = new Set(variablesOf(allComponents()).keys());

describe('function images', () => {
  const sizes: Record<string, number> = {};
  before(() => {
    assert.ok(dockerAvailable(), 'a Docker engine must be running (see .ci/run: dockerd --iptables=false --ip-masq=false --bridge=none)');
    ensureBaseImage();
    for (const fn of FUNCTIONS) sizes[fn] = buildImage(fn).bytes;
  });

  test('each image carries only the bundle, runs as uid 10001 and starts node directly', () => {
    for (const fn of FUNCTIONS) {
      const config = JSON.parse(execFileSync('docker', ['image', 'inspect', '--format', '{{json .Config}}', imageOf(fn)], { encoding: 'utf8' })) as { User: string; Cmd: string[]; WorkingDir: string; Env: string[] };
      assert.equal(config.User, '10001:10001');
      assert.deepEqual(config.Cmd, ['node', 'index.cjs']);
      assert.ok(config.Env.includes('PORT=8080'), 'PORT=8080 as on Knative');
      const files = execFileSync('docker', ['run', '--rm', '--network', 'none', '--entrypoint', 'ls', imageOf(fn), '-A', '/home/app'], { encoding: 'utf8' }).trim().split('\n').sort();
      // The side bundles, loaded on first use (dev/build.ts SIDE_BUNDLES): undici and minio's mime-types
      // beside every function, and publish's Eventstream client.
      const expected = ['function.cache', 'function.cjs', 'index.cjs', 'setup.cjs', 'undici.cjs', 'mime-types.cjs', ...(fn === 'publish' ? ['event-hubs.cjs'] : [])].sort();
      assert.deepEqual(files, expected, `${fn}: no sources, no node_modules`);
      assert.ok(sizes[fn] > 0);
    }
  });

  test("each container gets its pod's memory limit, and Node sizes V8's heap from it as in the pod", async () => {
    const probe = 'const v8 = require("v8"); console.log(JSON.stringify({ limit: process.constrainedMemory(), heap: v8.getHeapStatistics().heap_size_limit, semi: v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size }))';
    for (const fn of FUNCTIONS) {
      const child = runContainer(fn, {}, { command: ['node', '-e', probe] });
      let out = '';
      child.stdout!.on('data', (b: Buffer) => (out += b));
      const code = await new Promise<number | null>((done) => child.on('close', done));
      assert.equal(code, 0, `${fn}: ${out}`);
      const seen = JSON.parse(out) as { limit: number; heap: number; semi: number };
      assert.equal(seen.limit, podLimits(repoRoot, fn).memoryBytes, `${fn}: the container's memory limit is the manifest's`);
      // Unlimited on this machine V8 takes a ~4 GB heap and 16 MiB semi-spaces; in the pod, about the limit and 1 MiB.
      assert.ok(seen.heap <= 2 * seen.limit && seen.semi <= 2 * 1048576, `${fn}: V8 sized from the limit: ${out}`);
    }
  });

  describe('the seed file through the three containers', () => {
    // The local stack, with each function in its container instead of a node process.
    const stack = useTestStack({}, {
      launcher: (name, env) => runContainer(name, Object.fromEntries(Object.entries(env).filter(([k]) => configVars.has(k)))),
    });

    test('each container started from the code cache made in its image (same Node, same V8 flags)', async () => {
      const t = stack();
      for (const fn of FUNCTIONS) {
        const ready = await waitForLog(t, `${fn} logged ready`, (l) => l.startsWith(fn) && l.includes('"msg":"ready"'));
        assert.match(ready, /"codeCache":"used"/, `${fn}: ${ready}`);
      }
    });

    test('10,000 rows reach the output bucket and the Power BI emulator', async () => {
      const t = stack();
      const seed = readFileSync(examplePath('mock_10000_linhas.csv'));
      await t.s3.putObject('incoming', 'containers/seed.csv', seed, seed.length);
      const manifest = await waitForJson<{ stats: { rowsOut: number }; sinks: Record<string, { rowsSent: number }> }>(t.s3, 'processed', 'manifests/containers/seed.csv.json', 120_000);
      assert.equal(manifest.stats.rowsOut, 10_000);
      assert.equal(manifest.sinks['powerbi-push'].rowsSent, 10_000);
      assert.equal((await emulatorRows(t)).total, 10_000);
    });
  });
});
