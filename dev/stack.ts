/**
 * The whole pipeline on one machine: embedded S3 (unless S3_ENDPOINT is set), the Power BI
 * emulator (unless POWERBI_PUSH_URL is set), the gateway, the MinIO-format notification
 * bridge, and each function in its own process (the same entry as the image).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { loadConfig, runtimeConfig } from '../shared/runtime/config.js';
import { powerbiConfig } from '../shared/sinks/powerbi/config.js';
import { storageConfig, type StorageConfig } from '../shared/storage/config.js';
import { devConfig } from './config.js';
import { createLogger, type Logger } from '../shared/runtime/log.js';
import { createStorage, ensureBucket } from '../shared/storage/s3.js';
import { startEmbeddedS3, type EmbeddedS3, type S3RecordEvent } from './embedded-s3.js';
import { startGateway, type Gateway } from './gateway.js';
import { NotifyBridge } from './notify-bridge.js';
import { startEmulator, type EmulatorServer } from './powerbi/server.js';
import { startEventstreamEndpoint, type EventstreamEndpoint } from './eventstream/endpoint.js';
import type { EmuDataset } from './powerbi/model.js';
import { STACK_STATE_FILE, type RunningStack } from './running.js';
import { PipelineConsole } from './console.js';
import { NODE_RUNTIME_FLAGS } from '../shared/runtime/flags.js';
import { bundle } from './build.js';
import { Autoscaler } from './autoscaler.js';
import { inPod, type PodResource } from './pod-resources.js';
import { knativePolicy, openfaasPolicy } from './scale-policy.js';
import { wakeWhenDue } from './wake.js';

export const FUNCTIONS = ['webhook', 'transform', 'publish'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];
const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

export interface StackOptions {
  env?: Record<string, string | undefined>;
  /** Ports: 0 picks free ones (tests). Defaults come from the configuration. */
  gatewayPort?: number;
  s3Port?: number;
  emulatorPort?: number;
  bridgeRetryMs?: number;
  /** How a function process is started (default: node on the bundle); e.g. a container. */
  launcher?: (name: FunctionName, env: Record<string, string>) => ChildProcess;
  /** Node on the bundle within these of its pod's limits (`dev/pod-resources.ts`; root and cgroups). */
  pods?: PodResource[];
  /** Where function log lines go (default: stdout). */
  onLog?: (fn: string, line: string) => void;
  /** Each start-up step as it begins (npm start prints them). */
  onProgress?: (step: string) => void;
}

export interface FunctionProcess {
  name: FunctionName;
  child: ChildProcess;
  port: number;
  /** Peak resident set size in bytes so far (Linux VmHWM). */
  peakRss(): number;
}

export interface LocalStack {
  /** The storage the functions use, and the local stack's own settings. */
  config: { storage: StorageConfig; dev: ReturnType<typeof loadDev> };
  env: Record<string, string>;
  s3Url: string;
  gateway: Gateway;
  emulator?: EmulatorServer;
  emulatorDatasetId?: string;
  /** The local Eventstream endpoint (EVENTSTREAM_LOCAL=true without a connection string). */
  eventstream?: EventstreamEndpoint;
  dashboardUrl?: string;
  bridge?: NotifyBridge;
  s3?: EmbeddedS3;
  /** AUTOSCALE=knative|openfaas: the activator and autoscaler (processes come and go). */
  autoscaler?: Autoscaler<FunctionProcess>;
  /** The first process of each function (with REPLICAS=1, its only one). */
  functions: Map<FunctionName, FunctionProcess>;
  /** Every process of each function (REPLICAS of them), in the gateway's round-robin order. */
  replicas: Map<FunctionName, FunctionProcess[]>;
  log: Logger;
  /** Stop a function process (tests: a downstream outage) and start it again. */
  stopFunction(name: FunctionName): Promise<void>;
  startFunction(name: FunctionName): Promise<void>;
  /** A rolling restart: new process ready, old one drained while still routed to for a moment. */
  restartFunction(name: FunctionName, routeLagMs?: number): Promise<void>;
  /** The embedded store goes away for `ms`, then comes back with its data (a fault for tests). */
  s3Outage(ms: number): Promise<void>;
  stop(): Promise<void>;
}

function peakRssOf(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Node on a function's bundle, within its pod's limits when asked (its groups removed once it has exited). */
function spawnFunction(name: FunctionName, bundle: string, env: Record<string, string>, pods?: PodResource[]): ChildProcess {
  const argv = [process.execPath, ...NODE_RUNTIME_FLAGS, bundle];
  const pod = pods?.length ? inPod(name, pods, argv) : undefined;
  const child = spawn(pod?.file ?? argv[0], pod?.args ?? argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (pod) child.once('exit', pod.cleanUp);
  return child;
}

let built: Promise<Record<FunctionName, string>> | undefined;

/** Bundle the three functions once per process (esbuild, ~1 s). */
function buildBundles(): Promise<Record<FunctionName, string>> {
  built ??= (async () => {
    const out = {} as Record<FunctionName, string>;
    for (const name of FUNCTIONS) out[name] = resolve(ROOT, (await bundle(name, join(ROOT, 'dist'))).file);
    return out;
  })();
  return built;
}

function loadDev(env: Record<string, string | undefined>) {
  return loadConfig({ dev: devConfig }, env).dev;
}

export async function startLocalStack(opts: StackOptions = {}): Promise<LocalStack> {
  const baseEnv = { ...(opts.env ?? process.env) };
  const { dev, storage: store, runtime, powerbi } = loadConfig({ dev: devConfig, storage: storageConfig, runtime: runtimeConfig, powerbi: powerbiConfig }, baseEnv);
  const log = createLogger({ fn: 'dev' }, { level: runtime.LOG_LEVEL });
  const dataDir = resolve(dev.DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const token = baseEnv.WEBHOOK_TOKEN || 'local-webhook-token';
  // The chain's own credential: made fresh for each local run unless one is given.
  const internalToken = baseEnv.INTERNAL_TOKEN || randomBytes(24).toString('hex');
  const closers: (() => Promise<void>)[] = [];

  // Gateway first (functions call each other through it), routes filled in as they start.
  let autoscaler: Autoscaler<FunctionProcess> | undefined;
  const admission = dev.AUTOSCALE === 'off' ? undefined : { admit: (n: string) => autoscaler?.admit(n), functions: () => autoscaler?.functions() ?? [] };
  const gateway = await startGateway({ port: opts.gatewayPort ?? dev.GATEWAY_PORT, routes: [], admission });
  closers.push(() => gateway.close());

  // Object store.
  let s3: EmbeddedS3 | undefined;
  let s3Url = store.S3_ENDPOINT;
  // The embedded store, unless S3_ENDPOINT points at a real one.
  if (!baseEnv.S3_ENDPOINT) {
    mkdirSync(join(dataDir, 's3'), { recursive: true });
    s3 = await startEmbeddedS3({
      directory: join(dataDir, 's3'),
      port: opts.s3Port ?? dev.S3_PORT,
      accessKey: store.S3_ACCESS_KEY,
      secretKey: store.S3_SECRET_KEY,
      buckets: [store.INPUT_BUCKET, store.OUTPUT_BUCKET],
    });
    s3Url = s3.url;
    closers.push(() => s3?.close() ?? Promise.resolve());
  } else {
    const storage = createStorage(store);
    await ensureBucket(storage, store.INPUT_BUCKET, store.S3_REGION);
    await ensureBucket(storage, store.OUTPUT_BUCKET, store.S3_REGION);
  }

  // Notifications: embedded store events → MinIO-format webhook requests, wired before the store
  // takes its first write (like MinIO with queue_dir, events wait on disk until the webhook answers).
  let bridge: NotifyBridge | undefined;
  if (s3) {
    bridge = new NotifyBridge({
      queueDir: join(dataDir, 'events'),
      endpoint: () => `${gateway.url}/function/webhook`,
      token,
      retryMs: opts.bridgeRetryMs ?? dev.BRIDGE_RETRY_MS,
      buckets: [store.INPUT_BUCKET],
      accessKey: store.S3_ACCESS_KEY,
      log,
    });
    s3.events.on('event', (ev: S3RecordEvent) => bridge!.enqueue(ev));
    bridge.start();
  }
  // The console follows each file through the store's own writes (the page on the emulator's port).
  const reader = createStorage({ ...store, S3_ENDPOINT: s3Url });
  const pipelineConsole = s3 ? new PipelineConsole({ s3: () => reader, inputBucket: store.INPUT_BUCKET, outputBucket: store.OUTPUT_BUCKET, prefix: store.INPUT_PREFIX, suffixes: store.INPUT_SUFFIXES }) : undefined;
  if (s3 && pipelineConsole) s3.events.on('event', (ev: S3RecordEvent) => pipelineConsole.onStoreEvent(ev));

  // Power BI.
  // Your own Power BI endpoints (a push URL, or the REST route's API URL or service principal)
  // are used as given, with no emulator: try a real tenant, or any stand-in, from the laptop.
  let emulator: EmulatorServer | undefined;
  let pushUrl = powerbi.POWERBI_PUSH_URL;
  let emulatorDatasetId: string | undefined;
  const externalRest = ['POWERBI_API_URL', 'POWERBI_AUTHORITY_URL', 'POWERBI_TENANT_ID', 'POWERBI_CLIENT_ID', 'POWERBI_CLIENT_SECRET', 'POWERBI_GROUP_ID'].some((k) => baseEnv[k]);
  if (!pushUrl && !externalRest && powerbi.POWERBI_ENABLED) {
    emulator = await startEmulator({ port: opts.emulatorPort ?? dev.POWERBI_EMULATOR_PORT });
    closers.push(() => emulator!.close());
    // The local dataset keeps its id, key, tables and rows in DATA_DIR across restarts. Each
    // distinct schema gets its own table (a real push URL has one table and refuses other columns).
    const idFile = join(dataDir, 'powerbi-emulator.json');
    const rowsFile = join(dataDir, 'powerbi-rows.ndjson');
    const saved = existsSync(idFile) ? (JSON.parse(readFileSync(idFile, 'utf8')) as { id: string; key: string; tenantId: string; tables?: EmuDataset['tables'] }) : undefined;
    const ds = emulator.state.createDataset({ name: 'mini-pipeline', mode: 'PushStreaming', tablePerSchema: true, ...(saved ? { id: saved.id, key: saved.key, tenantId: saved.tenantId } : {}) });
    ds.tables = saved?.tables ?? [];
    ds.columns = ds.tables[0]?.columns;
    if (existsSync(rowsFile)) {
      for (const line of readFileSync(rowsFile, 'utf8').split('\n')) if (line) ds.rows.push(JSON.parse(line) as EmuDataset['rows'][number]);
    }
    const saveDataset = () => writeFileSync(idFile, JSON.stringify({ id: ds.id, key: ds.key, tenantId: ds.tenantId, tables: ds.tables }));
    saveDataset();
    emulator.state.onStored = (d, entries) => {
      if (d !== ds || !entries.length) return;
      appendFileSync(rowsFile, entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
      saveDataset();
    };
    pushUrl = emulator.state.pushUrl(ds, emulator.url);
    if (pipelineConsole) {
      pipelineConsole.attach(emulator);
      closers.push(async () => pipelineConsole.close());
      await pipelineConsole.rebuild();
    }
    emulatorDatasetId = ds.id;
  }
  // POWERBI_EMULATOR_ROUTE=rest|both: the REST route (service principal) against the emulator;
  // publish creates the push dataset from the first file's schema.
  const route = dev.POWERBI_EMULATOR_ROUTE;
  const restEnv: Record<string, string> = {};
  if (emulator && (route === 'rest' || route === 'both')) {
    const client = emulator.rest.registerClient({ tenantId: 'local-tenant', groups: ['local-workspace'] });
    Object.assign(restEnv, {
      POWERBI_API_URL: emulator.url,
      POWERBI_AUTHORITY_URL: emulator.url,
      POWERBI_TENANT_ID: client.tenantId,
      POWERBI_CLIENT_ID: client.clientId,
      POWERBI_CLIENT_SECRET: client.secret,
      POWERBI_GROUP_ID: 'local-workspace',
      POWERBI_CREATE_DATASET: 'true',
    });
  }

  // Eventstream: the local endpoint when asked for and no connection string is given; each batch it receives is a log line.
  let eventstream: EventstreamEndpoint | undefined;
  if (dev.EVENTSTREAM_LOCAL && !baseEnv.EVENTSTREAM_CONNECTION_STRING) {
    eventstream = await startEventstreamEndpoint({
      port: dev.EVENTSTREAM_LOCAL_PORT,
      onBatch: (events, partition) => log.info('eventstream received', { events: events.length, partition, objectKey: events[0]?.properties.objectKey, rows: `${events[0]?.properties.row}–${events.at(-1)?.properties.row}`, first: events[0]?.body }),
    });
    closers.push(() => eventstream!.close());
  }

  const env: Record<string, string> = {
    ...(Object.fromEntries(Object.entries(baseEnv).filter(([, v]) => v !== undefined)) as Record<string, string>),
    S3_ENDPOINT: s3Url,
    S3_ACCESS_KEY: store.S3_ACCESS_KEY,
    S3_SECRET_KEY: store.S3_SECRET_KEY,
    INPUT_BUCKET: store.INPUT_BUCKET,
    OUTPUT_BUCKET: store.OUTPUT_BUCKET,
    WEBHOOK_TOKEN: token,
    INTERNAL_TOKEN: internalToken,
    ...(pushUrl && (route !== 'rest' || !emulator) ? { POWERBI_PUSH_URL: pushUrl } : {}),
    ...restEnv,
    ...(eventstream ? { EVENTSTREAM_CONNECTION_STRING: eventstream.connectionString } : {}),
    GATEWAY_URL: gateway.url,
    PORT: '0',
    // Nothing of the local stack listens beyond this machine.
    HOST: '127.0.0.1',
    // Locally a stop need not wait long for a platform to notice: one second of draining.
    DRAIN_SECONDS: baseEnv.DRAIN_SECONDS ?? '1',
    SECRETS_DIR: join(dataDir, 'secrets'),
  };

  // Each function runs the same bundled file as the image (dist/<name>/index.cjs), built now.
  opts.onProgress?.('bundling the functions with esbuild (dist/)…');
  const bundles = await buildBundles();
  opts.onProgress?.('starting webhook, transform and publish…');
  const functions = new Map<FunctionName, FunctionProcess>();
  const replicas = new Map<FunctionName, FunctionProcess[]>();
  const onLog = opts.onLog ?? ((fn: string, line: string) => process.stdout.write(`[${fn}] ${line}\n`));

  /** Every function process still running, ready or not (a stop ends them all). */
  const spawned = new Set<ChildProcess>();
  /** Start one process of a function and wait for its ready line (nothing is routed to it yet). */
  const launch = (name: FunctionName) =>
    new Promise<FunctionProcess>((resolveStart, reject) => {
      const child = opts.launcher ? opts.launcher(name, env) : spawnFunction(name, bundles[name], env, opts.pods);
      spawned.add(child);
      child.once('exit', () => spawned.delete(child));
      let started = false;
      const fail = (why: string) => {
        if (!started) reject(new Error(`${name} did not start: ${why}`));
      };
      child.once('exit', (code) => fail(`exited with ${code}`));
      child.once('error', (e) => fail(e.message));
      createInterface({ input: child.stderr! }).on('line', (l) => onLog(name, l));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        onLog(name, line);
        if (started) return;
        try {
          const rec = JSON.parse(line) as { msg?: string; port?: number };
          if (rec.msg === 'ready' && rec.port) {
            started = true;
            resolveStart({ name, child, port: rec.port, peakRss: () => peakRssOf(child.pid) });
          }
        } catch {
          /* not JSON */
        }
      });
    });

  const routeTo = (name: FunctionName, procs: FunctionProcess[]) => {
    replicas.set(name, procs);
    functions.set(name, procs[0]);
    gateway.setRoute(name, procs.map((p) => p.port));
  };
  const startFunction = async (name: FunctionName) => {
    routeTo(name, await Promise.all(Array.from({ length: dev.REPLICAS }, () => launch(name))));
  };

  const terminate = async (fp: FunctionProcess) => {
    if (fp.child.exitCode !== null || fp.child.signalCode !== null) return;
    const exited = new Promise((r) => fp.child.once('exit', r));
    fp.child.kill('SIGTERM');
    await exited;
  };

  const stopFunction = async (name: FunctionName) => {
    const procs = replicas.get(name);
    if (!procs) return;
    functions.delete(name);
    replicas.delete(name);
    gateway.setRoute(name, 1); // nothing listens on port 1: calls fail fast, like a function scaled away
    await Promise.all(procs.map(terminate));
  };

  /**
   * A rolling restart as the platforms do it, one replica at a time: the new process starts and
   * becomes ready; the old one gets SIGTERM while the gateway still routes to it for a moment
   * (of-watchdog keeps routing for healthcheck_interval; Kubernetes until the endpoint is gone);
   * then traffic moves over.
   */
  const restartFunction = async (name: FunctionName, routeLagMs = 500) => {
    const procs = [...(replicas.get(name) ?? [])];
    if (!procs.length) return startFunction(name);
    for (let i = 0; i < procs.length; i++) {
      const next = await launch(name);
      const stopped = terminate(procs[i]);
      await new Promise((r) => setTimeout(r, routeLagMs));
      procs[i] = next;
      routeTo(name, [...procs]);
      await stopped;
    }
  };

  try {
    if (dev.AUTOSCALE === 'off') await Promise.all(FUNCTIONS.map(startFunction));
    else {
      const policyOf = dev.AUTOSCALE === 'knative' ? knativePolicy : openfaasPolicy;
      const overrides = { windowSeconds: dev.AUTOSCALE_WINDOW_SECONDS, holdSeconds: dev.AUTOSCALE_HOLD_SECONDS };
      autoscaler = new Autoscaler<FunctionProcess>(Object.fromEntries(FUNCTIONS.map((n) => [n, policyOf(ROOT, n, overrides)])), (n) => ({
        launch: () => launch(n as FunctionName),
        terminate,
        onChange: (ready) => (ready.length ? routeTo(n as FunctionName, ready) : (replicas.delete(n as FunctionName), functions.delete(n as FunctionName))),
      }));
      pipelineConsole?.followScaling(autoscaler);
      await autoscaler.start();
      const stopWaking = wakeWhenDue({ s3: reader, outputBucket: store.OUTPUT_BUCKET, env, webhook: autoscaler.scalers.get('webhook')! });
      closers.push(async () => stopWaking());
    }
  } catch (err) {
    await autoscaler?.stop();
    for (const n of FUNCTIONS) await stopFunction(n);
    for (const c of closers.reverse()) await c();
    throw err;
  }


  const result: LocalStack = {
    config: { storage: loadConfig({ storage: storageConfig }, env).storage, dev },
    env,
    s3Url,
    gateway,
    emulator,
    emulatorDatasetId,
    eventstream,
    dashboardUrl: emulator?.url ? `${emulator.url}/` : undefined,
    bridge,
    s3,
    functions,
    replicas,
    autoscaler,
    log,
    stopFunction,
    startFunction,
    restartFunction,
    async s3Outage(ms: number) {
      // The store goes away (connections refused or cut) for `ms`, then comes back on the same
      // port with the same data: an S3 restart or network outage, as the functions see it.
      if (!s3) throw new Error('only the embedded store can be stopped');
      const port = s3.port;
      await s3.close();
      s3 = undefined;
      await new Promise((r) => setTimeout(r, ms));
      const back = await startEmbeddedS3({ directory: join(dataDir, 's3'), port, accessKey: store.S3_ACCESS_KEY, secretKey: store.S3_SECRET_KEY, buckets: [store.INPUT_BUCKET, store.OUTPUT_BUCKET] });
      back.events.on('event', (ev: S3RecordEvent) => bridge?.enqueue(ev));
      if (pipelineConsole) back.events.on('event', (ev: S3RecordEvent) => pipelineConsole.onStoreEvent(ev));
      s3 = back;
      result.s3 = back;
    },
    async stop() {
      rmSync(stateFile, { force: true });
      bridge?.stop();
      await autoscaler?.stop();
      await Promise.all(FUNCTIONS.map(stopFunction));
      for (const child of spawned) child.kill('SIGKILL'); // one that never became ready
      for (const c of closers.reverse()) await c();
    },
  };
  // How `npm run upload` and `npm run reprocess` find this stack (no port flags), readable only by its user.
  const stateFile = join(dataDir, STACK_STATE_FILE);
  const running: RunningStack = {
    pid: process.pid,
    s3Url,
    accessKey: store.S3_ACCESS_KEY,
    secretKey: store.S3_SECRET_KEY,
    inputBucket: store.INPUT_BUCKET,
    outputBucket: store.OUTPUT_BUCKET,
    inputPrefix: store.INPUT_PREFIX,
    inputSuffixes: store.INPUT_SUFFIXES,
    gatewayUrl: gateway.url,
    consoleUrl: result.dashboardUrl,
    internalToken,
  };
  writeFileSync(stateFile, JSON.stringify(running, null, 2), { mode: 0o600 });
  return result;
}
