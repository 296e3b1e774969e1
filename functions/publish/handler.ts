/** publish: the dataset stream in; output bucket and Power BI out; manifest and completion marker. */
import { decodeNdjson } from '../../shared/dataset/ndjson.js';
import type { FunctionModule } from '../../shared/runtime/main.js';
import { publishDataset } from './publish.js';
import { createSinks, s3DatasetMemory } from './sinks.js';
import { createStorage } from '../../shared/storage/s3.js';

export const publish: FunctionModule = {
  name: 'publish',
  maxBodyBytes: Infinity,
  create: (config) => {
    const s3 = createStorage(config);
    const memory = s3DatasetMemory(s3, config.OUTPUT_BUCKET, config);
    return async (event, ctx) => {
      const result = await publishDataset(decodeNdjson(event.body as AsyncIterable<Buffer>), {
        config,
        s3,
        sinks: createSinks(config, ctx.log, memory),
        log: ctx.log,
        callId: ctx.callId,
        signal: event.signal,
      });
      return { status: result.status === 'failed' ? (result.problem?.status ?? 422) : 200, json: result };
    };
  },
};
