/**
 * Configuration as a spec, the way Redpanda Connect declares component fields: every variable is
 * declared once, in the component that uses it, with its type, default, description and whether
 * it is a secret. A process loads the components it is built from and each component receives
 * only its own fields. Secrets may also come from `<NAME>_FILE` or from an OpenFaaS/Kubernetes
 * secret file `<SECRETS_DIR>/<secret-name>`. A bad configuration names every bad variable
 * (never its value) and the process exits non-zero. The README's table is generated from the
 * specs (`npm run docs`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { registerSecret } from './log.js';

export interface Variable<S extends z.ZodType = z.ZodType> {
  schema: S;
  description: string;
  /** The secret file name it may be read from (`<SECRETS_DIR>/<file>`); secrets are masked in logs. */
  secret?: string;
}

export type Variables = Record<string, Variable>;
export type Values<V extends Variables> = { [K in keyof V]: z.output<V[K]['schema']> };

export interface ConfigProblem {
  variable: string;
  message: string;
}

export interface Component<V extends Variables = Variables, Out = Values<V>> {
  /** Short name, used in the generated table. */
  name: string;
  vars: V;
  /** Cross-field rules and derived values: report problems, return what the component receives. */
  finish?: (values: Values<V>, problem: (variable: string, message: string) => void) => Out;
}

export function component<V extends Variables, Out = Values<V>>(c: Component<V, Out>): Component<V, Out> {
  return c;
}

export function variable<S extends z.ZodType>(schema: S, description: string, opts: { secret?: string } = {}): Variable<S> {
  return { schema, description, ...opts };
}

// Field types. Every variable of one kind and range shares one schema and adds only its default:
// each zod schema (and each chained call, which copies it) is a few KiB of objects, and every
// function's start builds its configuration's dozens of variables.
const sharedSchemas = new Map<string, z.ZodType>();
function shared<S extends z.ZodType>(key: string, build: () => S): S {
  let schema = sharedSchemas.get(key) as S | undefined;
  if (!schema) sharedSchemas.set(key, (schema = build()));
  return schema;
}
export const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) => shared(`int ${min} ${max}`, () => z.coerce.number().check(z.int(), z.gte(min), z.lte(max))).default(def);
export const num = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) => shared(`num ${min} ${max}`, () => z.coerce.number().check(z.gte(min), z.lte(max))).default(def);
const BOOL_WORDS = ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'] as const;
const TRUE_WORDS: readonly string[] = ['true', '1', 'yes', 'on'];
/** Unset: `def` itself (what the word for it would give). */
export const bool = (def: boolean) => shared('bool', () => z.enum(BOOL_WORDS).transform((v) => TRUE_WORDS.includes(v))).default(def);
export const list = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));
export const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
/** A bearer token: at least 16 characters (a short one is refused at start, naming the variable). */
export const token = optionalString.pipe(z.string().min(16, 'must be at least 16 characters').optional());
export const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
export const optionalUrl = optionalString.pipe(httpUrl.optional());
export const bucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name (3-63 chars: a-z, 0-9, dot, hyphen)');
export const jsonObjectOfStrings = (what: string) =>
  z
    .string()
    .default('{}')
    .transform((s, ctx) => {
      try {
        const v = JSON.parse(s) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string')) return v as Record<string, string>;
      } catch {
        /* fall through */
      }
      ctx.addIssue({ code: 'custom', message: `must be a JSON object of ${what}` });
      return z.NEVER;
    });

export class ConfigError extends Error {
  readonly variables: string[];
  constructor(readonly problems: ConfigProblem[]) {
    super('Invalid configuration:\n' + problems.map((p) => `  ${p.variable}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
    this.variables = problems.map((p) => p.variable);
  }
}

export type Env = Record<string, string | undefined>;
export type Components = Record<string, Component<any, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
export type Loaded<C extends Components> = { [K in keyof C]: C[K] extends Component<any, infer Out> ? Out : never }; // eslint-disable-line @typescript-eslint/no-explicit-any

const UNREADABLE = Symbol('unreadable');

/** A secret's value: the variable, else `<NAME>_FILE`, else `<SECRETS_DIR>/<file>`. */
function readSecret(env: Env, name: string, file: string): string | undefined | typeof UNREADABLE {
  if (env[name]) return env[name];
  const explicit = env[`${name}_FILE`];
  try {
    return readFileSync(explicit || join(env.SECRETS_DIR || '/var/openfaas/secrets', file), 'utf8').trim();
  } catch {
    return explicit ? UNREADABLE : undefined;
  }
}

/** Load a set of components from the environment; throws ConfigError naming every bad variable. */
export function loadConfig<C extends Components>(components: C, env: Env = process.env): Loaded<C> {
  const problems: ConfigProblem[] = [];
  const problem = (variable: string, message: string) => problems.push({ variable, message });
  const out: Record<string, unknown> = {};
  const secrets: string[] = [];
  for (const [key, comp] of Object.entries(components)) {
    const values: Record<string, unknown> = {};
    let ok = true;
    for (const [name, v] of Object.entries(comp.vars as Variables)) {
      let raw = env[name];
      if (v.secret) {
        const s = readSecret(env, name, v.secret);
        if (s === UNREADABLE) {
          problem(`${name}_FILE`, 'file cannot be read');
          ok = false;
          continue;
        }
        raw = s;
      }
      const parsed = v.schema.safeParse(raw);
      if (!parsed.success) {
        problem(name, parsed.error.issues[0]?.message ?? 'invalid');
        ok = false;
        continue;
      }
      values[name] = parsed.data;
      if (v.secret && typeof parsed.data === 'string') secrets.push(parsed.data);
    }
    if (!ok) continue;
    out[key] = comp.finish ? comp.finish(values, problem) : values;
  }
  if (problems.length) throw new ConfigError(problems);
  for (const s of secrets) registerSecret(s);
  return out as Loaded<C>;
}

/** The default a variable takes when unset, as shown in the docs. */
export function shownDefault(v: Variable): string {
  const r = v.schema.safeParse(undefined);
  if (!r.success || r.data === undefined) return '';
  if (Array.isArray(r.data)) return r.data.join(',');
  if (typeof r.data === 'object' && r.data !== null) return JSON.stringify(r.data);
  return String(r.data);
}

/** The markdown table of a set of components (the README's configuration section). */
export function configTable(components: Components): string {
  const rows = ['| variable | default | component | description |', '|---|---|---|---|'];
  const seen = new Set<string>();
  for (const comp of Object.values(components)) {
    for (const [name, v] of Object.entries(comp.vars as Variables)) {
      if (seen.has(name)) continue;
      seen.add(name);
      const def = shownDefault(v).replace(/\|/g, '\\|').replace(/\t/g, '\\t');
      const secret = v.secret ? ` Secret: also \`${name}_FILE\` or the secret file \`${v.secret}\`; masked in logs.` : '';
      rows.push(`| \`${name}\` | ${def === '' ? '' : `\`${def}\``} | ${comp.name} | ${v.description.replace(/\|/g, '\\|')}${secret} |`);
    }
  }
  return rows.join('\n');
}

/** What every function process reads: the server, its deadlines, logging and where secrets are mounted. */
export const runtimeConfig = component({
  name: 'runtime',
  vars: {
    PORT: variable(int(3000, 0, 65535), 'Port the function listens on (the watchdog proxies to it; Knative sets 8080).'),
    HOST: variable(z.string().default('0.0.0.0'), 'Address the function listens on: every interface in a container; the local stack sets 127.0.0.1.'),
    HANDLER_TIMEOUT_SECONDS: variable(num(840, 1), 'Handler deadline: past it the request is aborted and answered 504.'),
    BODY_IDLE_SECONDS: variable(num(30, 0, 3600), 'A request whose body sends nothing for this long ends with 408 (0: never).'),
    DRAIN_SECONDS: variable(num(5, 0, 3600), 'After SIGTERM: how long the function keeps serving with /_/ready failing (at least of-watchdog’s healthcheck_interval), before it stops listening and finishes what is in flight.'),
    READY_LOCK_FILE: variable(optionalString, 'Written once the function listens, removed on SIGTERM (the image sets /tmp/.lock with of-watchdog’s suppress_lock=true, so /_/health waits for Node).'),
    LOG_LEVEL: variable(z.enum(['debug', 'info', 'warn', 'error']).default('info'), 'debug, info, warn or error.'),
    SECRETS_DIR: variable(z.string().default('/var/openfaas/secrets'), 'Where secret files are mounted (OpenFaaS and the Knative manifests use the same path).'),
  },
});

/** Where the functions reach one another: OpenFaaS-style `/function/<name>` paths on a gateway. */
export const gatewayConfig = component({
  name: 'gateway',
  vars: {
    GATEWAY_URL: variable(httpUrl.default('http://127.0.0.1:8080'), 'Gateway the functions call one another through (`<GATEWAY_URL>/function/<name>`).'),
  },
  finish: (c) => ({ ...c, functionUrl: (name: string) => `${c.GATEWAY_URL.replace(/\/$/, '')}/function/${name}` }),
});

/** The credential of the calls inside the chain (webhook → transform → publish). */
export const internalConfig = component({
  name: 'chain',
  vars: {
    INTERNAL_TOKEN: variable(token, 'Bearer token of the calls inside the chain: webhook → transform → publish. Required; only the functions know it.', { secret: 'internal-token' }),
  },
  finish: (c, problem) => {
    if (!c.INTERNAL_TOKEN) problem('INTERNAL_TOKEN', 'required (the credential of the calls between the functions)');
    return { INTERNAL_TOKEN: c.INTERNAL_TOKEN as string };
  },
});

export type RuntimeConfig = Values<typeof runtimeConfig.vars>;
