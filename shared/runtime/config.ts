/**
 * Configuration from the environment, validated once at start with zod.
 * Secrets may also come from `<NAME>_FILE` or from an OpenFaaS/Kubernetes secret file
 * `<SECRETS_DIR>/<secret-name>` (default `/var/openfaas/secrets`). A bad configuration
 * names every bad variable (never its value) and the process exits non-zero.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { registerSecret } from './log.js';

/** Secret variables and the secret file name each one is read from. */
export const SECRET_FILES = {
  WEBHOOK_TOKEN: 'webhook-token',
  S3_ACCESS_KEY: 's3-access-key',
  S3_SECRET_KEY: 's3-secret-key',
  POWERBI_PUSH_URL: 'powerbi-push-url',
  POWERBI_CLIENT_SECRET: 'powerbi-client-secret',
} as const;

export const LOCAL_S3_ACCESS_KEY = 'minipipeline';
export const LOCAL_S3_SECRET_KEY = 'minipipeline-local-secret';

const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(def);
const num = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().min(min).max(max).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
    .default(def ? 'true' : 'false')
    .transform((v) => ['true', '1', 'yes', 'on'].includes(v));
const list = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const bucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name (3-63 chars: a-z, 0-9, dot, hyphen)');

export const ConfigSchema = z.object({
  S3_ENDPOINT: optionalString.pipe(httpUrl.optional()),
  S3_PORT: int(9000, 0, 65535),
  S3_ACCESS_KEY: z.string().min(3).default(LOCAL_S3_ACCESS_KEY),
  S3_SECRET_KEY: z.string().min(8, 'must be at least 8 characters').default(LOCAL_S3_SECRET_KEY),
  S3_REGION: z.string().default('us-east-1'),
  S3_PART_SIZE_MB: int(8, 5, 5120),
  INPUT_BUCKET: bucketName.default('incoming'),
  OUTPUT_BUCKET: bucketName.default('processed'),
  INPUT_PREFIX: z.string().default(''),
  INPUT_SUFFIXES: list('.csv'),
  WEBHOOK_TOKEN: optionalString,
  WEBHOOK_WAIT_SECONDS: num(25, 0, 55),
  LEASE_SECONDS: int(900, 1),
  POWERBI_ENABLED: bool(true),
  POWERBI_PUSH_URL: optionalString.pipe(httpUrl.optional()),
  POWERBI_TENANT_ID: optionalString,
  POWERBI_CLIENT_ID: optionalString,
  POWERBI_CLIENT_SECRET: optionalString,
  POWERBI_GROUP_ID: optionalString,
  POWERBI_DATASET_ID: optionalString,
  POWERBI_TABLE: z.string().default('RealTimeData'),
  POWERBI_API_URL: httpUrl.default('https://api.powerbi.com'),
  POWERBI_AUTHORITY_URL: httpUrl.default('https://login.microsoftonline.com'),
  POWERBI_SEQUENCE_NUMBERS: bool(true),
  POWERBI_CREATE_DATASET: bool(false),
  POWERBI_DATASET_NAME: z.string().default('mini-pipeline'),
  POWERBI_RETENTION: z.enum(['basicFIFO', 'None']).default('basicFIFO'),
  POWERBI_COLUMN_MAP: z
    .string()
    .default('{}')
    .transform((s, ctx) => {
      try {
        const v = JSON.parse(s) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')) return v as Record<string, string>;
      } catch {
        /* fall through */
      }
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of dataset column → Power BI column names' });
      return z.NEVER;
    }),
  POWERBI_MAX_ROWS_PER_FILE: int(1_000_000, 1),
  POWERBI_BIG_TABLE: bool(false),
  POWERBI_MAX_REQUEST_BYTES: int(15360, 256, 16 * 1024 * 1024),
  POWERBI_MAX_REQUESTS_PER_SECOND: num(5, 0.1, 1000),
  POWERBI_TIMEOUT_SECONDS: num(30, 1, 600),
  POWERBI_MAX_RETRIES: int(8, 0, 100),
  GATEWAY_PORT: int(8080, 0, 65535),
  GATEWAY_URL: optionalString.pipe(httpUrl.optional()),
  TRANSFORM_URL: optionalString.pipe(httpUrl.optional()),
  PUBLISH_URL: optionalString.pipe(httpUrl.optional()),
  DATA_DIR: z.string().default('.data'),
  PORT: int(3000, 0, 65535),
  HANDLER_TIMEOUT_SECONDS: num(840, 1),
  DRAIN_SECONDS: num(30, 0, 3600),
  CSV_ENCODING: z.enum(['auto', 'utf-8', 'windows-1252', 'latin1']).default('auto'),
  CSV_DELIMITER: z.enum(['auto', ',', ';', '\t', '|', 'tab']).default('auto'),
  CSV_DECIMAL: z.enum(['auto', '.', ',']).default('auto'),
  CSV_NULL_VALUES: list(',NA,N/A,null,NULL,n/a,#N/A'),
  CSV_FOLD_ACCENTS: bool(false),
  CSV_SNAKE_CASE: bool(true),
  CSV_SAMPLE_ROWS: int(1000, 1, 1_000_000),
  CSV_MAX_FIELD_BYTES: int(10 * 1024 * 1024, 1024),
  CSV_MAX_RECORD_BYTES: int(32 * 1024 * 1024, 1024),
  CSV_MAX_COLUMNS: int(2000, 1, 100_000),
  CSV_MAX_REJECT_RATIO: num(0.05, 0, 1),
  CSV_ESCAPE_FORMULAS: bool(true),
  CSV_SCHEMA_FILE: optionalString,
  TRANSFORM_JSON_MAX_BYTES: int(10 * 1024 * 1024, 1024),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  SECRETS_DIR: z.string().default('/var/openfaas/secrets'),
});

export type Config = z.infer<typeof ConfigSchema> & {
  /** Where the functions reach one another (gateway paths by default). */
  transformUrl: string;
  publishUrl: string;
  s3EndpointUrl: string;
};

export class ConfigError extends Error {
  readonly variables: string[];
  constructor(problems: { variable: string; message: string }[]) {
    super('Invalid configuration:\n' + problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
    this.variables = problems.map((p) => p.variable);
  }
}

type Env = Record<string, string | undefined>;

/** Resolve secret variables from `<NAME>_FILE` or the secrets directory when not set directly. */
export function resolveSecrets(env: Env): Env {
  const out: Env = { ...env };
  const dir = env.SECRETS_DIR || '/var/openfaas/secrets';
  for (const [name, file] of Object.entries(SECRET_FILES)) {
    if (out[name]) continue;
    // An explicit <NAME>_FILE is the only place looked at; else the secrets directory.
    const candidates = env[`${name}_FILE`] ? [env[`${name}_FILE`]!] : [join(dir, file)];
    for (const path of candidates) {
      try {
        out[name] = readFileSync(path, 'utf8').trim();
        break;
      } catch {
        if (path === env[`${name}_FILE`]) out[name] = `\u0000unreadable:${name}_FILE`;
      }
    }
  }
  return out;
}

export function loadConfig(env: Env = process.env): Config {
  const resolved = resolveSecrets(env);
  const unreadable = Object.keys(SECRET_FILES).filter((k) => resolved[k]?.startsWith('\u0000unreadable:'));
  for (const k of unreadable) delete resolved[k];
  const parsed = ConfigSchema.safeParse(resolved);
  const problems = unreadable.map((k) => ({ variable: `${k}_FILE`, message: 'file cannot be read' }));
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push({ variable: String(issue.path[0] ?? '(env)'), message: issue.message });
    }
  }
  if (parsed.success) {
    // The REST route needs all of tenant, client, secret and workspace, or none of them.
    const rest = ['POWERBI_TENANT_ID', 'POWERBI_CLIENT_ID', 'POWERBI_CLIENT_SECRET', 'POWERBI_GROUP_ID'] as const;
    const given = rest.filter((k) => parsed.data[k]);
    if (given.length && given.length < rest.length) {
      for (const k of rest) if (!parsed.data[k]) problems.push({ variable: k, message: 'required for the Power BI REST API (service principal) when the other POWERBI_* credentials are set' });
    }
    if (given.length === rest.length && !parsed.data.POWERBI_DATASET_ID && !parsed.data.POWERBI_CREATE_DATASET) {
      problems.push({ variable: 'POWERBI_DATASET_ID', message: 'required (or POWERBI_CREATE_DATASET=true)' });
    }
  }
  if (parsed.success && parsed.data.LEASE_SECONDS <= parsed.data.HANDLER_TIMEOUT_SECONDS) {
    // A run may last until its deadline; a lease that expires first would let a second run start.
    problems.push({ variable: 'LEASE_SECONDS', message: `must be longer than HANDLER_TIMEOUT_SECONDS (${parsed.data.HANDLER_TIMEOUT_SECONDS})` });
  }
  if (problems.length || !parsed.success) throw new ConfigError(problems);
  const c = parsed.data;
  for (const k of Object.keys(SECRET_FILES)) registerSecret((c as Record<string, unknown>)[k] as string | undefined);
  const gateway = c.GATEWAY_URL ?? `http://127.0.0.1:${c.GATEWAY_PORT}`;
  return {
    ...c,
    transformUrl: c.TRANSFORM_URL ?? `${gateway}/function/transform`,
    publishUrl: c.PUBLISH_URL ?? `${gateway}/function/publish`,
    s3EndpointUrl: c.S3_ENDPOINT ?? `http://127.0.0.1:${c.S3_PORT}`,
  };
}
