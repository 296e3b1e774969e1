/** publish: the dataset stream in; output bucket and the sinks (Power BI, Eventstream) out; manifest and completion marker. */
import { csvConfig } from '../../shared/csv/config.js';
import { datasetSchemas } from '../../shared/dataset/contract.js';
import { defineFunction } from '../../shared/runtime/main.js';
import { requireBearer } from '../../shared/runtime/auth.js';
import { internalConfig } from '../../shared/runtime/config.js';
import { createLogger } from '../../shared/runtime/log.js';
import { outputFormatsConfig, storageConfig } from '../../shared/storage/config.js';
import { checkBuckets, createStorage } from '../../shared/storage/s3.js';
import { publishDataset, readDataset } from './publish.js';
import { claimSettings, lifecycleConfig } from '../../shared/lifecycle/config.js';
import { Lifecycle } from '../../shared/lifecycle/index.js';
import { RUN_ID_HEADER } from '../../shared/lifecycle/run.js';
import { sharedBudgets } from '../../shared/sinks/shared-budget.js';
import { rateShares } from '../../shared/sinks/rate-shares.js';
import { createSinks, sinkConfigs } from './sinks.js';

export const publish = defineFunction({
  name: 'publish',
  maxBodyBytes: Infinity,
  config: { storage: storageConfig, lifecycle: lifecycleConfig, outputs: outputFormatsConfig, chain: internalConfig, csv: csvConfig, ...sinkConfigs },
  create: (config) => {
    const s3 = createStorage(config.storage);
    const lifecycle = new Lifecycle(s3, config.storage.OUTPUT_BUCKET, claimSettings(config.lifecycle));
    // Sinks are built once per process: their limits, token caches and connections hold across requests.
    const log = createLogger({ fn: 'publish' });
    const sinks = createSinks(config, { log, s3, outputBucket: config.storage.OUTPUT_BUCKET, budget: sharedBudgets(s3, config.storage.OUTPUT_BUCKET), rateShare: rateShares(s3, config.storage.OUTPUT_BUCKET) });
    // Say at start whether each destination answers (Power BI REST: Get Tables; Eventstream: the hub's
    // properties); a failure is logged, not fatal: the output bucket still gets every file, and the
    // manifest records what a sink refused.
    // A second after start, so that a client library loaded on first use (Eventstream's) does not delay readiness.
    const checkSinks = () => {
      for (const sink of sinks) {
        sink.healthcheck?.().then(
          () => log.info('sink reachable', { sink: sink.name }),
          (err) => log.warn('sink not reachable at start', { sink: sink.name, error: err }),
        );
      }
    };
    setTimeout(checkSinks, 1000).unref();
    return {
      ready: () => checkBuckets(s3, [config.storage.OUTPUT_BUCKET]),
      // publish validates every dataset's header and trailer: their schemas are built once it is
      // ready (zod's first use), before its first file rather than in its start.
      whenReady: () => void datasetSchemas(),
      shutdown: async () => {
        await Promise.all(sinks.map((s) => s.close?.()));
      },
      handle: async (event, ctx) => {
        // Only transform sends datasets: a forged one is refused before anything is read or written.
        requireBearer(event.headers, [config.chain.INTERNAL_TOKEN], 'INTERNAL_TOKEN');
        const output = { escapeFormulas: config.csv.CSV_ESCAPE_FORMULAS, formats: config.outputs.OUTPUT_FORMATS };
        const result = await publishDataset(readDataset(event.body, output), {
          ...output,
          outputBucket: config.storage.OUTPUT_BUCKET,
          partSize: config.storage.S3_PART_SIZE_MB * 1024 * 1024,
          s3,
          sinks,
          log: ctx.log,
          callId: ctx.callId,
          runId: event.headers[RUN_ID_HEADER] ? String(event.headers[RUN_ID_HEADER]) : undefined,
          lifecycle,
          signal: event.signal,
        });
        return { status: result.status === 'failed' ? (result.problem?.status ?? 422) : 200, json: result };
      },
    };
  },
});
