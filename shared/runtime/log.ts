/**
 * One JSON line per event on stdout. Secrets registered with `registerSecret` are
 * replaced by `***` wherever they appear, and URL `key=` parameters are always masked.
 */
const secrets = new Set<string>();

export function registerSecret(value: string | undefined): void {
  if (value) secrets.add(value);
}

export function redact(text: string): string {
  let out = text;
  // Longest first, so that a secret containing another is masked whole.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) out = out.split(s).join('***');
    const enc = encodeURIComponent(s);
    if (enc !== s && out.includes(enc)) out = out.split(enc).join('***');
  }
  return out.replace(/([?&](?:key|sig|signature|token|client_secret)=)[^&\s"']+/gi, '$1***');
}

let stdoutGuarded = false;
function writeStdout(line: string): void {
  if (!stdoutGuarded) {
    stdoutGuarded = true;
    // A closed pipe (log collector gone) must not crash the function.
    process.stdout.on('error', () => undefined);
  }
  process.stdout.write(line + '\n');
}

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(
  base: Record<string, unknown>,
  opts: { level?: Level; write?: (line: string) => void } = {},
): Logger {
  const min = ORDER[opts.level ?? ((process.env.LOG_LEVEL as Level) || 'info')] ?? ORDER.info;
  const write = opts.write ?? writeStdout;
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const record = { time: new Date().toISOString(), level, ...base, msg, ...fields };
    write(redact(JSON.stringify(record, errorReplacer)));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }, opts),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
