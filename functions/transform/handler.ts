/** transform: an object reference (from webhook) or a CSV body (ad-hoc) in, the typed dataset out. */
import { csvConfig } from '../../shared/csv/config.js';
import { loadSchemaFile } from '../../shared/csv/pinned-schema.js';
import { gatewayConfig, internalConfig } from '../../shared/runtime/config.js';
import { requireBearer } from '../../shared/runtime/auth.js';
import { readJson } from '../../shared/runtime/body.js';
import { defineFunction } from '../../shared/runtime/main.js';
import { storageConfig } from '../../shared/storage/config.js';
import { claimSettings, lifecycleConfig } from '../../shared/lifecycle/config.js';
import { Lifecycle } from '../../shared/lifecycle/index.js';
import { checkBuckets, createStorage } from '../../shared/storage/s3.js';
import { transformConfig } from './config.js';
import { RUN_ID_HEADER } from '../../shared/lifecycle/run.js';
import { transformAdhoc, transformObject, type TransformDeps } from './requests.js';

/** Largest object reference accepted (a few hundred bytes in practice). */
const REF_MAX_BYTES = 64 * 1024;

export const transform = defineFunction({
  name: 'transform',
  maxBodyBytes: Infinity,
  config: { storage: storageConfig, lifecycle: lifecycleConfig, gateway: gatewayConfig, chain: internalConfig, csv: csvConfig, transform: transformConfig },
  validate: (config) => {
    const problems: { variable: string; message: string }[] = [];
    try {
      if (config.csv.CSV_SCHEMA_FILE) loadSchemaFile(config.csv.CSV_SCHEMA_FILE);
    } catch (err) {
      problems.push({ variable: 'CSV_SCHEMA_FILE', message: (err as Error).message.replace(/^CSV_SCHEMA_FILE: /, '') });
    }
    return problems;
  },
  create: (config) => {
    const s3 = createStorage(config.storage);
    const deps: TransformDeps = {
      s3,
      csv: config.csv,
      schemas: config.csv.CSV_SCHEMA_FILE ? loadSchemaFile(config.csv.CSV_SCHEMA_FILE) : [],
      outputBucket: config.storage.OUTPUT_BUCKET,
      lifecycle: new Lifecycle(s3, config.storage.OUTPUT_BUCKET, claimSettings(config.lifecycle)),
      jsonMaxBytes: config.transform.TRANSFORM_JSON_MAX_BYTES,
      spoolMaxBytes: config.transform.ADHOC_SPOOL_MAX_BYTES,
      fullDuplex: config.transform.HTTP_FULL_DUPLEX,
      publishUrl: config.transform.PUBLISH_URL ?? config.gateway.functionUrl('publish'),
      inputBucket: config.storage.INPUT_BUCKET,
      internalToken: config.chain.INTERNAL_TOKEN,
    };
    const internal = config.chain.INTERNAL_TOKEN;
    const adhoc = config.transform.ADHOC_TOKEN;
    return {
      ready: () => checkBuckets(deps.s3, [config.storage.INPUT_BUCKET, config.storage.OUTPUT_BUCKET]),
      handle: async (event, ctx) => {
        const type = String(event.headers['content-type'] ?? '');
        // A JSON body is an object reference (from the webhook); anything else is an ad-hoc CSV.
        if (type.startsWith('application/json') && event.method === 'POST') {
          // Only the webhook (or the recovery sweep) hands objects over.
          requireBearer(event.headers, [internal], 'INTERNAL_TOKEN');
          const handed = event.headers[RUN_ID_HEADER];
          return transformObject(await readJson(event.body, REF_MAX_BYTES, 'an object reference'), deps, ctx, { force: event.query.get('force') === 'true', handed: typeof handed === 'string' ? handed : undefined, deadline: event.deadline });
        }
        // Ad-hoc use is open unless ADHOC_TOKEN is set; publishing an ad-hoc file writes outputs
        // and pushes rows, so it needs the chain's own credential.
        if (event.query.get('publish') === 'true') requireBearer(event.headers, [internal], 'INTERNAL_TOKEN');
        else if (adhoc) requireBearer(event.headers, [adhoc, internal], 'ADHOC_TOKEN');
        return transformAdhoc(event, deps, ctx);
      },
    };
  },
});
