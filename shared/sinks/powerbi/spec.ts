/**
 * Power BI as publish lists it: the POWERBI_* configuration and the two sinks it can make, the
 * push URL route (`powerbi-push`) and the REST route with a service principal (`powerbi-rest`).
 */
import * as z from 'zod';
import { getJson, putJson, type Storage } from '../../storage/s3.js';
import { ConditionalStore } from '../../storage/conditional-store.js';
import { stateKeys } from '../../lifecycle/keys.js';
import { sleep } from '../../runtime/retry.js';
import type { RowSink, SinkContext, SinkSpec } from '../sink.js';
import { powerbiConfig, restCredentials, type PowerBiConfig } from './config.js';
import { EntraTokenProvider } from './entra-token.js';
import { PowerBiPushSink, RoutedPushSink } from './push-url.js';
import { PowerBiRestSink, type CreatedDataset, type SchemaMemory } from './rest/sink.js';

/**
 * Where the REST sink remembers the dataset it created per schema: the output bucket, so every
 * replica and restart reuses it. Creating is reserved first (a conditional create of the record),
 * so that replicas meeting a new schema at once create one dataset, not one each.
 */
export function s3SchemaMemory(s3: Storage, bucket: string, config: PowerBiConfig): SchemaMemory {
  const key = (schemaId: string) => stateKeys.createdDataset(String(config.POWERBI_GROUP_ID), schemaId);
  const store = new ConditionalStore(s3, bucket);
  const Record = z.looseObject({ datasetId: z.string().optional(), creatingUntil: z.number().optional() });
  return {
    load: async (schemaId) => {
      const ds = await getJson<CreatedDataset>(s3, bucket, key(schemaId));
      return ds?.datasetId ? ds : undefined;
    },
    reserve: async (schemaId, signal) => {
      for (;;) {
        const seen = await store.read(key(schemaId), Record);
        if (seen?.value.datasetId) return seen.value as unknown as CreatedDataset;
        const mine = { creatingUntil: Date.now() + 60_000 };
        if (!seen && (await store.create(key(schemaId), mine))) return 'mine';
        if (seen && (seen.value.creatingUntil ?? 0) < Date.now() && (await store.replace(key(schemaId), mine, seen.etag))) return 'mine';
        await sleep(250, signal); // another replica is creating it
      }
    },
    save: (schemaId, ds) => putJson(s3, bucket, key(schemaId), { ...ds, createdAt: new Date().toISOString() }),
  };
}

function pushSink(config: PowerBiConfig, ctx: SinkContext): RowSink | undefined {
  const pushRoutes = Object.fromEntries(Object.entries(config.POWERBI_ROUTES).flatMap(([prefix, r]) => (r.pushUrl ? [[prefix, r.pushUrl]] : [])));
  if (!config.POWERBI_PUSH_URL && !Object.keys(pushRoutes).length) return undefined;
  const push = (url: string) =>
    new PowerBiPushSink({
      url,
      maxRequestBytes: config.POWERBI_MAX_REQUEST_BYTES,
      requestsPerSecond: config.POWERBI_MAX_REQUESTS_PER_SECOND,
      timeoutMs: config.POWERBI_TIMEOUT_SECONDS * 1000,
      maxRetries: config.POWERBI_MAX_RETRIES,
      maxRowsPerFile: config.POWERBI_MAX_ROWS_PER_FILE,
      log: ctx.log,
      rateShare: ctx.rateShare,
    });
  const fallback = config.POWERBI_PUSH_URL ? push(config.POWERBI_PUSH_URL) : undefined;
  return Object.keys(pushRoutes).length ? new RoutedPushSink(pushRoutes, fallback, push) : fallback;
}

function restSink(config: PowerBiConfig, ctx: SinkContext, memory?: SchemaMemory): RowSink | undefined {
  const creds = restCredentials(config);
  if (!creds) return undefined;
  return new PowerBiRestSink({
    apiUrl: config.POWERBI_API_URL,
    groupId: creds.groupId,
    datasetId: config.POWERBI_DATASET_ID,
    routes: config.POWERBI_ROUTES,
    memory,
    table: config.POWERBI_TABLE,
    tokens: new EntraTokenProvider({ authorityUrl: config.POWERBI_AUTHORITY_URL, tenantId: creds.tenantId, clientId: creds.clientId, clientSecret: creds.clientSecret }),
    sequenceNumbers: config.POWERBI_SEQUENCE_NUMBERS,
    createDataset: config.POWERBI_CREATE_DATASET ? { name: config.POWERBI_DATASET_NAME, retention: config.POWERBI_RETENTION } : undefined,
    columnMap: config.POWERBI_COLUMN_MAP,
    versionColumn: config.POWERBI_VERSION_COLUMN,
    maxRowsPerFile: config.POWERBI_MAX_ROWS_PER_FILE,
    bigTable: config.POWERBI_BIG_TABLE,
    timeoutMs: config.POWERBI_TIMEOUT_SECONDS * 1000,
    maxRetries: config.POWERBI_MAX_RETRIES,
    log: ctx.log,
    budget: ctx.budget,
  });
}

export const powerbiSinks: SinkSpec<PowerBiConfig> = {
  name: 'powerbi',
  enabledBy: 'POWERBI_PUSH_URL, POWERBI_ROUTES or the REST route\'s POWERBI_* settings, with POWERBI_ENABLED not false',
  config: powerbiConfig,
  create(config, ctx) {
    if (!config.POWERBI_ENABLED) return [];
    const memory = s3SchemaMemory(ctx.s3, ctx.outputBucket, config);
    return [pushSink(config, ctx), restSink(config, ctx, memory)].filter((s): s is RowSink => !!s);
  },
};
