import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { webhookConfig } from '../functions/webhook/config.js';
import { devConfig } from '../dev/config.js';
import { powerbiConfig } from '../shared/sinks/powerbi/config.js';
import { storageConfig } from '../shared/storage/config.js';
import { bool, component, ConfigError, configTable, httpUrl, int, jsonObjectOfStrings, list, listOf, loadConfig, num, oneOf, optionalString, text, token, variable, type Components, type Env } from '../shared/runtime/config.js';

const errorOf = (components: Components, env: Env) => {
  try {
    loadConfig(components, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err;
  }
  assert.fail('expected a configuration error');
};

test('every bad variable is named, never its value', () => {
  const err = errorOf({ dev: devConfig, storage: storageConfig, powerbi: powerbiConfig }, { S3_PORT: 'x', POWERBI_PUSH_URL: 'not a url ?key=SECRETKEY123', INPUT_BUCKET: 'Bad_Bucket', POWERBI_COLUMN_MAP: '[1]' });
  assert.deepEqual(err.variables.sort(), ['INPUT_BUCKET', 'POWERBI_COLUMN_MAP', 'POWERBI_PUSH_URL', 'S3_PORT']);
  assert.doesNotMatch(err.message, /SECRETKEY123/);
});

test('each component receives only its own variables', () => {
  const c = loadConfig({ storage: storageConfig, powerbi: powerbiConfig }, { INPUT_BUCKET: 'in-box', POWERBI_TABLE: 'T' });
  assert.equal(c.storage.INPUT_BUCKET, 'in-box');
  assert.equal(c.powerbi.POWERBI_TABLE, 'T');
  assert.ok(!('POWERBI_TABLE' in c.storage));
  assert.ok(!('INPUT_BUCKET' in c.powerbi));
});

test('the REST route needs all its credentials (missing tenant named)', () => {
  const pbi = { powerbi: powerbiConfig };
  const err = errorOf(pbi, { POWERBI_CLIENT_ID: 'c', POWERBI_CLIENT_SECRET: 's3cr3t-value', POWERBI_GROUP_ID: 'g', POWERBI_DATASET_ID: 'd' });
  assert.deepEqual(err.variables, ['POWERBI_TENANT_ID']);
  assert.doesNotMatch(err.message, /s3cr3t-value/);
  const noDataset = errorOf(pbi, { POWERBI_TENANT_ID: 't', POWERBI_CLIENT_ID: 'c', POWERBI_CLIENT_SECRET: 's', POWERBI_GROUP_ID: 'g' });
  assert.deepEqual(noDataset.variables, ['POWERBI_DATASET_ID']);
  assert.equal(loadConfig(pbi, { POWERBI_TENANT_ID: 't', POWERBI_CLIENT_ID: 'c', POWERBI_CLIENT_SECRET: 's', POWERBI_GROUP_ID: 'g', POWERBI_CREATE_DATASET: 'true' }).powerbi.POWERBI_CREATE_DATASET, true);
});

test('secrets come from *_FILE or the OpenFaaS secrets directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
  writeFileSync(join(dir, 'webhook-token'), 'from-the-secret-dir\n');
  writeFileSync(join(dir, 'pbi'), 'https://api.powerbi.com/beta/t/datasets/d/rows?key=abc\n');
  const c = loadConfig({ webhook: webhookConfig, powerbi: powerbiConfig }, { SECRETS_DIR: dir, POWERBI_PUSH_URL_FILE: join(dir, 'pbi') });
  assert.equal(c.webhook.WEBHOOK_TOKEN, 'from-the-secret-dir');
  assert.equal(c.powerbi.POWERBI_PUSH_URL, 'https://api.powerbi.com/beta/t/datasets/d/rows?key=abc');
  const missing = errorOf({ webhook: webhookConfig }, { SECRETS_DIR: dir, WEBHOOK_TOKEN_FILE: join(dir, 'nope') });
  assert.deepEqual(missing.variables, ['WEBHOOK_TOKEN_FILE']);
});

test('the docs table lists every variable once, with its default and secret file', () => {
  const demo = component({
    name: 'demo',
    vars: {
      DEMO_LIMIT: variable(num(5), 'A limit.'),
      DEMO_TOKEN: variable(optionalString, 'A token.', { secret: 'demo-token' }),
    },
  });
  const table = configTable({ demo, again: demo });
  assert.match(table, /\| `DEMO_LIMIT` \| `5` \| demo \| A limit\. \|/);
  assert.match(table, /`DEMO_TOKEN` \|  \| demo \| A token\. Secret: also `DEMO_TOKEN_FILE` or the secret file `demo-token`/);
  assert.equal(table.match(/DEMO_LIMIT/g)!.length, 1);
});

test('a function refuses to start with a bad configuration: exit 1, variables on stderr', async () => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'functions/webhook/index.ts'], { env: { PATH: process.env.PATH, S3_ENDPOINT: 'nope', PORT: 'x', SECRETS_DIR: '/nonexistent' }, encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /S3_ENDPOINT/);
  assert.match(r.stderr, /PORT/);
  const noToken = spawnSync(process.execPath, ['--import', 'tsx', 'functions/webhook/index.ts'], { env: { PATH: process.env.PATH, SECRETS_DIR: '/nonexistent' }, encoding: 'utf8' });
  assert.equal(noToken.status, 1);
  assert.match(noToken.stderr, /WEBHOOK_TOKEN/);
});

test('tokens shorter than 16 characters are refused at start, naming the variable; every secret is masked in logs', async () => {
  const short = errorOf({ webhook: webhookConfig }, { WEBHOOK_TOKEN: 'x' });
  assert.deepEqual(short.variables, ['WEBHOOK_TOKEN']);
  assert.match(short.message, /at least 16/);
  const { internalConfig } = await import('../shared/runtime/config.js');
  assert.deepEqual(errorOf({ chain: internalConfig }, {}).variables, ['INTERNAL_TOKEN']);
  const { redact } = await import('../shared/runtime/log.js');
  loadConfig({ storage: storageConfig }, { S3_ACCESS_KEY: 'k3y', S3_SECRET_KEY: 'a-secret-of-any-length' });
  const line = redact('key=k3y secret=a-secret-of-any-length');
  assert.ok(!line.includes('k3y') && !line.includes('a-secret-of-any-length'), line);
});

test('each field type takes its words and refuses the rest, naming the rule', () => {
  const demo = component({
    name: 'demo',
    vars: {
      D_INT: variable(int(7, 1, 10), ''),
      D_NUM: variable(num(0.5, 0, 1), ''),
      D_BOOL: variable(bool(true), ''),
      D_ONE: variable(oneOf(['a', 'b'], 'a'), ''),
      D_LIST: variable(list('x, y'), ''),
      D_FORMATS: variable(listOf(['csv', 'parquet'], 'csv', 'must name csv, parquet or both'), ''),
      D_URL: variable(httpUrl('http://127.0.0.1:1'), ''),
      D_TEXT: variable(text('abc', 3), ''),
      D_TOKEN: variable(token, ''),
      D_MAP: variable(jsonObjectOfStrings('names'), ''),
    },
  });
  const d = { demo };
  assert.deepEqual(loadConfig(d, {}).demo, { D_INT: 7, D_NUM: 0.5, D_BOOL: true, D_ONE: 'a', D_LIST: ['x', 'y'], D_FORMATS: ['csv'], D_URL: 'http://127.0.0.1:1', D_TEXT: 'abc', D_TOKEN: undefined, D_MAP: {} });
  const good = { D_INT: '10', D_NUM: '1', D_BOOL: 'off', D_ONE: 'b', D_LIST: ' p,,q ', D_FORMATS: 'parquet, csv', D_URL: 'https://h/x', D_TEXT: 'abcd', D_TOKEN: ' 0123456789abcdef ', D_MAP: '{"k":"v"}' };
  assert.deepEqual(loadConfig(d, good).demo, { D_INT: 10, D_NUM: 1, D_BOOL: false, D_ONE: 'b', D_LIST: ['p', 'q'], D_FORMATS: ['parquet', 'csv'], D_URL: 'https://h/x', D_TEXT: 'abcd', D_TOKEN: '0123456789abcdef', D_MAP: { k: 'v' } });
  const bad = { D_INT: '2.5', D_NUM: 'NaN', D_BOOL: 'TRUE', D_ONE: 'c', D_FORMATS: 'csv,json', D_URL: 'ftp://h/x', D_TEXT: 'ab', D_TOKEN: 'short', D_MAP: '{"k":1}' };
  const err = errorOf(d, bad);
  assert.deepEqual(err.variables, ['D_INT', 'D_NUM', 'D_BOOL', 'D_ONE', 'D_FORMATS', 'D_URL', 'D_TEXT', 'D_TOKEN', 'D_MAP']);
  assert.deepEqual(
    err.problems.map((p) => p.message),
    ['must be an integer from 1 to 10', 'must be a number from 0 to 1', 'must be one of true, false, 1, 0, yes, no, on, off', 'must be one of a, b', 'must name csv, parquet or both', 'must be an http(s) URL', 'must be at least 3 characters', 'must be at least 16 characters', 'must be a JSON object of names'],
  );
  assert.deepEqual(errorOf(d, { D_INT: '11', D_FORMATS: ' , ' }).variables, ['D_INT', 'D_FORMATS']);
  assert.equal(loadConfig({ powerbi: powerbiConfig }, { POWERBI_PUSH_URL: ' None ' }).powerbi.POWERBI_PUSH_URL, undefined);
});
