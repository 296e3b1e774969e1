/** `npm start`: the whole pipeline on this machine, URLs printed. Ctrl-C stops it. */
import { ConfigError } from '../shared/runtime/config.js';
import { startLocalStack } from './stack.js';

const compact = (fn: string, line: string) => {
  try {
    const r = JSON.parse(line) as Record<string, unknown>;
    const { time, level, fn: _f, msg, callId, ...rest } = r;
    void time;
    void _f;
    void callId;
    const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
    process.stdout.write(`${String(level).padEnd(5)} ${fn.padEnd(9)} ${msg}${extra}\n`);
  } catch {
    process.stdout.write(`      ${fn.padEnd(9)} ${line}\n`);
  }
};

try {
  const t0 = Date.now();
  const stack = await startLocalStack({
    onLog: process.env.LOG_FORMAT === 'json' ? undefined : compact,
    onProgress: (step) => process.stdout.write(`… ${step} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`),
  });
  const c = stack.config.storage;
  const lines = [
    '',
    'mini-pipeline is running',
    `  S3 endpoint   ${stack.s3Url}   access key ${c.S3_ACCESS_KEY}   secret key ${stack.s3 ? c.S3_SECRET_KEY : '(from S3_SECRET_KEY)'}`,
    `  buckets       ${c.INPUT_BUCKET} (drop CSVs here) → ${c.OUTPUT_BUCKET} (cleaned CSV, manifest, rejects)`,
    `  gateway       ${stack.gateway.url}/function/{webhook,transform,publish}`,
    stack.dashboardUrl ? `  console       ${stack.dashboardUrl}   (each file's journey; the Power BI emulator's tables)` : '  Power BI      your endpoints from the environment (POWERBI_PUSH_URL, or POWERBI_API_URL and the service principal), no emulator',
    ...(stack.eventstream ? [`  eventstream   ${stack.eventstream.url}/${stack.eventstream.hub}   (local Event Hubs-compatible endpoint; each batch it receives is shown here)`] : []),
    `  data          ${stack.config.dev.DATA_DIR}/`,
    ...(stack.autoscaler ? [`  autoscale     ${stack.config.dev.AUTOSCALE}: ${[...stack.autoscaler.scalers.values()].map((s) => `${s.name} ${s.policy.min}…${s.policy.max}`).join(', ')} processes (${stack.autoscaler.scalers.get('transform')!.policy.source.replace('transform', '*')}); ${stack.config.dev.AUTOSCALE === 'knative' ? `0 after ${(stack.autoscaler.scalers.get('transform')!.policy.stableMs + stack.autoscaler.scalers.get('transform')!.policy.zeroAfterMs) / 1000} s idle; ` : ''}live: ${stack.gateway.url}/system/functions`] : []),
    '',
    'Try:',
    '  npm run upload -- examples/*.csv            (follows each file to its outcome)',
    '  npm run reprocess -- mock_10000_linhas.csv  (runs a file again on purpose)',
    `  curl --data-binary @examples/mock.csv ${stack.gateway.url}/function/transform`,
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
  const stop = async () => {
    process.stdout.write('stopping…\n');
    await stack.stop();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(err.message + '\n');
    process.exit(1);
  }
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    process.stderr.write(`A port is already in use (${(err as Error).message}). Is mini-pipeline already running? Set GATEWAY_PORT / S3_PORT / POWERBI_EMULATOR_PORT to use others.\n`);
    process.exit(1);
  }
  throw err;
}
