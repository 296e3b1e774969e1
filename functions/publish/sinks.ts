/** The row sinks chosen by configuration. */
import { restCredentials, type PowerBiConfig } from '../../shared/sinks/powerbi/config.js';
import type { Logger } from '../../shared/runtime/log.js';
import { PowerBiPushSink, RoutedPushSink } from '../../shared/sinks/powerbi/push-url.js';
import { EntraTokenProvider } from '../../shared/sinks/powerbi/entra-token.js';
import { PowerBiRestSink, type CreatedDataset, type SchemaMemory } from '../../shared/sinks/powerbi/rest/sink.js';
import type { RowSink } from '../../shared/sinks/sink.js';
import { getJson, putJson, type Storage } from '../../shared/storage/s3.js';
import { ConditionalStore } from '../../shared/storage/conditional-store.js';
import * as z from 'zod';
import { sleep } from '../../shared/runtime/retry.js';
import { stateKeys } from '../../shared/lifecycle/keys.js';
import { SharedBudget, type PortableLimiter } from '../../shared/sinks/shared-budget.js';

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

/** Each destination's request budget, shared by every publish replica through the output bucket. */
export function sharedBudgets(s3: Storage, bucket: string) {
  const store = new ConditionalStore(s3, bucket);
  return <C>(target: string, limiter: PortableLimiter<C>) => new SharedBudget<C>(store, stateKeys.budget(target), limiter);
}

/** Built once per process: limiters and token caches then hold across concurrent requests (and budgets across replicas). */
export function createSinks(config: PowerBiConfig, log: Logger, memory?: SchemaMemory, budget?: ReturnType<typeof sharedBudgets>): RowSink[] {
  const sinks: RowSink[] = [];
  const pushRoutes = Object.fromEntries(Object.entries(config.POWERBI_ROUTES).flatMap(([prefix, r]) => (r.pushUrl ? [[prefix, r.pushUrl]] : [])));
  if (config.POWERBI_ENABLED && (config.POWERBI_PUSH_URL || Object.keys(pushRoutes).length)) {
    const push = (url: string) =>
      new PowerBiPushSink({
        url,
        maxRequestBytes: config.POWERBI_MAX_REQUEST_BYTES,
        requestsPerSecond: config.POWERBI_MAX_REQUESTS_PER_SECOND,
        timeoutMs: config.POWERBI_TIMEOUT_SECONDS * 1000,
        maxRetries: config.POWERBI_MAX_RETRIES,
        maxRowsPerFile: config.POWERBI_MAX_ROWS_PER_FILE,
        log,
        budget,
      });
    const fallback = config.POWERBI_PUSH_URL ? push(config.POWERBI_PUSH_URL) : undefined;
    sinks.push(Object.keys(pushRoutes).length ? new RoutedPushSink(pushRoutes, fallback, push) : fallback!);
  }
  const tokens = config.POWERBI_ENABLED ? restTokens(config) : undefined;
  if (tokens) {
    sinks.push(
      new PowerBiRestSink({
        apiUrl: config.POWERBI_API_URL,
        groupId: config.POWERBI_GROUP_ID!,
        datasetId: config.POWERBI_DATASET_ID,
        routes: config.POWERBI_ROUTES,
        memory,
        table: config.POWERBI_TABLE,
        tokens,
        sequenceNumbers: config.POWERBI_SEQUENCE_NUMBERS,
        createDataset: config.POWERBI_CREATE_DATASET ? { name: config.POWERBI_DATASET_NAME, retention: config.POWERBI_RETENTION } : undefined,
        columnMap: config.POWERBI_COLUMN_MAP,
        versionColumn: config.POWERBI_VERSION_COLUMN,
        maxRowsPerFile: config.POWERBI_MAX_ROWS_PER_FILE,
        bigTable: config.POWERBI_BIG_TABLE,
        timeoutMs: config.POWERBI_TIMEOUT_SECONDS * 1000,
        maxRetries: config.POWERBI_MAX_RETRIES,
        log,
        budget,
      }),
    );
  }
  return sinks;
}

function restTokens(config: PowerBiConfig): EntraTokenProvider | undefined {
  const creds = restCredentials(config);
  if (!creds) return undefined;
  return new EntraTokenProvider({ authorityUrl: config.POWERBI_AUTHORITY_URL, tenantId: creds.tenantId, clientId: creds.clientId, clientSecret: creds.clientSecret });
}
