/**
 * S3 event notifications as MinIO sends them (`{EventName, Key, Records}`) and as other
 * S3-compatible stores send them (plain `{Records}`), validated with zod.
 */
import * as z from 'zod';

/** The schemas of a notification and of a reference, built on first use (not at a cold start). */
function buildEventSchemas() {
  const S3Object = z.object({
    key: z.string().min(1),
    size: z.number().int().nonnegative().optional(),
    eTag: z.string().optional(),
    versionId: z.string().optional(),
    sequencer: z.string().optional(),
    contentType: z.string().optional(),
  });
  const S3EventRecord = z.object({
    eventVersion: z.string().optional(),
    eventSource: z.string().optional(),
    eventTime: z.string().optional(),
    eventName: z.string().min(1),
    s3: z.object({
      bucket: z.object({ name: z.string().min(1) }),
      object: S3Object,
    }),
  });
  const S3EventNotification = z.object({
    EventName: z.string().optional(),
    Key: z.string().optional(),
    Records: z.array(S3EventRecord),
  });
  /** What `webhook` hands to `transform`: a small reference to one object version. */
  const ObjectRef = z.object({
    bucket: z.string().min(1),
    key: z.string().min(1),
    etag: z.string().optional(),
    size: z.number().int().nonnegative().optional(),
    versionId: z.string().optional(),
    eventTime: z.string().optional(),
    sequencer: z.string().optional(),
  });
  return { S3EventRecord, S3EventNotification, ObjectRef };
}
let eventSchemas: ReturnType<typeof buildEventSchemas> | undefined;
export const s3EventSchemas = () => (eventSchemas ??= buildEventSchemas());
type EventSchemas = ReturnType<typeof s3EventSchemas>;
export type S3EventNotification = z.infer<EventSchemas['S3EventNotification']>;
export type S3EventRecord = z.infer<EventSchemas['S3EventRecord']>;
export type ObjectRef = z.infer<EventSchemas['ObjectRef']>;

/** Event names that announce a new object worth processing. */
export const CREATED_EVENTS = new Set(['ObjectCreated:Put', 'ObjectCreated:CompleteMultipartUpload']);

/** `s3:ObjectCreated:Put` and `ObjectCreated:Put` (AWS style) are the same event. */
export function normaliseEventName(name: string): string {
  return name.startsWith('s3:') ? name.slice(3) : name;
}

/** Decode a key that was Go `url.QueryEscape`d (MinIO): `+` is a space, `%XX` a byte. */
export function decodeEventKey(raw: string): string {
  return decodeURIComponent(raw.replace(/\+/g, ' '));
}

/** The inverse, byte for byte what Go's `url.QueryEscape` produces (for the local bridge). */
export function goQueryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}

export type Decision =
  | { action: 'process'; ref: ObjectRef; eventName: string }
  | { action: 'ignore'; reason: string; bucket?: string; key?: string; eventName: string };

export interface EventFilter {
  buckets: string[];
  prefix: string;
  suffixes: string[];
}

/** Decide, record by record, what to do with a notification. */
export function decide(event: S3EventNotification, filter: EventFilter): Decision[] {
  return event.Records.map((record): Decision => {
    const eventName = normaliseEventName(record.eventName);
    const bucket = record.s3.bucket.name;
    let key: string;
    try {
      key = decodeEventKey(record.s3.object.key);
    } catch {
      return { action: 'ignore', reason: 'object key is not valid percent-encoding', bucket, eventName };
    }
    if (!CREATED_EVENTS.has(eventName)) {
      return { action: 'ignore', reason: `event ${eventName} is not an object creation (Put or CompleteMultipartUpload)`, bucket, key, eventName };
    }
    if (filter.buckets.length && !filter.buckets.includes(bucket)) {
      return { action: 'ignore', reason: `bucket ${bucket} is not watched`, bucket, key, eventName };
    }
    if (filter.prefix && !key.startsWith(filter.prefix)) {
      return { action: 'ignore', reason: `key does not start with ${filter.prefix}`, bucket, key, eventName };
    }
    const lower = key.toLowerCase();
    if (filter.suffixes.length && !filter.suffixes.some((s) => lower.endsWith(s.toLowerCase()))) {
      return { action: 'ignore', reason: `key does not end with ${filter.suffixes.join(' or ')}`, bucket, key, eventName };
    }
    const o = record.s3.object;
    const ref: ObjectRef = { bucket, key };
    if (o.eTag) ref.etag = o.eTag.replace(/^"|"$/g, '');
    if (o.size !== undefined) ref.size = o.size;
    if (o.versionId) ref.versionId = o.versionId;
    if (record.eventTime) ref.eventTime = record.eventTime;
    if (o.sequencer) ref.sequencer = o.sequencer;
    return { action: 'process', ref, eventName };
  });
}
