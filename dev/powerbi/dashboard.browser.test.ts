/**
 * The live dashboard in a real headless browser (Debian chromium driven by playwright-core):
 * rows pushed to the emulator appear without a reload (server-sent events), with a chart per
 * numeric column.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { request } from 'undici';
import { startEmulator, type EmulatorServer } from './server.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('dashboard in headless Chromium', () => {
  let em: EmulatorServer;
  let browser: Browser;
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: .ci/run installs Debian's chromium (apt-get install chromium)`);
    em = await startEmulator({ port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    await em?.close();
  });

  test('rows arrive live; numeric columns get a chart', async () => {
    const ds = em.state.createDataset({ name: 'vendas', mode: 'Streaming' });
    const page = await browser.newPage();
    await page.goto(`${em.url}/`);
    await page.waitForSelector('#datasets tbody tr');
    assert.match((await page.textContent('#datasets tbody')) ?? '', /vendas/);
    const url = em.state.pushUrl(ds, em.url);
    for (let b = 0; b < 3; b++) {
      const rows = Array.from({ length: 10 }, (_, i) => ({ id: b * 10 + i, cidade: `Cidade ${i}`, valor: (b * 10 + i) * 1.5 }));
      const res = await request(url, { method: 'POST', body: JSON.stringify(rows) });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    }
    await page.waitForFunction(() => document.querySelector('#datasets tbody .rows')?.textContent === '30');
    const charts = await page.$$eval('#charts .chart', (els) => els.map((e) => e.getAttribute('data-column')));
    assert.deepEqual(charts.sort(), ['id', 'valor']);
    const points = await page.$eval('#charts .chart[data-column="valor"] polyline', (p) => p.getAttribute('points')!.split(' ').length);
    assert.equal(points, 30);
    const firstRow = await page.textContent('#rows tbody tr');
    assert.match(firstRow!, /Cidade 9/);
    await page.screenshot({ path: join(tmpdir(), 'mini-pipeline-dashboard.png') });
    await page.close();
  });
});
