/**
 * The first hour, as a newcomer runs it: `npm run upload -- examples/*.csv` against the running
 * local stack (found through DATA_DIR/stack.json, no ports given) prints each file's outcome, says
 * which file it ignores and why; `npm run reprocess -- <key>` states the Power BI consequence, then
 * runs the file again. Real child processes, as a user's terminal runs them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { examplePath, repoRoot, runScript as run } from './kit.js';
import { emulatorRows, useTestStack } from './helpers.js';

describe('the first hour', () => {
  const stack = useTestStack();

  test('npm run upload -- examples/*.csv prints each outcome; a file it ignores is said so', async () => {
    const t = stack();
    const files = ['mock_10000_linhas.csv', 'vendas_ptbr.csv', 'com_erros.csv', 'mock.csv'].map(examplePath);
    const r = await run('dev/upload.ts', [...files, `${repoRoot}/README.md`], { DATA_DIR: t.stack.config.dev.DATA_DIR });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /✓ mock_10000_linhas\.csv {2}published in [\d.]+ s\n {4}rows {5}10,000 in → 10,000 out, 0 rejected/);
    assert.match(r.out, /✓ vendas_ptbr\.csv {2}published/);
    assert.match(r.out, /✓ com_erros\.csv {2}published[\s\S]*?4 rejected[\s\S]*?reject {3}line 9: expected 5 fields, found 3/);
    assert.match(r.out, /outputs {2}processed\/cleaned\/com_erros\.csv {2}processed\/manifests\/com_erros\.csv\.json {2}processed\/rejects\/com_erros\.csv/);
    assert.match(r.out, /Power BI powerbi-push: 10,000 rows sent/);
    assert.match(r.out, /- \/.*README\.md: ignored, not uploaded: the pipeline takes only keys ending in \.csv/);
  });

  test('re-uploading identical bytes says nothing ran now, and shows the earlier run as earlier', async () => {
    const t = stack();
    const r = await run('dev/upload.ts', [examplePath('com_erros.csv')], { DATA_DIR: t.stack.config.dev.DATA_DIR });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /= com_erros\.csv {2}already published at \d{4}-\d\d-\d\dT[\d:.]+Z \(identical bytes\): nothing to do now\. Run it again with: npm run reprocess -- com_erros\.csv/);
    assert.doesNotMatch(r.out, /published in [\d.]+ s/, 'no claim that it was published just now');
    assert.match(r.out, /rows {5}120 in → 116 out, 4 rejected/, "the earlier run's rows");
    assert.match(r.out, /116 rows sent in \d+ requests?\b/);
  });

  test('npm run reprocess -- <key> states what it means for Power BI, then runs the file again', async () => {
    const t = stack();
    const before = (await emulatorRows(t)).total;
    const r = await run('dev/reprocess.ts', ['mock.csv'], { DATA_DIR: t.stack.config.dev.DATA_DIR });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /Power BI keeps the 10 rows the earlier run pushed/);
    assert.match(r.out, /✓ mock\.csv {2}published/);
    assert.equal((await emulatorRows(t)).total, before + 10, 'pushed again, as stated');
  });

  test('a forced rerun needs the chain credential', async () => {
    const t = stack();
    const res = await request(`${t.stack.gateway.url}/function/transform?force=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bucket: 'incoming', key: 'mock.csv' }) });
    assert.equal(res.statusCode, 401);
    await res.body.dump();
  });
});
