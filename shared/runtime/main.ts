/**
 * Process entry shared by the functions (locally and in the image): load and validate the
 * configuration the function is built from (exit 1 naming every bad variable), create the
 * function once, serve it on PORT, and stop it on SIGTERM after draining.
 */
import { ConfigError, loadConfig, runtimeConfig, type Components, type ConfigProblem, type Env, type Loaded, type RuntimeConfig } from './config.js';
import { codeCacheState } from './code-cache.js';
import { createLogger } from './log.js';
import { serveFunction, type FunctionHandler } from './server.js';

/** A function once created: its handler, and what to stop on shutdown (timers, sweepers). */
export interface FunctionInstance {
  handle: FunctionHandler;
  /** What must hold before the function is ready (its store and buckets); throws the reason. */
  ready?(): Promise<void>;
  /** Called once the function is ready: start-up work that need not delay it (the webhook's first sweeps). */
  whenReady?(): void;
  shutdown?(): Promise<void> | void;
}

export interface FunctionModule<C extends Components = Components> {
  name: string;
  /** Largest request body in bytes (Infinity: streamed). */
  maxBodyBytes: number;
  /** The components the function is built from; each receives only its own variables. */
  config: C;
  /** Rules across components, checked at start so that a bad setting fails fast. */
  validate?(config: Loaded<C>, runtime: RuntimeConfig): ConfigProblem[];
  /** Built once per process. */
  create(config: Loaded<C>): FunctionInstance;
}

/** Declare a function module (keeps the config's types). */
export function defineFunction<C extends Components>(mod: FunctionModule<C>): FunctionModule<C> {
  return mod;
}

/** Load the runtime's and the function's components, and check the rules across them. */
export function loadFunctionConfig<C extends Components>(mod: FunctionModule<C>, env: Env = process.env): { config: Loaded<C>; runtime: RuntimeConfig } | ConfigError {
  const problems: ConfigProblem[] = [];
  const attempt = <T>(load: () => T): T | undefined => {
    try {
      return load();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
      return undefined;
    }
  };
  const runtime = attempt(() => loadConfig({ runtime: runtimeConfig }, env).runtime);
  const config = attempt(() => loadConfig(mod.config, env));
  if (runtime && config) problems.push(...(mod.validate?.(config, runtime) ?? []));
  return problems.length || !runtime || !config ? new ConfigError(problems) : { config, runtime };
}

export async function runFunction<C extends Components>(mod: FunctionModule<C>, env: Env = process.env): Promise<void> {
  const log = createLogger({ fn: mod.name });
  const loaded = loadFunctionConfig(mod, env);
  if (loaded instanceof ConfigError) {
    log.error('invalid configuration', { variables: loaded.variables, detail: loaded.message });
    process.stderr.write(loaded.message + '\n');
    process.exit(1);
  }
  const { config, runtime } = loaded;
  const instance = mod.create(config);
  const running = await serveFunction({
    name: mod.name,
    handler: instance.handle,
    port: runtime.PORT,
    host: runtime.HOST,
    maxBodyBytes: mod.maxBodyBytes,
    drainSeconds: runtime.DRAIN_SECONDS,
    lockFile: runtime.READY_LOCK_FILE,
    timeoutSeconds: runtime.HANDLER_TIMEOUT_SECONDS,
    bodyIdleSeconds: runtime.BODY_IDLE_SECONDS,
    log,
    handleSignals: true,
    onShutdown: () => instance.shutdown?.(),
    readiness: instance.ready ? () => instance.ready!() : undefined,
    // Always printed, whatever LOG_LEVEL: the local stack and cold-start measurements read it.
    onReady: (port) => {
      createLogger({ fn: mod.name }, { level: 'info' }).info('ready', { port, startMs: Math.round(process.uptime() * 1000), codeCache: codeCacheState() ?? 'absent' });
      instance.whenReady?.();
    },
  });
  createLogger({ fn: mod.name }, { level: 'info' }).info('listening', { port: running.port });
}

/** The lease must outlast the handler deadline, or a live run could be started twice. */
export function leaseOutlastsHandler(c: { lease: { LEASE_SECONDS: number } }, runtime: RuntimeConfig): ConfigProblem[] {
  return c.lease.LEASE_SECONDS > runtime.HANDLER_TIMEOUT_SECONDS ? [] : [{ variable: 'LEASE_SECONDS', message: `must be longer than HANDLER_TIMEOUT_SECONDS (${runtime.HANDLER_TIMEOUT_SECONDS})` }];
}
