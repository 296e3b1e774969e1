/**
 * A text channel into one object, uploaded as it is written: small objects in one PUT when they
 * end, larger ones as a multipart upload of `partSize` parts with one part in flight while the next
 * fills. The upload is driven here, part by part (not through the SDK's stream upload, which
 * cannot be cancelled and leaves a source stream's error unhandled), so an abort stops at once,
 * aborts the multipart upload (no parts left behind) and never throws an unhandled stream error.
 */
import { createHash } from 'node:crypto';
import { putBytes, type Storage } from './s3.js';

/** S3's smallest multipart part (every part but the last): 5 MiB. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

export class ObjectWriter {
  /** The part being filled (it grows up to `partSize`), and the bytes in it. */
  private fill?: Buffer;
  private size = 0;
  /** The buffer of the part in flight, and one whose upload has ended (the next to fill). */
  private inFlightBuffer?: Buffer;
  private spare?: Buffer;
  private uploadId?: string;
  private readonly parts: { part: number; etag: string }[] = [];
  private inFlight?: Promise<void>;
  private failed?: unknown;
  private aborted = false;
  private wrote = false;

  constructor(
    private readonly s3: Storage,
    private readonly bucket: string,
    readonly key: string,
    private readonly contentType: string,
    private readonly partSize = 8 * 1024 * 1024,
    /** About how many bytes the object will hold (e.g. its source's size): the first buffer is made that large, not grown to it. */
    private readonly expectedBytes = 0,
  ) {}

  get started(): boolean {
    return this.wrote;
  }

  /**
   * Text is encoded straight into the part's buffer: two part buffers in all, reused, instead of
   * a Buffer a write and a concatenation a part. (That churn of native memory made publish's
   * resident size creep with the file, in malloc's heap, while V8's heap stayed at ~20 MB.)
   */
  async write(text: string): Promise<void> {
    if (this.aborted) throw new Error('the upload was aborted');
    if (this.failed) throw this.failed;
    this.wrote = true;
    const n = Buffer.byteLength(text);
    if (this.size + n <= this.partSize) {
      this.room(this.size + n);
      this.size += this.fill!.write(text, this.size);
      if (this.size === this.partSize) await this.sendPart();
      return;
    }
    // Across a part boundary (once a part): in pieces.
    await this.writeBytes(Buffer.from(text));
  }

  /** Bytes (a binary object, e.g. Parquet), copied into the part before this resolves: the caller may reuse them after. */
  async writeBytes(b: Uint8Array): Promise<void> {
    if (this.aborted) throw new Error('the upload was aborted');
    if (this.failed) throw this.failed;
    this.wrote = true;
    for (let at = 0; at < b.length; ) {
      const take = Math.min(b.length - at, this.partSize - this.size);
      this.room(this.size + take);
      this.fill!.set(b.subarray(at, at + take), this.size);
      this.size += take;
      at += take;
      if (this.size === this.partSize) await this.sendPart();
    }
  }

  /** A fill buffer of at least `bytes`: the spare one, or one that grows by doubling up to a part. */
  private room(bytes: number): void {
    if (!this.fill) {
      // Small objects stay small (as large as expected, with a quarter to spare: no copies while
      // it grows); once a part has gone, the next is a whole part anyway.
      const first = Math.max(64 * 1024, bytes, Math.ceil(1.25 * this.expectedBytes));
      this.fill = this.spare ?? Buffer.allocUnsafe(this.inFlightBuffer ? this.partSize : Math.min(this.partSize, first));
      this.spare = undefined;
    }
    if (this.fill.length >= bytes) return;
    const bigger = Buffer.allocUnsafe(Math.min(this.partSize, Math.max(2 * this.fill.length, bytes)));
    this.fill.copy(bigger, 0, 0, this.size);
    this.fill = bigger;
  }

  /** Start uploading the filled part (after the previous one finished). */
  private async sendPart(): Promise<void> {
    const buffer = this.fill!;
    const payload = buffer.subarray(0, this.size);
    this.fill = undefined;
    this.size = 0;
    await this.inFlight;
    if (this.failed) throw this.failed;
    // The previous part is uploaded: its buffer is the next to fill.
    this.spare = this.inFlightBuffer;
    this.inFlightBuffer = buffer;
    this.uploadId ??= await this.s3.initiateNewMultipartUpload(this.bucket, this.key, { 'Content-Type': this.contentType });
    const partNumber = this.parts.length + 1;
    this.parts.push({ part: partNumber, etag: '' });
    const uploadID = this.uploadId;
    this.inFlight = this.s3
      .uploadPart({ bucketName: this.bucket, objectName: this.key, uploadID, partNumber, headers: { 'Content-Length': String(payload.length), 'Content-MD5': createHash('md5').update(payload).digest('base64') } }, payload)
      .then((r) => {
        this.parts[partNumber - 1].etag = r.etag;
      })
      .catch((err) => {
        this.failed ??= err;
      });
  }

  /** Finish the object; one that was never written to is not created. */
  async end(): Promise<void> {
    if (this.aborted) throw new Error('the upload was aborted');
    if (!this.wrote) return;
    if (!this.uploadId && !this.inFlight) {
      const body = this.fill ? this.fill.subarray(0, this.size) : Buffer.alloc(0);
      this.fill = undefined;
      this.size = 0;
      await putBytes(this.s3, this.bucket, this.key, body, { 'Content-Type': this.contentType });
      return;
    }
    if (this.size > 0) await this.sendPart();
    await this.inFlight;
    if (this.failed) {
      await this.abort();
      throw this.failed;
    }
    await this.s3.completeMultipartUpload(this.bucket, this.key, this.uploadId!, this.parts);
  }

  /** Stop: nothing is completed, and a multipart upload is aborted (its parts removed). */
  async abort(): Promise<void> {
    if (this.aborted) return;
    this.aborted = true;
    this.fill = this.spare = undefined;
    await this.inFlight;
    if (this.uploadId) await this.s3.abortMultipartUpload(this.bucket, this.key, this.uploadId).catch(() => undefined);
  }
}
