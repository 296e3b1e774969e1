import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from './config.js';

const errorOf = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err;
  }
  assert.fail('expected a configuration error');
};

test('every bad variable is named, never its value', () => {
  const err = errorOf({ S3_PORT: 'x', POWERBI_PUSH_URL: 'not a url ?key=SECRETKEY123', INPUT_BUCKET: 'Bad_Bucket', POWERBI_COLUMN_MAP: '[1]' });
  assert.deepEqual(err.variables.sort(), ['INPUT_BUCKET', 'POWERBI_COLUMN_MAP', 'POWERBI_PUSH_URL', 'S3_PORT']);
  assert.doesNotMatch(err.message, /SECRETKEY123/);
});

test('the REST route needs all its credentials (missing tenant named)', () => {
  const err = errorOf({ POWERBI_CLIENT_ID: 'c', POWERBI_CLIENT_SECRET: 's3cr3t-value', POWERBI_GROUP_ID: 'g', POWERBI_DATASET_ID: 'd' });
  assert.deepEqual(err.variables, ['POWERBI_TENANT_ID']);
  assert.doesNotMatch(err.message, /s3cr3t-value/);
  const noDataset = errorOf({ POWERBI_TENANT_ID: 't', POWERBI_CLIENT_ID: 'c', POWERBI_CLIENT_SECRET: 's', POWERBI_GROUP_ID: 'g' });
  assert.deepEqual(noDataset.variables, ['POWERBI_DATASET_ID']);
  assert.equal(loadConfig({ POWERBI_TENANT_ID: 't', POWERBI_CLIENT_ID: 'c', POWERBI_CLIENT_SECRET: 's', POWERBI_GROUP_ID: 'g', POWERBI_CREATE_DATASET: 'true' }).POWERBI_CREATE_DATASET, true);
});

test('secrets come from *_FILE or the OpenFaaS secrets directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
  writeFileSync(join(dir, 'webhook-token'), 'from-secret-dir\n');
  writeFileSync(join(dir, 'pbi'), 'https://api.powerbi.com/beta/t/datasets/d/rows?key=abc\n');
  const c = loadConfig({ SECRETS_DIR: dir, POWERBI_PUSH_URL_FILE: join(dir, 'pbi') });
  assert.equal(c.WEBHOOK_TOKEN, 'from-secret-dir');
  assert.equal(c.POWERBI_PUSH_URL, 'https://api.powerbi.com/beta/t/datasets/d/rows?key=abc');
  const missing = errorOf({ SECRETS_DIR: dir, WEBHOOK_TOKEN_FILE: join(dir, 'nope') });
  assert.deepEqual(missing.variables, ['WEBHOOK_TOKEN_FILE']);
});

test('a function refuses to start with a bad configuration: exit 1, variables on stderr', async () => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'functions/webhook/index.ts'], { env: { PATH: process.env.PATH, S3_PORT: 'nope', SECRETS_DIR: '/nonexistent' }, encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /S3_PORT/);
  const noToken = spawnSync(process.execPath, ['--import', 'tsx', 'functions/webhook/index.ts'], { env: { PATH: process.env.PATH, SECRETS_DIR: '/nonexistent' }, encoding: 'utf8' });
  assert.equal(noToken.status, 1);
  assert.match(noToken.stderr, /WEBHOOK_TOKEN/);
});
