/**
 * The pipeline console in a real headless browser (Debian chromium driven by playwright-core),
 * on the whole local stack: the example files' journeys appear live, each schema has its own
 * Power BI table with a chart that fits its data, and after a restart the console shows the same
 * files and tables again (rebuilt from the output bucket and the emulator rows kept in DATA_DIR).
 * The screenshot in docs/ comes from here.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { examplePath, repoRoot } from './kit.js';
import { startTestStack, waitForJson, type TestStack } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const EXAMPLES = ['mock_10000_linhas.csv', 'vendas_ptbr.csv', 'com_erros.csv', 'mock.csv'];
const ODD_KEY = 'relatórios/mês 1+2.csv';

describe('pipeline console in headless Chromium', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mini-pipeline-console-'));
  let browser: Browser;
  let t: TestStack | undefined;
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: .ci/run installs Debian's chromium (apt-get install chromium)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  });
  after(async () => {
    await browser?.close();
    await t?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('each file is shown with its journey, rows, rejects and Power BI outcome, live; each schema has its own table and chart', async () => {
    t = await startTestStack({ DATA_DIR: dataDir });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(t.stack.dashboardUrl!);
    await page.waitForSelector('body[data-ready="true"]');
    for (const name of EXAMPLES) {
      const body = readFileSync(examplePath(name));
      await t.s3.putObject('incoming', name, body, body.length);
      await waitForJson(t.s3, 'processed', `manifests/${name}.json`, 120_000);
    }
    // A key as people name files: a folder, accents, spaces and a plus sign.
    const mock = readFileSync(examplePath('mock.csv'));
    await t.s3.putObject('incoming', ODD_KEY, mock, mock.length);
    await waitForJson(t.s3, 'processed', `manifests/${ODD_KEY}.json`, 120_000);
    // Live: no reload. Every file reaches published, with each step of its journey.
    await page.waitForFunction((n) => document.querySelectorAll('#files tbody tr.published').length === n, EXAMPLES.length + 1, { timeout: 60_000 });
    assert.match((await page.locator(`#files tbody tr[data-key="${ODD_KEY}"] .journey`).textContent()) ?? '', /received.*transforming.*published/);
    const seed = page.locator('#files tbody tr[data-key="mock_10000_linhas.csv"]');
    const journey = (await seed.locator('.journey').textContent()) ?? '';
    for (const step of ['received', 'transforming', 'writing outputs', 'Power BI', 'published']) assert.ok(journey.includes(step), `journey has "${step}": ${journey}`);
    assert.match((await seed.locator('.rows').textContent()) ?? '', /10,000 in → 10,000 out/);
    assert.match((await seed.locator('.powerbi').textContent()) ?? '', /10,000 rows/, 'counts formatted as the CLI formats them');
    assert.deepEqual(await seed.locator('a').allTextContents(), ['cleaned', 'manifest']);
    const errors = page.locator('#files tbody tr[data-key="com_erros.csv"]');
    assert.match((await errors.locator('.rejects').textContent()) ?? '', /^4/);
    assert.match((await errors.locator('.reasons').textContent()) ?? '', /line \d+:/);
    assert.ok((await errors.locator('a').allTextContents()).includes('rejects'));
    // Four schemas, four tables (the local emulator gives each schema its own), each charted.
    await page.waitForFunction(() => document.querySelectorAll('#tables .card svg').length === 4, undefined, { timeout: 30_000 });
    const kinds = await page.$$eval('#tables .card svg', (els) => els.map((e) => e.getAttribute('data-kind')).sort());
    assert.deepEqual(kinds, ['bars', 'bars', 'line', 'line'], 'a line over time where a date column exists, bars for a column of few values');
    // UPDATE_SCREENSHOT=1 refreshes the one the README shows.
    const shot = process.env.UPDATE_SCREENSHOT ? join(repoRoot, 'docs', 'console.png') : join(dataDir, 'console.png');
    mkdirSync(join(shot, '..'), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(readFileSync(shot).length > 10_000, 'a screenshot was taken');
    await page.close();
  });

  test('after a restart the console shows every file and table again', async () => {
    await t!.stop();
    t = await startTestStack({ DATA_DIR: dataDir });
    const page = await browser.newPage();
    await page.goto(t.stack.dashboardUrl!);
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.locator('#files tbody tr.published').count(), EXAMPLES.length + 1);
    assert.match((await page.locator('#files tbody tr[data-key="vendas_ptbr.csv"] .rows').textContent()) ?? '', /240 in → 240 out/);
    const counts = await page.$$eval('#tables .card .count', (els) => els.map((e) => e.textContent).sort());
    assert.deepEqual(counts, ['10,000', '116', '20', '240'], 'the emulator rows survived the restart');
    await page.close();
  });
});
