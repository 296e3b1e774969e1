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
import { registerSecret } from './log.js';

/**
 * How a variable's text (undefined when unset) becomes its value, or why it cannot: an `Invalid`
 * whose message never repeats the text. Plain functions, not zod schemas: every start parses
 * every variable, and building and running zod's schemas for them was ~6 ms of publish's start,
 * then ~30 ms above a bare Node server's (bench/cold-start.ts, --cpu-prof).
 */
export type Field<T> = (raw: string | undefined) => T | Invalid;
export class Invalid {
  constructor(readonly message: string) {}
}
const invalid = (message: string) => new Invalid(message);

export interface Variable<T = unknown> {
  field: Field<T>;
  description: string;
  /** The secret file name it may be read from (`<SECRETS_DIR>/<file>`); secrets are masked in logs. */
  secret?: string;
}

export type Variables = Record<string, Variable>;
export type Values<V extends Variables> = { [K in keyof V]: V[K] extends Variable<infer T> ? T : never };

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

export function variable<T>(field: Field<T>, description: string, opts: { secret?: string } = {}): Variable<T> {
  return { field, description, ...opts };
}

// Field types.
/** A further rule on a field's value: a message when it breaks it. */
export const refine =
  <T>(field: Field<T>, check: (v: T) => string | undefined): Field<T> =>
  (raw) => {
    const v = field(raw);
    if (v instanceof Invalid) return v;
    const message = check(v);
    return message === undefined ? v : invalid(message);
  };
/** Text: unset is `def`; `min` characters at least. */
export const text =
  (def: string, min = 0, message = `must be at least ${min} characters`): Field<string> =>
  (raw) =>
    raw === undefined ? def : raw.length < min ? invalid(message) : raw;
const numberIn = (whole: boolean) => (def: number, min = 0, max = Number.MAX_SAFE_INTEGER): Field<number> => {
  const message = `must be ${whole ? 'an integer' : 'a number'} from ${min} to ${max}`;
  return (raw) => {
    if (raw === undefined) return def;
    const v = Number(raw);
    return Number.isNaN(v) || v < min || v > max || (whole && !Number.isInteger(v)) ? invalid(message) : v;
  };
};
export const int = numberIn(true);
export const num = numberIn(false);
/** One of `values`; unset is `def`. */
export const oneOf =
  <const V extends readonly string[]>(values: V, def: V[number], message = `must be one of ${values.join(', ')}`): Field<V[number]> =>
  (raw) =>
    raw === undefined ? def : values.includes(raw) ? raw : invalid(message);
const BOOL_WORDS: readonly string[] = ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'];
const TRUE_WORDS: readonly string[] = ['true', '1', 'yes', 'on'];
/** One of BOOL_WORDS; unset: `def` itself (what the word for it would give). */
export const bool =
  (def: boolean): Field<boolean> =>
  (raw) =>
    raw === undefined ? def : BOOL_WORDS.includes(raw) ? TRUE_WORDS.includes(raw) : invalid(`must be one of ${BOOL_WORDS.join(', ')}`);
const words = (text: string) => text.split(',').map((s) => s.trim()).filter(Boolean);
/** Comma-separated, trimmed, empty items dropped. */
export const list =
  (def: string): Field<string[]> =>
  (raw) =>
    words(raw ?? def);
/** Comma-separated words, each one of `values`, at least one. */
export const listOf =
  <const V extends readonly string[]>(values: V, def: string, message: string): Field<V[number][]> =>
  (raw) => {
    const v = words(raw ?? def);
    return v.length && v.every((w) => values.includes(w)) ? v : invalid(message);
  };
/** Trimmed; unset or blank is undefined. */
export const optionalString: Field<string | undefined> = (raw) => (raw === undefined || raw.trim() === '' ? undefined : raw.trim());
/** A bearer token: at least 16 characters (a short one is refused at start, naming the variable). */
export const token = refine(optionalString, (v) => (v !== undefined && v.length < 16 ? 'must be at least 16 characters' : undefined));
const isHttpUrl = (v: string) => {
  try {
    return /^https?:$/.test(new URL(v).protocol);
  } catch {
    return false;
  }
};
export const httpUrl =
  (def: string): Field<string> =>
  (raw) =>
    raw === undefined ? def : isHttpUrl(raw) ? raw : invalid('must be an http(s) URL');
export const optionalUrl = refine(optionalString, (v) => (v !== undefined && !isHttpUrl(v) ? 'must be an http(s) URL' : undefined));
export const bucketName = (def: string) => refine(text(def), (v) => (/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v) ? undefined : 'must be a valid S3 bucket name (3-63 chars: a-z, 0-9, dot, hyphen)'));
/** A JSON object (unset: `{}`) whose every value `isValue` accepts. */
export const jsonObjectOf =
  <T>(isValue: (v: unknown) => v is T, message: string): Field<Record<string, T>> =>
  (raw) => {
    try {
      const v = JSON.parse(raw ?? '{}') as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every(isValue)) return v as Record<string, T>;
    } catch {
      /* fall through */
    }
    return invalid(message);
  };
export const jsonObjectOfStrings = (what: string) => jsonObjectOf((v): v is string => typeof v === 'string', `must be a JSON object of ${what}`);

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
      const value = v.field(raw);
      if (value instanceof Invalid) {
        problem(name, value.message);
        ok = false;
        continue;
      }
      values[name] = value;
      if (v.secret && typeof value === 'string') secrets.push(value);
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
  const def = v.field(undefined);
  if (def instanceof Invalid || def === undefined) return '';
  if (Array.isArray(def)) return def.join(',');
  if (typeof def === 'object' && def !== null) return JSON.stringify(def);
  return String(def);
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
    HOST: variable(text('0.0.0.0'), 'Address the function listens on: every interface in a container; the local stack sets 127.0.0.1.'),
    HANDLER_TIMEOUT_SECONDS: variable(num(840, 1), 'Handler deadline: past it the request is aborted and answered 504.'),
    BODY_IDLE_SECONDS: variable(num(30, 0, 3600), 'A request whose body sends nothing for this long ends with 408 (0: never).'),
    DRAIN_SECONDS: variable(num(5, 0, 3600), 'After SIGTERM: how long the function keeps serving with /_/ready failing (at least of-watchdog’s healthcheck_interval), before it stops listening and finishes what is in flight.'),
    READY_LOCK_FILE: variable(optionalString, 'Written once the function listens, removed on SIGTERM (the image sets /tmp/.lock with of-watchdog’s suppress_lock=true, so /_/health waits for Node).'),
    LOG_LEVEL: variable(oneOf(['debug', 'info', 'warn', 'error'], 'info'), 'debug, info, warn or error.'),
    SECRETS_DIR: variable(text('/var/openfaas/secrets'), 'Where secret files are mounted (OpenFaaS and the Knative manifests use the same path).'),
  },
});

/** Where the functions reach one another: OpenFaaS-style `/function/<name>` paths on a gateway. */
export const gatewayConfig = component({
  name: 'gateway',
  vars: {
    GATEWAY_URL: variable(httpUrl('http://127.0.0.1:8080'), 'Gateway the functions call one another through (`<GATEWAY_URL>/function/<name>`).'),
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
