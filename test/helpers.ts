/** Shared helpers for end-to-end tests: a local stack on free ports in a temp dir. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { request } from 'undici';
import { createStorage, getJson, type Storage } from '../shared/storage/s3.js';
import { startLocalStack, type LocalStack, type StackOptions } from '../dev/stack.js';
import { canLimitPods, type PodResource } from '../dev/pod-resources.js';
import { Lifecycle, versionId } from '../shared/lifecycle/index.js';

/** The lifecycle of the output bucket, as a test reads it (reads only: the settings do not matter). */
export const lifecycleOf = (s3: Storage, bucket = 'processed') => new Lifecycle(s3, bucket, { claimMs: 30_000, maxAttempts: 20 });

/** Claim an object version as transform would before it sends the dataset to publish; the run id for X-Run-Id. */
export async function claimAsTransform(s3: Storage, source: { bucket: string; key: string; etag?: string }): Promise<string> {
  const runId = Lifecycle.runId();
  const taken = await lifecycleOf(s3).claims.take(versionId(source), { kind: 'object', ...source }, runId);
  if (taken.kind !== 'claimed') throw new Error(`${source.key}: not claimed (${taken.kind})`);
  return runId;
}

export interface TestStack {
  stack: LocalStack;
  s3: Storage;
  logs: string[];
  dir: string;
  stop(): Promise<void>;
}

/**
 * Each function process in its pod's memory limit when this machine allows it (root and cgroups,
 * as in CI): Node then sizes V8's heap as it does in the pod, so the tests collect garbage as the
 * deployed functions do. `pods: []` runs them unconstrained.
 */
let podMemory: PodResource[] | undefined;
const podsByDefault = () => (podMemory ??= canLimitPods(['memory']) ? ['memory'] : []);

export async function startTestStack(env: Record<string, string> = {}, options: Pick<StackOptions, 'launcher' | 'pods'> = {}): Promise<TestStack> {
  const dir = mkdtempSync(join(tmpdir(), 'mini-pipeline-test-'));
  const logs: string[] = [];
  const stack = await startLocalStack({
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dir, WEBHOOK_TOKEN: 'test-webhook-token-123', LOG_LEVEL: 'info', ...env },
    gatewayPort: 0,
    s3Port: 0,
    emulatorPort: 0,
    bridgeRetryMs: 200,
    onLog: (fn, line) => logs.push(`${fn} ${line}`),
    pods: podsByDefault(),
    ...options,
  });
  const s3 = createStorage(stack.config.storage);
  return {
    stack,
    s3,
    logs,
    dir,
    async stop() {
      await stack.stop();
      if (process.env.E2E_LOG) writeFileSync(process.env.E2E_LOG, logs.join('\n'));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Waits for a log line: a function writes its lines to a pipe that the stack reads on its own
 * time, so a line logged before an output appears may still be on its way when the test sees it.
 */
export function waitForLog(t: TestStack, what: string, match: (line: string) => boolean, timeoutMs = 30_000): Promise<string> {
  return waitFor(`a log line: ${what}`, async () => t.logs.find(match), timeoutMs, 20);
}

export async function readObject(s3: Storage, bucket: string, key: string): Promise<Buffer> {
  const stream = await s3.getObject(bucket, key);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function objectExists(s3: Storage, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.statObject(bucket, key);
    return true;
  } catch {
    return false;
  }
}

export function waitForJson<T>(s3: Storage, bucket: string, key: string, timeoutMs = 30_000): Promise<T> {
  return waitFor(`${bucket}/${key}`, () => getJson<T>(s3, bucket, key), timeoutMs);
}

export async function emulatorRows(t: TestStack): Promise<{ total: number; columns: { name: string; type: string }[]; rows: Record<string, unknown>[] }> {
  const res = await request(`${t.stack.emulator!.url}/_emulator/datasets/${t.stack.emulatorDatasetId}/rows`);
  return (await res.body.json()) as { total: number; columns: { name: string; type: string }[]; rows: Record<string, unknown>[] };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json: json as Record<string, unknown> };
}

/** Inside a describe(): a local stack started before its tests and stopped after them. */
export function useTestStack(env: Record<string, string> = {}, options: Pick<StackOptions, 'launcher' | 'pods'> = {}): () => TestStack {
  let t: TestStack | undefined;
  before(async () => {
    t = await startTestStack(env, options);
  });
  after(async () => {
    await t?.stop();
  });
  return () => {
    if (!t) throw new Error('the test stack did not start');
    return t;
  };
}
