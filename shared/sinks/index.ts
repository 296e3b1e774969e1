/** The row sinks chosen by configuration. */
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { PowerBiPushSink } from './powerbi-push.js';
import { EntraTokenProvider } from './entra-token.js';
import { PowerBiRestSink } from './powerbi-rest.js';
import type { RowSink } from './sink.js';

export function createSinks(config: Config, log: Logger): RowSink[] {
  const sinks: RowSink[] = [];
  if (config.POWERBI_ENABLED && config.POWERBI_PUSH_URL) {
    sinks.push(
      new PowerBiPushSink({
        url: config.POWERBI_PUSH_URL,
        maxRequestBytes: config.POWERBI_MAX_REQUEST_BYTES,
        requestsPerSecond: config.POWERBI_MAX_REQUESTS_PER_SECOND,
        timeoutMs: config.POWERBI_TIMEOUT_SECONDS * 1000,
        maxRetries: config.POWERBI_MAX_RETRIES,
        log,
      }),
    );
  }
  if (config.POWERBI_ENABLED && restTokens(config)) {
    sinks.push(
      new PowerBiRestSink({
        apiUrl: config.POWERBI_API_URL,
        groupId: config.POWERBI_GROUP_ID!,
        datasetId: config.POWERBI_DATASET_ID ?? createdDatasetId,
        table: config.POWERBI_TABLE,
        tokens: restTokens(config)!,
        sequenceNumbers: config.POWERBI_SEQUENCE_NUMBERS,
        createDataset: config.POWERBI_CREATE_DATASET ? { name: config.POWERBI_DATASET_NAME, retention: config.POWERBI_RETENTION } : undefined,
        columnMap: config.POWERBI_COLUMN_MAP,
        maxRowsPerFile: config.POWERBI_MAX_ROWS_PER_FILE,
        bigTable: config.POWERBI_BIG_TABLE,
        timeoutMs: config.POWERBI_TIMEOUT_SECONDS * 1000,
        maxRetries: config.POWERBI_MAX_RETRIES,
        log,
        rememberDataset: async (id) => {
          createdDatasetId = id;
        },
      }),
    );
  }
  return sinks;
}

let createdDatasetId: string | undefined;
let tokens: EntraTokenProvider | undefined;

/** One token cache per process (tokens are reused across files until they near expiry). */
function restTokens(config: Config): EntraTokenProvider | undefined {
  if (!config.POWERBI_TENANT_ID || !config.POWERBI_CLIENT_ID || !config.POWERBI_CLIENT_SECRET || !config.POWERBI_GROUP_ID) return undefined;
  tokens ??= new EntraTokenProvider({ authorityUrl: config.POWERBI_AUTHORITY_URL, tenantId: config.POWERBI_TENANT_ID, clientId: config.POWERBI_CLIENT_ID, clientSecret: config.POWERBI_CLIENT_SECRET });
  return tokens;
}
