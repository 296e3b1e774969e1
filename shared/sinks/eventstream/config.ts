/** Fabric Eventstream (an Event Hubs-compatible custom endpoint): where the rows go, and the limits of one batch. */
import { component, int, jsonObjectOfStrings, num, optionalString, refine, variable, type Values } from '../../runtime/config.js';

/** What a usable connection string holds; the message never repeats the value (it carries the key). */
export function connectionStringProblem(cs: string): string | undefined {
  const parts = new Map(cs.split(';').filter(Boolean).map((p) => [p.slice(0, p.indexOf('=')).toLowerCase(), p.slice(p.indexOf('=') + 1)]));
  if (!/^sb:\/\/[^/;]+/.test(parts.get('endpoint') ?? '')) return 'must start with Endpoint=sb://<namespace host>/ (copy it from the Eventstream custom endpoint, SAS Key Authentication)';
  if (!parts.get('entitypath')) return 'has no EntityPath=<event hub> (copy the connection string of the custom endpoint, not of the namespace)';
  if (!parts.has('sharedaccesssignature') && !(parts.get('sharedaccesskeyname') && parts.get('sharedaccesskey'))) return 'needs SharedAccessKeyName and SharedAccessKey (or SharedAccessSignature)';
  return undefined;
}

const connectionString = refine(optionalString, (v) => (v === undefined ? undefined : connectionStringProblem(v)));

const routes = refine(jsonObjectOfStrings('key prefix → Eventstream connection string'), (v) => {
  for (const [prefix, cs] of Object.entries(v)) {
    const problem = connectionStringProblem(cs);
    if (problem) return `the route of '${prefix}' ${problem}`;
  }
  return undefined;
});

export const eventstreamConfig = component({
  name: 'eventstream',
  vars: {
    EVENTSTREAM_CONNECTION_STRING: variable(connectionString, 'Fabric Eventstream custom endpoint (or any Event Hubs-compatible endpoint): its connection string, `Endpoint=sb://…;SharedAccessKeyName=…;SharedAccessKey=…;EntityPath=…`. Each cleaned row becomes one JSON event. Unset: no Eventstream (unless EVENTSTREAM_ROUTES names one).', { secret: 'eventstream-connection-string' }),
    EVENTSTREAM_ROUTES: variable(routes, 'JSON map from key prefix to the connection string its files go to (longest prefix wins; other files go to EVENTSTREAM_CONNECTION_STRING, if set). Beside POWERBI_ROUTES: a file can go to both.', { secret: 'eventstream-routes' }),
    EVENTSTREAM_MAX_BATCH_BYTES: variable(int(1024 * 1024, 1024, 16 * 1024 * 1024), 'Largest batch of events in bytes (Event Hubs standard: 1 MB; the endpoint’s own limit, announced when the link opens, wins when smaller).'),
    EVENTSTREAM_TIMEOUT_SECONDS: variable(num(30, 1, 600), 'Timeout of one batch (connect, token, send).'),
    EVENTSTREAM_MAX_RETRIES: variable(int(8, 0, 100), 'Retries of one batch (server busy, timeouts, dropped connections); the client library’s own retries are off, so every resend is counted.'),
  },
});

export type EventstreamConfig = Values<typeof eventstreamConfig.vars>;

/** The event hub and host a connection string names (for logs: never the key). */
export function describeConnection(cs: string): string {
  const endpoint = /Endpoint=sb:\/\/([^/;]+)/i.exec(cs)?.[1] ?? '?';
  const hub = /EntityPath=([^;]+)/i.exec(cs)?.[1] ?? '?';
  return `${endpoint}/${hub}`;
}
