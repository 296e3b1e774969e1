/**
 * The REST route against the emulator in its strict modes, through the whole local stack: one
 * push dataset per schema (the emulator's Get Tables answering table names only, as field reports
 * say the service can), 413 split and retried, and a table that refuses the file ending partial
 * in words — never a silent loss.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { request } from 'undici';
import { examplePath } from './kit.js';
import { startEmulator, type EmulatorServer } from '../dev/powerbi/server.js';
import { startTestStack, waitForJson, waitForLog, useTestStack, type TestStack } from './helpers.js';

const CITIES = ['São Paulo', 'Belém', 'Maceió', 'Florianópolis', 'Ribeirão Preto', 'Goiânia', 'Vitória da Conquista'];

function generated(rows: number): Buffer {
  const lines = ['id,cidade,valor,data'];
  for (let i = 0; i < rows; i++) lines.push(`${i},"${CITIES[i % CITIES.length]}",${((i * 37) % 100_000) / 100},${String((i % 28) + 1).padStart(2, '0')}/${String((i % 12) + 1).padStart(2, '0')}/2026`);
  return Buffer.from(lines.join('\n') + '\n');
}

interface Manifest {
  status: string;
  partial?: string;
  stats: { rowsOut: number };
  sinks: Record<string, { rowsSent?: number; datasetId?: string; table?: string; columnsFrom?: string; possibleDuplicates?: number; rowsNotSent?: number; reason?: string }>;
}

describe('Power BI REST route: one dataset per schema, names-only Get Tables, refusals never silent', () => {
  const stack = useTestStack({ POWERBI_EMULATOR_ROUTE: 'rest', POWERBI_ROUTES: JSON.stringify({ 'fixed/': { datasetId: 'fixed-dataset-id-placeholder' } }) });

  test('the seed file and a 25,000-row accented file each reach their own dataset: 35,000 rows, 0 duplicates, 0 refusals', async () => {
    const t = stack();
    const em = t.stack.emulator!;
    em.rest.namesOnlyTables = true;
    const seed = readFileSync(examplePath('mock_10000_linhas.csv'));
    const big = generated(25_000);
    await t.s3.putObject('incoming', 'vendas/2026-11.csv', big, big.length);
    await t.s3.putObject('incoming', 'seed/mock_10000_linhas.csv', seed, seed.length);
    const a = await waitForJson<Manifest>(t.s3, 'processed', 'manifests/vendas/2026-11.csv.json', 180_000);
    const b = await waitForJson<Manifest>(t.s3, 'processed', 'manifests/seed/mock_10000_linhas.csv.json', 180_000);
    assert.equal(a.status, 'published');
    assert.equal(b.status, 'published');
    const ra = a.sinks['powerbi-rest'];
    const rb = b.sinks['powerbi-rest'];
    assert.notEqual(ra.datasetId, rb.datasetId, 'each schema has its own dataset');
    assert.equal(ra.columnsFrom, 'created', 'Get Tables listed names only: the columns come from what the pipeline created');
    const stored = new Map([...em.rest.datasets.values()].map((d) => [d.id, d]));
    const rowsOf = (id: string) => [...stored.get(id)!.tables.values()].flatMap((tb) => tb.rows);
    const va = rowsOf(ra.datasetId!);
    const vb = rowsOf(rb.datasetId!);
    assert.equal(va.length, 25_000);
    assert.equal(vb.length, 10_000);
    assert.equal(new Set(va.map((r) => r.id)).size, 25_000, '0 duplicates');
    assert.equal(va.find((r) => r.id === 5)!.cidade, CITIES[5], 'accented text arrives as sent');
    assert.equal(ra.possibleDuplicates ?? 0, 0);
    for (const d of stored.values()) assert.deepEqual(d.refused, {}, `${d.name}: no request refused (no 400, 413 or 429)`);
    assert.ok([...stored.values()].some((d) => d.name.startsWith('mini-pipeline-vendas-')), 'named from the key folder and the schema');
  });

  test('a 413 from Power BI splits the request and retries the halves: every row arrives once', async () => {
    const t = stack();
    const em = t.stack.emulator!;
    await request(`${em.url}/_emulator/faults`, { method: 'POST', body: JSON.stringify([{ kind: 'status', status: 413, count: 1 }]) }).then((r) => r.body.dump());
    const body = generated(3000);
    await t.s3.putObject('incoming', 'vendas/split.csv', body, body.length);
    const m = await waitForJson<Manifest>(t.s3, 'processed', 'manifests/vendas/split.csv.json', 120_000);
    assert.equal(m.status, 'published');
    assert.equal(m.sinks['powerbi-rest'].rowsSent, 3000);
  });

  test('a table that refuses the file (Power BI 400 on every row) ends the file partial, with the rows not sent and why', async () => {
    const t = stack();
    const em = t.stack.emulator!;
    em.rest.namesOnlyTables = true;
    // A dataset made elsewhere (not by the pipeline): with names-only Get Tables the file's own columns are sent, and refused.
    const client = [...em.rest.clients.values()][0];
    const other = em.rest.createDataset([...client.groups][0], { name: 'made-by-hand', defaultMode: 'Push', tables: [{ name: 'RealTimeData', columns: [{ name: 'produto', dataType: 'String' }] }] }, 'None');
    em.rest.datasets.delete(other.id);
    (other as { id: string }).id = 'fixed-dataset-id-placeholder';
    em.rest.datasets.set(other.id, other);
    const body = generated(500);
    await t.s3.putObject('incoming', 'fixed/refused.csv', body, body.length);
    const m = await waitForJson<Manifest>(t.s3, 'processed', 'manifests/fixed/refused.csv.json', 120_000);
    assert.equal(m.status, 'partial');
    const r = m.sinks['powerbi-rest'];
    assert.equal(r.rowsNotSent, 500 - 0);
    assert.match(r.reason!, /400/);
    assert.match(m.partial!, /500 rows not sent to Power BI/);
    await waitForLog(t, 'publish logs the partial file as an error', (l) => l.startsWith('publish') && l.includes('"level":"error"') && l.includes('partial'));
    assert.equal(other.tables.get('RealTimeData')!.rows.length, 0);
  });
});

describe('the local stack with your own Power BI endpoints', () => {
  let own: EmulatorServer;
  let t: TestStack | undefined;
  after(async () => {
    await t?.stop();
    await own?.close();
  });

  test('given POWERBI_API_URL and a service principal, npm start uses them, with no emulator of its own', async () => {
    // "Your own endpoint": a stand-in the stack did not start (a real tenant works the same way).
    own = await startEmulator({ port: 0 });
    const client = own.rest.registerClient({ tenantId: 'my-tenant', groups: ['my-workspace'] });
    t = await startTestStack({ POWERBI_API_URL: own.url, POWERBI_AUTHORITY_URL: own.url, POWERBI_TENANT_ID: 'my-tenant', POWERBI_CLIENT_ID: client.clientId, POWERBI_CLIENT_SECRET: client.secret, POWERBI_GROUP_ID: 'my-workspace', POWERBI_CREATE_DATASET: 'true' });
    assert.equal(t.stack.emulator, undefined, 'no emulator started');
    const body = generated(200);
    await t.s3.putObject('incoming', 'own/endpoint.csv', body, body.length);
    const m = await waitForJson<Manifest>(t.s3, 'processed', 'manifests/own/endpoint.csv.json', 60_000);
    assert.equal(m.sinks['powerbi-rest'].rowsSent, 200);
    assert.equal([...own.rest.datasets.values()].flatMap((d) => [...d.tables.values()]).reduce((n, tb) => n + tb.rows.length, 0), 200);
  });
});
