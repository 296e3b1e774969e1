/**
 * Rows to a Fabric Eventstream custom endpoint, built from parts: the encoding (encode.ts), the
 * batching driver (checkpoints, rejects, duplicates), and the Eventstream service with its
 * retries. One row is one event; the object's key is the partition key, so one file's rows stay
 * in order (one batch in flight). Delivery is at least once: a resumed or retried batch may be
 * stored twice, and the manifest counts those rows (`possibleDuplicates`); the `objectKey`,
 * `version` and `row` properties let a consumer drop them.
 */
import type { EventData } from '@azure/event-hubs';
import { deliverInBatches, type SinkRun } from '../delivery.js';
import { keyOf, longestPrefix, versionOf } from '../routes.js';
import type { RowSink, SinkDelivery, SinkResult } from '../sink.js';
import { eventOverheadBytes, rowEncoder, type EventProperties } from './encode.js';
import type { EventstreamService } from './service.js';

export class EventstreamSink implements RowSink {
  readonly name = 'eventstream';
  readonly title = 'Eventstream';

  /** `routes`: key prefix → service (longest prefix wins); `fallback`: every other file, if set. */
  constructor(
    private readonly routes: Record<string, EventstreamService>,
    private readonly fallback: EventstreamService | undefined,
    private readonly maxBatchBytes: number,
  ) {}

  private services(): EventstreamService[] {
    return [...new Set([...Object.values(this.routes), ...(this.fallback ? [this.fallback] : [])])];
  }

  async healthcheck(signal?: AbortSignal): Promise<void> {
    await Promise.all(this.services().map((s) => s.healthcheck(signal)));
  }

  async close(): Promise<void> {
    await Promise.all(this.services().map((s) => s.close()));
  }

  deliver(d: SinkDelivery): Promise<SinkResult> {
    const service = longestPrefix(this.routes, keyOf(d.header)) ?? this.fallback;
    if (!service) {
      return Promise.resolve({ sink: this.name, rowsSent: 0, rowsSkippedAsAlreadySent: 0, rowsRejected: 0, requests: 0, retries: 0, throttledMs: 0, durationMs: 0, rejects: [], note: 'no Eventstream for this key (no EVENTSTREAM_ROUTES prefix matches, and EVENTSTREAM_CONNECTION_STRING is unset)' });
    }
    return deliverInBatches({ name: this.name, title: this.title, maxRowsPerFile: Infinity, prepare: async () => this.run(d, service) }, d);
  }

  private run(d: SinkDelivery, service: EventstreamService): SinkRun {
    const objectKey = keyOf(d.header);
    const version = versionOf(d.header);
    const encode = rowEncoder(d.header.schema.columns);
    return {
      encode,
      send: async (batch, stats, signal) => {
        const events: EventData[] = batch.rows.map((body, i) => ({ body: Buffer.from(body), contentType: 'application/json', properties: { objectKey, version, row: batch.index[i] + 1 } satisfies EventProperties }));
        await service.send(events, objectKey, stats, signal);
      },
      // One batch in flight keeps the file's rows in order on its partition.
      limits: { maxRows: Infinity, maxBytes: this.maxBatchBytes, wrapperBytes: 64, inFlight: 1, rowOverheadBytes: eventOverheadBytes(objectKey, version) },
      // Event Hubs keeps whatever arrives: a row sent again is stored again.
      resendsMayDuplicate: true,
      extra: { target: service.target, partitionKey: objectKey },
    };
  }
}
