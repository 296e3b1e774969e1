/** The running local stack, as `npm start` describes itself in `DATA_DIR/stack.json`. */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../shared/runtime/config.js';
import { createStorage, type Storage } from '../shared/storage/s3.js';
import { devConfig } from './config.js';

export function findStack(env: NodeJS.ProcessEnv = process.env): RunningStack {
  const dir = resolve(loadConfig({ dev: devConfig }, env).dev.DATA_DIR);
  const file = join(dir, STACK_STATE_FILE);
  const fail = (why: string): never => {
    process.stderr.write(`${why}\nStart the pipeline first: npm start (in another terminal).\n`);
    process.exit(2);
  };
  if (!existsSync(file)) fail(`No running mini-pipeline found (no ${file}).`);
  const stack = JSON.parse(readFileSync(file, 'utf8')) as RunningStack;
  try {
    process.kill(stack.pid, 0);
  } catch {
    fail(`The mini-pipeline recorded in ${file} (pid ${stack.pid}) is no longer running.`);
  }
  return stack;
}

/** A client of the running stack's store. */
export function storageOf(stack: RunningStack): Storage {
  return createStorage({ S3_ENDPOINT: stack.s3Url, S3_ACCESS_KEY: stack.accessKey, S3_SECRET_KEY: stack.secretKey, S3_REGION: 'us-east-1', S3_PART_SIZE_MB: 8 });
}

export const STACK_STATE_FILE = 'stack.json';

/** What a running local stack publishes about itself in `DATA_DIR/stack.json`. */
export interface RunningStack {
  pid: number;
  s3Url: string;
  accessKey: string;
  secretKey: string;
  inputBucket: string;
  outputBucket: string;
  inputPrefix: string;
  inputSuffixes: string[];
  gatewayUrl: string;
  consoleUrl?: string;
  internalToken: string;
}
