/** The row sinks chosen by configuration. */
import { restCredentials, type PowerBiConfig } from '../../shared/sinks/powerbi/config.js';
import type { Logger } from '../../shared/runtime/log.js';
import { PowerBiPushSink } from '../../shared/sinks/powerbi/push-url.js';
import { EntraTokenProvider } from '../../shared/sinks/powerbi/entra-token.js';
import { PowerBiRestSink } from '../../shared/sinks/powerbi/rest/sink.js';
import type { RowSink } from '../../shared/sinks/sink.js';
import { getJson, putJson, type Storage } from '../../shared/storage/s3.js';

/** Where a dataset created by the REST sink is remembered: the output bucket, so every replica and restart reuses it. */
export interface DatasetMemory {
  load(): Promise<string | undefined>;
  save(id: string): Promise<void>;
}

export function s3DatasetMemory(s3: Storage, bucket: string, config: PowerBiConfig): DatasetMemory {
  const key = `_state/powerbi-dataset-${config.POWERBI_GROUP_ID}-${config.POWERBI_DATASET_NAME}.json`.replace(/[^\w./-]/g, '_');
  return {
    load: async () => (await getJson<{ id: string }>(s3, bucket, key))?.id,
    save: (id) => putJson(s3, bucket, key, { id, createdAt: new Date().toISOString() }),
  };
}

/** Built once per process: limiters and token caches then hold across concurrent requests. */
export function createSinks(config: PowerBiConfig, log: Logger, memory?: DatasetMemory): RowSink[] {
  const sinks: RowSink[] = [];
  if (config.POWERBI_ENABLED && config.POWERBI_PUSH_URL) {
    sinks.push(
      new PowerBiPushSink({
        url: config.POWERBI_PUSH_URL,
        maxRequestBytes: config.POWERBI_MAX_REQUEST_BYTES,
        requestsPerSecond: config.POWERBI_MAX_REQUESTS_PER_SECOND,
        timeoutMs: config.POWERBI_TIMEOUT_SECONDS * 1000,
        maxRetries: config.POWERBI_MAX_RETRIES,
        maxRowsPerFile: config.POWERBI_MAX_ROWS_PER_FILE,
        log,
      }),
    );
  }
  const tokens = config.POWERBI_ENABLED ? restTokens(config) : undefined;
  if (tokens) {
    sinks.push(
      new PowerBiRestSink({
        apiUrl: config.POWERBI_API_URL,
        groupId: config.POWERBI_GROUP_ID!,
        datasetId: config.POWERBI_DATASET_ID,
        loadDataset: memory?.load,
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
        rememberDataset: memory?.save,
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
