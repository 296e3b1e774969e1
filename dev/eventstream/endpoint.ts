/**
 * A local stand-in for a Fabric Eventstream custom endpoint (an Event Hubs-compatible AMQP 1.0
 * endpoint), built on `rhea`, the AMQP library the Azure SDK itself uses. It speaks what
 * `@azure/event-hubs` does with a connection string that says `UseDevelopmentEmulator=true`
 * (plain TCP): SASL ANONYMOUS, the `$cbs` put-token exchange (the SAS signature is checked
 * against the key), `$management` READs of the hub and its partitions, sender links to the hub or
 * one of its partitions, and batch messages (format 0x80013700) whose data sections are events.
 *
 * Fault switches, for tests and `npm run faults`: server busy (a batch refused with
 * `com.microsoft:server-busy`, not stored), message too large (refused above a size, not
 * stored), connection dropped (the batch stored, then the connection cut before it is settled:
 * the sender cannot know, and resends), and a wrong key (every token refused).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import rhea from 'rhea';

export interface ReceivedEvent {
  /** The event body, parsed when it is JSON. */
  body: unknown;
  properties: Record<string, unknown>;
  partitionKey?: string;
  partition: string;
  contentType?: string;
}

export interface EndpointFaults {
  /** Refuse every n-th batch with com.microsoft:server-busy (0: never). */
  busyEvery: number;
  /** Refuse the next n batches with com.microsoft:server-busy. */
  busyNext: number;
  /** The wait the busy answer names ("Please wait 4 seconds"), as Event Hubs does. */
  busyWaitSeconds: number;
  /** Refuse batches larger than this many bytes with amqp:link:message-size-exceeded. */
  tooLargeOver: number;
  /** Store every n-th batch, then drop the connection before settling it (0: never). */
  dropEvery: number;
  /** Refuse every token (as a wrong SharedAccessKey is). */
  wrongKey: boolean;
}

export interface EndpointOptions {
  port?: number;
  hub?: string;
  keyName?: string;
  key?: string;
  partitions?: number;
  /** The max-message-size advertised on sender links (Event Hubs standard: 1 MB). */
  maxMessageSize?: number;
  /** Called with each stored batch (the dev stack prints a line). */
  onBatch?: (events: ReceivedEvent[], partition: string) => void;
}

export interface EventstreamEndpoint {
  url: string;
  port: number;
  hub: string;
  /** The connection string a client uses (the key included: a secret in real life). */
  connectionString: string;
  events: ReceivedEvent[];
  stats: { batches: number; busy: number; tooLarge: number; dropped: number; tokensRefused: number; managementReads: number; tokens: number };
  faults: EndpointFaults;
  close(): Promise<void>;
}

const BATCH_FORMAT = 0x80013700;

/** A link's attach frames (rhea keeps them; its typings do not say so). */
interface Attach {
  source?: { address?: string };
  target?: { address?: string };
  max_message_size?: number;
}
const remoteAttach = (link: rhea.Sender | rhea.Receiver | undefined): Attach => (link as unknown as { remote?: { attach?: Attach } })?.remote?.attach ?? {};
const localAttach = (link: rhea.Sender | rhea.Receiver): Attach => (link as unknown as { local: { attach: Attach } }).local.attach;

/** Whether `token` is a SharedAccessSignature for `audience` signed with `key` and not expired. */
export function validSas(token: string, audience: string, keyName: string, key: string, nowSeconds = Date.now() / 1000): boolean {
  const m = /^SharedAccessSignature (.*)$/.exec(token);
  if (!m) return false;
  const parts = new Map(m[1].split('&').map((p) => p.split('=') as [string, string]));
  const sr = parts.get('sr');
  const sig = parts.get('sig');
  const se = parts.get('se');
  if (!sr || !sig || !se || decodeURIComponent(parts.get('skn') ?? '') !== keyName) return false;
  if (Number(se) < nowSeconds) return false;
  // The token's resource must cover the audience asked for.
  if (!audience.startsWith(decodeURIComponent(sr))) return false;
  const expected = createHmac('sha256', key).update(`${sr}\n${se}`).digest();
  const given = Buffer.from(decodeURIComponent(sig), 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function decodeBody(section: unknown): unknown {
  const content = (section as { content?: unknown })?.content ?? section;
  if (Buffer.isBuffer(content)) {
    const text = content.toString('utf8');
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return content;
}

export async function startEventstreamEndpoint(opts: EndpointOptions = {}): Promise<EventstreamEndpoint> {
  const hub = opts.hub ?? 'es_mini_pipeline';
  const keyName = opts.keyName ?? 'key_local';
  const key = opts.key ?? 'local-eventstream-key';
  const partitionIds = Array.from({ length: opts.partitions ?? 2 }, (_, i) => String(i));
  const maxMessageSize = opts.maxMessageSize ?? 1024 * 1024;
  const createdAt = new Date();
  const container = rhea.create_container({ id: 'eventstream-endpoint', autoaccept: false } as rhea.ContainerOptions);
  container.sasl_server_mechanisms.enable_anonymous();
  const events: ReceivedEvent[] = [];
  const stats = { batches: 0, busy: 0, tooLarge: 0, dropped: 0, tokensRefused: 0, managementReads: 0, tokens: 0 };
  const faults: EndpointFaults = { busyEvery: 0, busyNext: 0, busyWaitSeconds: 4, tooLargeOver: 0, dropEvery: 0, wrongKey: false };
  /** Audiences each connection holds a valid token for. */
  const authorized = new WeakMap<rhea.Connection, Set<string>>();
  let deliveries = 0;

  let host = '127.0.0.1';
  const base = () => `sb://${host}:${port}/`;

  const reply = (link: rhea.Receiver, request: rhea.Message, status: number, description: string, body?: unknown) => {
    const to = request.reply_to;
    const sender = link.connection.find_sender((s: rhea.Sender) => s.name === to || remoteAttach(s).target?.address === to);
    sender?.send({ correlation_id: request.message_id, application_properties: { 'status-code': status, 'status-description': description }, body });
  };

  const onCbs = (ctx: rhea.EventContext) => {
    const msg = ctx.message!;
    const props = msg.application_properties ?? {};
    ctx.delivery!.accept();
    const audience = String(props.name ?? '');
    if (props.operation !== 'put-token' || props.type !== 'servicebus.windows.net:sastoken') return reply(ctx.receiver!, msg, 400, 'only SAS put-token is supported');
    if (faults.wrongKey || !validSas(String(msg.body), audience, keyName, key)) {
      stats.tokensRefused++;
      return reply(ctx.receiver!, msg, 401, 'InvalidSignature: The token has an invalid signature.');
    }
    stats.tokens++;
    const set = authorized.get(ctx.connection) ?? new Set<string>();
    set.add(audience);
    authorized.set(ctx.connection, set);
    reply(ctx.receiver!, msg, 202, 'Accepted');
  };

  const onManagement = (ctx: rhea.EventContext) => {
    const msg = ctx.message!;
    const props = msg.application_properties ?? {};
    ctx.delivery!.accept();
    const token = String(props.security_token ?? '');
    if (faults.wrongKey || !validSas(token, `${base()}${hub}`, keyName, key)) {
      stats.tokensRefused++;
      return reply(ctx.receiver!, msg, 401, 'InvalidSignature: The token has an invalid signature.');
    }
    if (props.operation !== 'READ' || props.name !== hub) return reply(ctx.receiver!, msg, 404, `no entity '${String(props.name)}'`);
    stats.managementReads++;
    if (props.type === 'com.microsoft:eventhub') {
      return reply(ctx.receiver!, msg, 200, 'OK', { name: hub, created_at: createdAt, partition_count: partitionIds.length, partition_ids: partitionIds });
    }
    if (props.type === 'com.microsoft:partition' && partitionIds.includes(String(props.partition))) {
      const stored = events.filter((e) => e.partition === props.partition).length;
      return reply(ctx.receiver!, msg, 200, 'OK', {
        name: hub,
        partition: String(props.partition),
        begin_sequence_number: 0,
        last_enqueued_sequence_number: stored - 1,
        last_enqueued_offset: String(Math.max(0, stored - 1)),
        last_enqueued_time_utc: new Date(),
        is_partition_empty: stored === 0,
      });
    }
    reply(ctx.receiver!, msg, 404, `unknown READ type ${String(props.type)}`);
  };

  const partitionOf = (address: string, partitionKey?: string): string | undefined => {
    if (address === hub) {
      if (partitionKey === undefined) return partitionIds[deliveries % partitionIds.length];
      const h = createHmac('sha256', 'partition').update(partitionKey).digest().readUInt32BE(0);
      return partitionIds[h % partitionIds.length];
    }
    const m = new RegExp(`^${hub}/Partitions/(\\d+)$`).exec(address);
    return m && partitionIds.includes(m[1]) ? m[1] : undefined;
  };

  const onEvents = (ctx: rhea.EventContext, address: string) => {
    const delivery = ctx.delivery!;
    const audience = `${base()}${address}`;
    if (!authorized.get(ctx.connection)?.has(audience)) {
      stats.tokensRefused++;
      return delivery.reject({ condition: 'amqp:unauthorized-access', description: `no valid token for ${address}` });
    }
    const raw = ctx.message as unknown;
    const format = (ctx as { format?: number }).format;
    const n = ++deliveries;
    const size = Buffer.isBuffer(raw) ? raw.length : 0;
    if ((faults.busyNext > 0 && faults.busyNext--) || (faults.busyEvery && n % faults.busyEvery === 0)) {
      stats.busy++;
      return delivery.reject({ condition: 'com.microsoft:server-busy', description: `The request was terminated because the entity is being throttled. Please wait ${faults.busyWaitSeconds} seconds and try again.` });
    }
    if ((faults.tooLargeOver && size > faults.tooLargeOver) || size > maxMessageSize) {
      stats.tooLarge++;
      return delivery.reject({ condition: 'amqp:link:message-size-exceeded', description: `The received message (${size} bytes) exceeds the limit (${faults.tooLargeOver || maxMessageSize} bytes).` });
    }
    // A batch: one message whose data sections are the encoded events; a single event: the message itself.
    const envelope = format === BATCH_FORMAT ? rhea.message.decode(raw as Buffer) : (raw as rhea.Message);
    const partitionKey = envelope.message_annotations?.['x-opt-partition-key'] as string | undefined;
    const partition = partitionOf(address, partitionKey);
    if (partition === undefined) return delivery.reject({ condition: 'amqp:not-found', description: `no entity '${address}'` });
    const inner = format === BATCH_FORMAT ? ((envelope.body as { content?: Buffer | Buffer[] }).content ?? []) : [];
    const messages = format === BATCH_FORMAT ? (Array.isArray(inner) ? inner : [inner]).map((b) => rhea.message.decode(b)) : [envelope];
    const batch = messages.map((m) => ({ body: decodeBody(m.body), properties: { ...m.application_properties }, partitionKey, partition, contentType: m.content_type }));
    events.push(...batch);
    stats.batches++;
    opts.onBatch?.(batch, partition);
    if (faults.dropEvery && n % faults.dropEvery === 0) {
      // Stored, but the answer never arrives: the connection goes away first.
      stats.dropped++;
      (ctx.connection as unknown as { socket?: { destroy(): void } }).socket?.destroy();
      return;
    }
    delivery.accept();
  };

  container.on('receiver_open', (ctx: rhea.EventContext) => {
    const receiver = ctx.receiver!;
    const address = String(remoteAttach(receiver).target?.address ?? '');
    receiver.set_target({ address });
    if (address !== '$cbs' && !address.endsWith('$management')) localAttach(receiver).max_message_size = maxMessageSize;
  });
  container.on('sender_open', (ctx: rhea.EventContext) => {
    const sender = ctx.sender!;
    sender.set_source({ address: remoteAttach(sender).source?.address ?? '' });
  });
  container.on('message', (ctx: rhea.EventContext) => {
    const address = String(remoteAttach(ctx.receiver).target?.address ?? '');
    if (address === '$cbs') return onCbs(ctx);
    if (address === '$management' || address.endsWith('/$management')) return onManagement(ctx);
    onEvents(ctx, address);
  });
  container.on('error', () => undefined);
  container.on('connection_error', () => undefined);
  container.on('disconnected', () => undefined);

  const server = container.listen({ port: opts.port ?? 0, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const port = (server.address() as AddressInfo).port;
  host = 'localhost';
  return {
    url: `sb://localhost:${port}`,
    port,
    hub,
    connectionString: `Endpoint=sb://localhost:${port};SharedAccessKeyName=${keyName};SharedAccessKey=${key};EntityPath=${hub};UseDevelopmentEmulator=true`,
    events,
    stats,
    faults,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open client connections would keep the server up: end them.
        for (const s of sockets) s.destroy();
      }),
  };
}
