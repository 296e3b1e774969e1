/**
 * One Power BI budget per destination across publish replicas (REPLICAS=3 behind the gateway's
 * round robin), against the emulator, which refuses what Power BI refuses: a push URL past 5
 * requests a second; a REST dataset past 120 POST rows a minute or 5 pending requests. Files are
 * published at once through every replica; Power BI must not throttle a single request.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { request } from 'undici';
import { versionId } from '../shared/lifecycle/index.js';
import { getJson } from '../shared/storage/s3.js';
import { emulatorRows, lifecycleOf, useTestStack, waitFor } from './helpers.js';

const csv = (n: number, rows: number) => ['id,city,amount,when', ...Array.from({ length: rows }, (_, i) => `${n * 1000 + i},Recife,${i}.5,2026-11-0${1 + (i % 9)}`)].join('\n') + '\n';

async function publishAtOnce(url: string, token: string, files: number, rows: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: files }, async (_, n) => {
      const res = await request(`${url}/function/transform?publish=true&name=budget-${n}.csv`, { method: 'POST', body: csv(n, rows), headers: { authorization: `Bearer ${token}` }, headersTimeout: 0, bodyTimeout: 0 });
      await res.body.dump();
      return res.statusCode;
    }),
  );
}

describe('one budget per push URL across three publish replicas', () => {
  const stack = useTestStack({ REPLICAS: '3' });

  test('60 files published at once through three replicas: every row stored, 0 requests throttled by Power BI', { timeout: 180_000 }, async () => {
    const t = stack();
    const em = t.stack.emulator!;
    const statuses = await publishAtOnce(t.stack.gateway.url, t.stack.env.INTERNAL_TOKEN, 60, 150);
    assert.deepEqual(statuses, Array(60).fill(200));
    assert.equal((await emulatorRows(t)).total, 60 * 150);
    assert.equal(em.state.datasets.get(t.stack.emulatorDatasetId!)!.refused['429'] ?? 0, 0, 'the shared budget kept every request inside 5 a second');
  });

  test("the replica holding the most units SIGKILLed mid-file: the others send again within the lease's time-to-live, none throttled, every row there", { timeout: 240_000 }, async (ctx) => {
    const t = stack();
    const ds = t.stack.emulator!.state.datasets.get(t.stack.emulatorDatasetId!)!;
    const before = { rows: ds.rows.length, refused: ds.refused['429'] ?? 0 };
    const files = 3;
    const rows = 12_000;
    for (let n = 0; n < files; n++) {
      const body = Buffer.from(csv(100 + 20 * n, rows)); // ids n·20,000 + 100,000 on: no two files share one
      await t.s3.putObject('incoming', `turn/f${n}.csv`, body, body.length);
    }
    // The shares' record names each holder's process: SIGKILL the publish replica holding the most units while it sends.
    const lifecycle = lifecycleOf(t.s3);
    const holder = await waitFor('a holder sending', async () => {
      if (ds.rows.length - before.rows < 2_000) return undefined;
      for await (const o of t.s3.listObjectsV2('processed', '_state/budgets/', true)) {
        const shares = await getJson<{ holders?: Record<string, { units: number; until: number }> }>(t.s3, 'processed', o.name!);
        const [id] = Object.entries(shares?.holders ?? {}).filter(([, h]) => h.units > 0 && h.until > Date.now()).sort(([, a], [, b]) => b.units - a.units)[0] ?? [];
        const p = t.stack.replicas.get('publish')!.find((r) => r.child.pid === Number(id?.split('/')[1]));
        if (p) return p;
      }
      return undefined;
    }, 60_000, 20);
    const exited = new Promise((r) => holder.child.once('exit', r));
    holder.child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();
    const next = await waitFor('a row sent by another replica', async () => ds.rows.find((r) => r.at > killedAt + 100)?.at, 30_000, 20);
    // The others hold their own units and go on; a replica that held none gets the dead one's units once its 3 s lease has
    // ended and they have cooled for a window (1 s); a loaded machine adds to both.
    assert.ok(next - killedAt <= 3_000 + 1_000 + 3_000, `the others sent again ${next - killedAt} ms after the holder died (lease: 3 s to live)`);
    ctx.diagnostic(`next row ${next - killedAt} ms after the holder's SIGKILL`);
    // Its lease ends (3 s) and a live replica's next write moves its units to cool: no record names it after that.
    const named = async () => {
      for await (const o of t.s3.listObjectsV2('processed', '_state/budgets/', true)) {
        const shares = await getJson<{ holders?: Record<string, unknown> }>(t.s3, 'processed', o.name!);
        if (Object.keys(shares?.holders ?? {}).some((id) => Number(id.split('/')[1]) === holder.child.pid)) return true;
      }
      return false;
    };
    await waitFor("the dead replica's units moved", async () => ((await named()) ? undefined : true), 15_000, 100);
    ctx.diagnostic(`its units moved ${Date.now() - killedAt} ms after the SIGKILL`);

    let reported = 0;
    for (let n = 0; n < files; n++) {
      const stat = await t.s3.statObject('incoming', `turn/f${n}.csv`);
      const id = versionId({ bucket: 'incoming', key: `turn/f${n}.csv`, etag: stat.etag });
      await waitFor(`turn/f${n}.csv finished`, async () => ((await lifecycle.status(id)).outcome ? true : undefined), 180_000, 250);
      const m = await getJson<{ sinks: Record<string, { possibleDuplicates?: number }> }>(t.s3, 'processed', `manifests/turn/f${n}.csv.json`);
      reported += m!.sinks['powerbi-push'].possibleDuplicates ?? 0;
    }
    const ids = ds.rows.slice(before.rows).map((r) => r.row.id as number);
    assert.equal(new Set(ids).size, files * rows, 'every row stored');
    assert.ok(ids.length - files * rows <= reported, `duplicates (${ids.length - files * rows}) within those reported (${reported})`);
    assert.equal((ds.refused['429'] ?? 0) - before.refused, 0, 'none throttled: the dead replica\'s units were taken only after its lease ended and they cooled');
  });
});

describe('one budget per REST dataset across three publish replicas', () => {
  const stack = useTestStack({ REPLICAS: '3', POWERBI_EMULATOR_ROUTE: 'rest' });

  test('130 one-request files at once through three replicas: past 120 POST rows a minute they wait, and Power BI throttles none', { timeout: 240_000 }, async () => {
    const t = stack();
    const em = t.stack.emulator!;
    const statuses = await publishAtOnce(t.stack.gateway.url, t.stack.env.INTERNAL_TOKEN, 130, 5);
    assert.deepEqual(statuses, Array(130).fill(200));
    const datasets = [...em.rest.datasets.values()];
    const rows = datasets.flatMap((d) => [...d.tables.values()]).reduce((s, tb) => s + tb.rows.length, 0);
    assert.equal(rows, 130 * 5, 'every row stored once');
    const refused = datasets.reduce((n, d) => n + (d.refused['429'] ?? 0), 0);
    assert.equal(refused, 0, 'no request refused for the rate (120 a minute) or for too many pending (5)');
  });
});
