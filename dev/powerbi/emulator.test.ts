/** The emulator's own rules, on its injectable clock: what the sinks' tests rely on. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startEmulator, type EmulatorServer } from './server.js';

const TENANT = 't-1';
const GROUP = 'g-1';

async function call(url: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) {
  const res = await request(url, { method: (init.method ?? 'GET') as 'GET', body: init.body, headers: init.headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

describe('Power BI emulator', () => {
  let em: EmulatorServer;
  let token: string;
  let client: { clientId: string; secret: string };
  before(async () => {
    em = await startEmulator({ port: 0 });
    client = em.rest.registerClient({ tenantId: TENANT, groups: [GROUP] });
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.secret, scope: 'https://analysis.windows.net/powerbi/api/.default' });
    token = (await call(`${em.url}/${TENANT}/oauth2/v2.0/token`, { method: 'POST', body: form.toString() })).json.access_token;
  });
  after(() => em.close());
  const auth = () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
  const refresh = async () => {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.secret, scope: 'https://analysis.windows.net/powerbi/api/.default' });
    token = (await call(`${em.url}/${TENANT}/oauth2/v2.0/token`, { method: 'POST', body: form.toString() })).json.access_token;
  };

  test('push URL: 404 unknown dataset, 403 bad key, 400 bare object, 400 over 15 KB, 429 past 5 a second, RequestId everywhere', async () => {
    const ds = em.state.createDataset({ name: 'p', mode: 'Streaming', columns: [{ name: 'v', type: 'Number' }] });
    const url = em.state.pushUrl(ds, em.url);
    assert.equal((await call(url.replace(ds.id, 'nope'), { method: 'POST', body: '[]' })).status, 404);
    const bad = await call(url.replace(/key=[^&]+/, 'key=abc'), { method: 'POST', body: '[]' });
    assert.equal(bad.status, 403);
    assert.ok(bad.headers.requestid);
    assert.equal((await call(url, { method: 'POST', body: '{"v":1}' })).json.error.message, 'Did not encounter start array token or start object token for rowset');
    const big = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ v: i })));
    assert.equal((await call(url, { method: 'POST', body: big })).status, 400);
    em.advanceClock(2000);
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await call(url, { method: 'POST', body: '[{"v":1}]' })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
    em.advanceClock(1001);
    assert.equal((await call(url, { method: 'POST', body: '[{"v":"x"}]' })).status, 400, 'type checked');
    assert.equal((await call(url, { method: 'POST', body: '[{"w":1}]' })).status, 400, 'unknown column (strict)');
  });

  test('REST auth: no token 401, My workspace 401 for a service principal, expired token 403', async () => {
    assert.equal((await call(`${em.url}/v1.0/myorg/groups/${GROUP}/datasets`)).status, 401);
    assert.equal((await call(`${em.url}/v1.0/myorg/datasets`, { headers: auth() })).status, 401);
    assert.equal((await call(`${em.url}/v1.0/myorg/groups/other/datasets`, { headers: auth() })).status, 401);
    assert.equal((await call(`${em.url}/v1.0/myorg/groups/${GROUP}/datasets`, { headers: auth() })).status, 200);
    em.advanceClock(3600_000);
    const expired = await call(`${em.url}/v1.0/myorg/groups/${GROUP}/datasets`, { headers: auth() });
    assert.equal(expired.status, 403);
    assert.equal(expired.json.error.code, 'TokenExpired');
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.secret, scope: 'https://analysis.windows.net/powerbi/api/.default' });
    token = (await call(`${em.url}/${TENANT}/oauth2/v2.0/token`, { method: 'POST', body: form.toString() })).json.access_token;
    const wrong = await call(`${em.url}/${TENANT}/oauth2/v2.0/token`, { method: 'POST', body: new URLSearchParams({ ...Object.fromEntries(form), client_secret: 'x' }).toString() });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error, 'invalid_client');
  });

  test('REST: unknown properties, 10,000-row cap, 120 requests a minute, 1M rows an hour, FIFO trimming', async () => {
    const base = `${em.url}/v1.0/myorg/groups/${GROUP}/datasets`;
    const strict = await call(base, { method: 'POST', headers: auth(), body: JSON.stringify({ name: 'x', tables: [], compatibilityLevel: 1 }) });
    assert.equal(strict.status, 400);
    assert.match(strict.json.error.details[0].message, /compatibilityLevel/);
    const created = await call(`${base}?defaultRetentionPolicy=basicFIFO`, { method: 'POST', headers: auth(), body: JSON.stringify({ name: 'r', tables: [{ name: 'T', columns: [{ name: 'v', dataType: 'Int64' }] }] }) });
    assert.equal(created.status, 201);
    const rowsUrl = `${base}/${created.json.id}/tables/T/rows`;
    const rows = (n: number) => JSON.stringify({ rows: Array.from({ length: n }, (_, i) => ({ v: i })) });
    assert.equal((await call(rowsUrl, { method: 'POST', headers: auth(), body: rows(10_001) })).status, 400);
    assert.equal((await call(`${base}/${created.json.id}/tables/t/rows`, { method: 'POST', headers: auth(), body: rows(1) })).status, 404, 'table names are case-sensitive');
    const put = await call(`${base}/${created.json.id}/tables/T`, { method: 'PUT', headers: auth(), body: JSON.stringify({ name: 'T', columns: [{ name: 'v', dataType: 'Int64' }, { name: 'w', dataType: 'String' }] }) });
    assert.equal(put.status, 200);
    const tables = await call(`${base}/${created.json.id}/tables`, { headers: auth() });
    assert.deepEqual(tables.json.value[0].columns.map((c: { name: string }) => c.name), ['v', 'w']);
    assert.equal((await call(`${base}/${created.json.id}/tables/Nope`, { method: 'PUT', headers: auth(), body: JSON.stringify({ name: 'Nope', columns: [] }) })).status, 404);
    em.advanceClock(3600_000);
    await refresh();
    let throttled;
    for (let i = 0; i < 121; i++) {
      const r = await call(rowsUrl, { method: 'POST', headers: auth(), body: rows(10) });
      if (r.status !== 200) throttled = r;
    }
    assert.equal(throttled?.status, 429);
    assert.ok(Number(throttled?.headers['retry-after']) > 0);
    em.advanceClock(61_000);
    for (let i = 0; i < 22; i++) {
      const r = await call(rowsUrl, { method: 'POST', headers: auth(), body: rows(10_000) });
      assert.equal(r.status, 200);
    }
    const table = em.rest.datasets.get(created.json.id)!.tables.get('T')!;
    assert.ok(table.rows.length <= 210_000 && table.rows.length >= 200_000, `FIFO keeps 200k–210k (${table.rows.length})`);
    // 1,210 + 220,000 rows so far this hour; push to the 1,000,000 cap.
    em.advanceClock(61_000);
    let last;
    for (let i = 0; i < 80; i++) {
      last = await call(rowsUrl, { method: 'POST', headers: auth(), body: rows(10_000) });
      if (last.status !== 200) break;
    }
    assert.equal(last?.status, 429);
    assert.match(last?.json.error.message, /rows per hour/);
  });
});
