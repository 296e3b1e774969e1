/** Power BI: the push URL route and the REST route (service principal), and their limits. */
import { bool, component, httpUrl, int, jsonObjectOf, jsonObjectOfStrings, num, oneOf, optionalString, optionalUrl, text, variable, type Field, type Values } from '../../runtime/config.js';

/** POWERBI_ROUTES: key prefix → the dataset and/or table its files go to (REST route). */
export interface RestRoute {
  datasetId?: string;
  table?: string;
  /** Push URL route: the streaming dataset this prefix's files go to. */
  pushUrl?: string;
}

/** A route: {"pushUrl": "http(s)://…"} or {"datasetId", "table"}, every value a non-empty string. */
const isRoute = (r: unknown): r is RestRoute =>
  !!r && typeof r === 'object' && !Array.isArray(r) && Object.entries(r).every(([k, x]) => (k === 'datasetId' || k === 'table' || (k === 'pushUrl' && /^https?:\/\//.test(String(x)))) && typeof x === 'string' && x.length > 0);
const routes = jsonObjectOf(isRoute, 'must be a JSON object of key prefix → {"pushUrl": "https://…"} or {"datasetId": "…", "table": "…"}');

/** A push URL, or none: unset, empty, or the word `none` (OpenFaaS refuses an empty secret). */
const pushUrl: Field<string | undefined> = (raw) => (raw?.trim().toLowerCase() === 'none' ? undefined : optionalUrl(raw));

const REST_CREDENTIALS = ['POWERBI_TENANT_ID', 'POWERBI_CLIENT_ID', 'POWERBI_CLIENT_SECRET', 'POWERBI_GROUP_ID'] as const;

export const powerbiConfig = component({
  name: 'powerbi',
  vars: {
    POWERBI_ENABLED: variable(bool(true), 'false: publish writes only the output bucket.'),
    POWERBI_PUSH_URL: variable(pushUrl, 'Push URL of a streaming or push dataset (from the Power BI UI); `none`: no push URL (for a secret that must exist and not be empty, as on OpenFaaS).', { secret: 'powerbi-push-url' }),
    POWERBI_TENANT_ID: variable(optionalString, 'REST route: Entra tenant of the service principal.'),
    POWERBI_CLIENT_ID: variable(optionalString, 'REST route: the service principal (app) id.'),
    POWERBI_CLIENT_SECRET: variable(optionalString, 'REST route: the service principal secret.', { secret: 'powerbi-client-secret' }),
    POWERBI_GROUP_ID: variable(optionalString, 'REST route: the workspace id.'),
    POWERBI_DATASET_ID: variable(optionalString, 'REST route: the push dataset (or POWERBI_CREATE_DATASET=true).'),
    POWERBI_TABLE: variable(text('RealTimeData'), 'REST route: the table rows are posted to (case-sensitive).'),
    POWERBI_API_URL: variable(httpUrl('https://api.powerbi.com'), 'REST route: the API base URL.'),
    POWERBI_AUTHORITY_URL: variable(httpUrl('https://login.microsoftonline.com'), 'REST route: the token authority.'),
    POWERBI_SEQUENCE_NUMBERS: variable(bool(false), 'REST route, opt-in: also send X-PowerBI-PushData-SequenceNumber (undocumented), so that a batch stored before a lost answer is not stored twice. Without it the bound is the one request in flight, counted in the manifest.'),
    POWERBI_CREATE_DATASET: variable(bool(false), 'REST route: one push dataset per distinct schema (column names and types), created on first use and named POWERBI_DATASET_NAME-<key folder>-<schema hash>; ids and columns kept in the output bucket (_state/powerbi/).'),
    POWERBI_ROUTES: variable(routes, 'JSON map from key prefix to where its files go (longest prefix wins): {"pushUrl"} for the push URL route (default POWERBI_PUSH_URL), {"datasetId", "table"} for the REST route (default POWERBI_DATASET_ID, POWERBI_TABLE). A file Power BI refuses ends partial.', { secret: 'powerbi-routes' }),
    POWERBI_DATASET_NAME: variable(text('mini-pipeline'), 'REST route: name of a created dataset.'),
    POWERBI_RETENTION: variable(oneOf(['basicFIFO', 'None'], 'basicFIFO'), 'REST route: retention policy of a created dataset.'),
    POWERBI_COLUMN_MAP: variable(jsonObjectOfStrings('dataset column → Power BI column names'), 'REST route: JSON map from dataset column to Power BI column.'),
    POWERBI_VERSION_COLUMN: variable(optionalString, 'REST route: a table column (String) that receives each row’s source version (etag or versionId), so a report can keep only the newest version. Added to created datasets.'),
    POWERBI_MAX_ROWS_PER_FILE: variable(int(1_000_000, 1), 'Rows pushed per file at most; the rest stay in the output bucket (rowsNotSent).'),
    POWERBI_BIG_TABLE: variable(bool(false), 'REST route: the table holds ≥ 250k rows (120 requests an hour).'),
    POWERBI_MAX_REQUEST_BYTES: variable(int(15360, 256, 16 * 1024 * 1024), 'Push URL: largest request body.'),
    POWERBI_MAX_REQUESTS_PER_SECOND: variable(num(5, 0.1, 1000), 'Push URL: request rate.'),
    POWERBI_TIMEOUT_SECONDS: variable(num(30, 1, 600), 'Timeout of one Power BI request.'),
    POWERBI_MAX_RETRIES: variable(int(8, 0, 100), 'Retries of one Power BI request (429, 5xx, timeouts, resets).'),
  },
  finish: (c, problem) => {
    // The REST route needs all of tenant, client, secret and workspace, or none of them.
    const given = REST_CREDENTIALS.filter((k) => c[k]);
    if (given.length && given.length < REST_CREDENTIALS.length) {
      for (const k of REST_CREDENTIALS) if (!c[k]) problem(k, 'required for the Power BI REST API (service principal) when the other POWERBI_* credentials are set');
    }
    if (given.length === REST_CREDENTIALS.length && !c.POWERBI_DATASET_ID && !c.POWERBI_CREATE_DATASET) problem('POWERBI_DATASET_ID', 'required (or POWERBI_CREATE_DATASET=true)');
    return c;
  },
});

export type PowerBiConfig = Values<typeof powerbiConfig.vars>;

/** The REST route's service-principal credentials, when all are given. */
export function restCredentials(c: PowerBiConfig) {
  if (!c.POWERBI_TENANT_ID || !c.POWERBI_CLIENT_ID || !c.POWERBI_CLIENT_SECRET || !c.POWERBI_GROUP_ID) return undefined;
  return { tenantId: c.POWERBI_TENANT_ID, clientId: c.POWERBI_CLIENT_ID, clientSecret: c.POWERBI_CLIENT_SECRET, groupId: c.POWERBI_GROUP_ID };
}
