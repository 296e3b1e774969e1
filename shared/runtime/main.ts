/**
 * Process entry shared by the three functions (locally and in the image): load and validate
 * the configuration (exit 1 naming every bad variable), then serve the handler on PORT.
 */
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './log.js';
import { serveFunction, type FunctionHandler } from './server.js';

export interface FunctionModule {
  name: string;
  /** Largest request body in bytes (Infinity: streamed). */
  maxBodyBytes: number;
  create(config: Config): FunctionHandler;
  /** Checked at start so that a bad setting fails fast (e.g. the webhook needs a token). */
  validate?(config: Config): string[];
}

export async function runFunction(mod: FunctionModule): Promise<void> {
  const log = createLogger({ fn: mod.name });
  let config: Config;
  try {
    config = loadConfig();
    const problems = mod.validate?.(config) ?? [];
    if (problems.length) throw new ConfigError(problems.map((p) => ({ variable: p.split(':')[0], message: p.split(':').slice(1).join(':').trim() })));
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error('invalid configuration', { variables: err.variables, detail: err.message });
      process.stderr.write(err.message + '\n');
      process.exit(1);
    }
    throw err;
  }
  const running = await serveFunction({
    name: mod.name,
    handler: mod.create(config),
    port: config.PORT,
    maxBodyBytes: mod.maxBodyBytes,
    drainSeconds: config.DRAIN_SECONDS,
    timeoutSeconds: config.HANDLER_TIMEOUT_SECONDS,
    log,
    handleSignals: true,
  });
  // Always printed, whatever LOG_LEVEL: the local stack and cold-start measurements read it.
  createLogger({ fn: mod.name }, { level: 'info' }).info('ready', { port: running.port });
}
