/**
 * Every Go HTTP/1 hop in front of the functions is half duplex, and so is the local gateway:
 * once an answer starts, at most 256 KiB more of the request body get through. A handler that
 * answers early loses data behind it (caught here); ad-hoc transform holds its answer until the
 * body has been read whole and returns every row (functions/transform/adhoc.test.ts: the answer's
 * temporary file, NDJSON from a slow chunked body).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { startGateway } from '../dev/gateway.js';
import { serveFunction } from '../shared/runtime/server.js';
import { useTestStack } from './helpers.js';
import { csvTable, quietLog, slowly } from './unit-helpers.js';

describe('half-duplex gateway', () => {
  test('a handler that answers before reading its body loses the rest behind the gateway', async () => {
    // It echoes the body back as it reads it: the answer starts at the first chunk.
    const fn = await serveFunction({ name: 'echo', log: quietLog, handler: async (event) => ({ status: 200, body: event.body }) });
    const gw = await startGateway({ routes: [{ name: 'echo', port: fn.port }] });
    try {
      const sent = 'x'.repeat(4 * 1024 * 1024);
      const res = await request(`${gw.url}/function/echo`, { method: 'POST', body: slowly(sent, 256) });
      const got = await res.body.text().catch(() => '');
      assert.ok(got.length < sent.length, `the early answer lost data (${got.length} of ${sent.length} bytes came back)`);
      // The same handler straight to the process, or behind a full-duplex gateway: nothing lost.
      const full = await startGateway({ routes: [{ name: 'echo', port: fn.port }], fullDuplex: true });
      try {
        const res2 = await request(`${full.url}/function/echo`, { method: 'POST', body: slowly(sent, 256) });
        assert.equal((await res2.body.text()).length, sent.length);
      } finally {
        await full.close();
      }
    } finally {
      await gw.close();
      await fn.close();
    }
  });

  describe('ad-hoc transform through the gateway', () => {
    const stack = useTestStack();

    test('30,000 rows sent slowly in chunks, Accept: text/csv: every row comes back', async () => {
      const t = stack();
      const res = await request(`${t.stack.gateway.url}/function/transform`, { method: 'POST', body: slowly(csvTable(30_000), 400), headers: { accept: 'text/csv' } });
      assert.equal(res.statusCode, 200);
      const lines = (await res.body.text()).trimEnd().split('\n');
      assert.equal(lines.length, 30_001);
      assert.equal(lines.at(-1)!.split(',')[0], '29999');
    });

    test('8,000 rows with Content-Length, Accept: application/x-ndjson: every row comes back', async () => {
      const t = stack();
      const body = csvTable(8_000);
      const res = await request(`${t.stack.gateway.url}/function/transform`, { method: 'POST', body, headers: { accept: 'application/x-ndjson', 'content-length': String(Buffer.byteLength(body)) } });
      assert.equal(res.statusCode, 200);
      const lines = (await res.body.text()).trimEnd().split('\n');
      const trailer = JSON.parse(lines.at(-1)!);
      assert.equal(trailer.type, 'trailer');
      assert.equal(trailer.stats.rowsOut, 8_000);
      assert.equal(lines.filter((l) => l.startsWith('[')).length, 8_000);
    });
  });
});
