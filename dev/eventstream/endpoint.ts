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

/** Which partition an address (and partition key) names; undefined: no such entity. */
function partitionOf(hub: string, partitionIds: string[], address: string, partitionKey: string | undefined, n: number): string | undefined {
  if (address === hub) {
    if (partitionKey === undefined) return partitionIds[n % partitionIds.length];
    return partitionIds[createHmac('sha256', 'partition').update(partitionKey).digest().readUInt32BE(0) % partitionIds.length];
  }
  const m = /^(.*)\/Partitions\/(\d+)$/.exec(address);
  return m && m[1] === hub && partitionIds.includes(m[2]) ? m[2] : undefined;
}

/** A batch message (format 0x80013700): its envelope, and the events of its data sections. */
function decodeDelivery(raw: unknown, format: number | undefined): { envelope: rhea.Message; messages: rhea.Message[] } {
  if (format !== BATCH_FORMAT) return { envelope: raw as rhea.Message, messages: [raw as rhea.Message] };
  const envelope = rhea.message.decode(raw as Buffer) as unknown as rhea.Message;
  const inner = (envelope.body as { content?: Buffer | Buffer[] }).content ?? [];
  return { envelope, messages: (Array.isArray(inner) ? inner : [inner]).map((b) => rhea.message.decode(b) as unknown as rhea.Message) };
}

class Endpoint {
  readonly hub: string;
  readonly events: ReceivedEvent[] = [];
  readonly stats = { batches: 0, busy: 0, tooLarge: 0, dropped: 0, tokensRefused: 0, managementReads: 0, tokens: 0 };
  readonly faults: EndpointFaults = { busyEvery: 0, busyNext: 0, busyWaitSeconds: 4, tooLargeOver: 0, dropEvery: 0, wrongKey: false };
  port = 0;
  private readonly keyName: string;
  private readonly key: string;
  private readonly partitionIds: string[];
  private readonly maxMessageSize: number;
  private readonly createdAt = new Date();
  /** Audiences each connection holds a valid token for. */
  private readonly authorized = new WeakMap<rhea.Connection, Set<string>>();
  private deliveries = 0;

  constructor(private readonly opts: EndpointOptions) {
    this.hub = opts.hub ?? 'es_mini_pipeline';
    this.keyName = opts.keyName ?? 'key_local';
    this.key = opts.key ?? 'local-eventstream-key';
    this.partitionIds = Array.from({ length: opts.partitions ?? 2 }, (_, i) => String(i));
    this.maxMessageSize = opts.maxMessageSize ?? 1024 * 1024;
  }

  private get base(): string {
    return `sb://localhost:${this.port}/`;
  }

  /** Answer a request on the link its `reply_to` names (rhea: the client's receiver link). */
  private reply(link: rhea.Receiver, request: rhea.Message, status: number, description: string, body?: unknown): void {
    const to = request.reply_to;
    const sender = link.connection.find_sender((s: rhea.Sender) => s.name === to || remoteAttach(s).target?.address === to);
    sender?.send({ correlation_id: request.message_id, application_properties: { 'status-code': status, 'status-description': description }, body });
  }

  private tokenValid(token: string, audience: string): boolean {
    const ok = !this.faults.wrongKey && validSas(token, audience, this.keyName, this.key);
    if (!ok) this.stats.tokensRefused++;
    return ok;
  }

  /** `$cbs` put-token: a SAS token for an audience, checked against the key. */
  onCbs(ctx: rhea.EventContext): void {
    const msg = ctx.message!;
    const props = msg.application_properties ?? {};
    ctx.delivery!.accept();
    const audience = String(props.name ?? '');
    if (props.operation !== 'put-token' || props.type !== 'servicebus.windows.net:sastoken') return this.reply(ctx.receiver!, msg, 400, 'only SAS put-token is supported');
    if (!this.tokenValid(String(msg.body), audience)) return this.reply(ctx.receiver!, msg, 401, 'InvalidSignature: The token has an invalid signature.');
    this.stats.tokens++;
    const set = this.authorized.get(ctx.connection) ?? new Set<string>();
    set.add(audience);
    this.authorized.set(ctx.connection, set);
    this.reply(ctx.receiver!, msg, 202, 'Accepted');
  }

  /** `$management` READ of the hub (`com.microsoft:eventhub`) or of a partition, with the token in the request. */
  onManagement(ctx: rhea.EventContext): void {
    const msg = ctx.message!;
    const props = msg.application_properties ?? {};
    ctx.delivery!.accept();
    if (!this.tokenValid(String(props.security_token ?? ''), `${this.base}${this.hub}`)) return this.reply(ctx.receiver!, msg, 401, 'InvalidSignature: The token has an invalid signature.');
    if (props.operation !== 'READ' || props.name !== this.hub) return this.reply(ctx.receiver!, msg, 404, `no entity '${String(props.name)}'`);
    this.stats.managementReads++;
    if (props.type === 'com.microsoft:eventhub') {
      return this.reply(ctx.receiver!, msg, 200, 'OK', { name: this.hub, created_at: this.createdAt, partition_count: this.partitionIds.length, partition_ids: this.partitionIds });
    }
    const partition = String(props.partition);
    if (props.type !== 'com.microsoft:partition' || !this.partitionIds.includes(partition)) return this.reply(ctx.receiver!, msg, 404, `unknown READ type ${String(props.type)}`);
    const stored = this.events.filter((e) => e.partition === partition).length;
    this.reply(ctx.receiver!, msg, 200, 'OK', { name: this.hub, partition, begin_sequence_number: 0, last_enqueued_sequence_number: stored - 1, last_enqueued_offset: String(Math.max(0, stored - 1)), last_enqueued_time_utc: new Date(), is_partition_empty: stored === 0 });
  }

  /** The fault a delivery meets, if any (busy and too large: refused, nothing stored). */
  private refusal(n: number, size: number): { condition: string; description: string } | undefined {
    const f = this.faults;
    if ((f.busyNext > 0 && f.busyNext--) || (f.busyEvery && n % f.busyEvery === 0)) {
      this.stats.busy++;
      return { condition: 'com.microsoft:server-busy', description: `The request was terminated because the entity is being throttled. Please wait ${f.busyWaitSeconds} seconds and try again.` };
    }
    const limit = f.tooLargeOver || this.maxMessageSize;
    if (size > limit) {
      this.stats.tooLarge++;
      return { condition: 'amqp:link:message-size-exceeded', description: `The received message (${size} bytes) exceeds the limit (${limit} bytes).` };
    }
    return undefined;
  }

  /** Events to the hub or one partition: a batch message, or a single event. */
  onEvents(ctx: rhea.EventContext, address: string): void {
    const delivery = ctx.delivery!;
    if (!this.authorized.get(ctx.connection)?.has(`${this.base}${address}`)) {
      this.stats.tokensRefused++;
      return delivery.reject({ condition: 'amqp:unauthorized-access', description: `no valid token for ${address}` });
    }
    const raw = ctx.message as unknown;
    const n = ++this.deliveries;
    const refused = this.refusal(n, Buffer.isBuffer(raw) ? raw.length : 0);
    if (refused) return delivery.reject(refused);
    const { envelope, messages } = decodeDelivery(raw, (ctx as { format?: number }).format);
    const partitionKey = envelope.message_annotations?.['x-opt-partition-key'] as string | undefined;
    const partition = partitionOf(this.hub, this.partitionIds, address, partitionKey, n);
    if (partition === undefined) return delivery.reject({ condition: 'amqp:not-found', description: `no entity '${address}'` });
    const batch = messages.map((m) => ({ body: decodeBody(m.body), properties: { ...m.application_properties }, partitionKey, partition, contentType: m.content_type }));
    this.events.push(...batch);
    this.stats.batches++;
    this.opts.onBatch?.(batch, partition);
    if (this.faults.dropEvery && n % this.faults.dropEvery === 0) {
      // Stored, but the answer never arrives: the connection goes away first.
      this.stats.dropped++;
      (ctx.connection as unknown as { socket?: { destroy(): void } }).socket?.destroy();
      return;
    }
    delivery.accept();
  }

  /** Attach the links the client opens; sender links learn the max message size. */
  attach(container: rhea.Container): void {
    container.on('receiver_open', (ctx: rhea.EventContext) => {
      const receiver = ctx.receiver!;
      const address = String(remoteAttach(receiver).target?.address ?? '');
      receiver.set_target({ address });
      if (address !== '$cbs' && !address.endsWith('$management')) localAttach(receiver).max_message_size = this.maxMessageSize;
    });
    container.on('sender_open', (ctx: rhea.EventContext) => ctx.sender!.set_source({ address: remoteAttach(ctx.sender).source?.address ?? '' }));
    container.on('message', (ctx: rhea.EventContext) => {
      const address = String(remoteAttach(ctx.receiver).target?.address ?? '');
      if (address === '$cbs') return this.onCbs(ctx);
      if (address === '$management' || address.endsWith('/$management')) return this.onManagement(ctx);
      this.onEvents(ctx, address);
    });
    for (const e of ['error', 'connection_error', 'disconnected'] as const) container.on(e, () => undefined);
  }
}

export async function startEventstreamEndpoint(opts: EndpointOptions = {}): Promise<EventstreamEndpoint> {
  const endpoint = new Endpoint(opts);
  const container = rhea.create_container({ id: 'eventstream-endpoint', autoaccept: false } as rhea.ContainerOptions);
  container.sasl_server_mechanisms.enable_anonymous();
  endpoint.attach(container);
  const server = container.listen({ port: opts.port ?? 0, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    // rhea drops its own error listener when it aborts a socket; a reset arriving after that is no crash.
    s.on('error', () => undefined);
  });
  const port = (endpoint.port = (server.address() as AddressInfo).port);
  return {
    url: `sb://localhost:${port}`,
    port,
    hub: endpoint.hub,
    connectionString: `Endpoint=sb://localhost:${port};SharedAccessKeyName=${opts.keyName ?? 'key_local'};SharedAccessKey=${opts.key ?? 'local-eventstream-key'};EntityPath=${endpoint.hub};UseDevelopmentEmulator=true`,
    events: endpoint.events,
    stats: endpoint.stats,
    faults: endpoint.faults,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open client connections would keep the server up: end them.
        for (const s of sockets) s.destroy();
      }),
  };
}
