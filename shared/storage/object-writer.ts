/**
 * A text channel into one object, uploaded as it is written: small objects in one PUT when they
 * end, larger ones as a multipart upload of `partSize` parts with one part in flight while the next
 * fills. The upload is driven here, part by part (not through the SDK's stream upload, which
 * cannot be cancelled and leaves a source stream's error unhandled), so an abort stops at once,
 * aborts the multipart upload (no parts left behind) and never throws an unhandled stream error.
 */
import { createHash } from 'node:crypto';
import type { Storage } from './s3.js';

export class ObjectWriter {
  private chunks: Buffer[] = [];
  private size = 0;
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
  ) {}

  get started(): boolean {
    return this.wrote;
  }

  async write(text: string): Promise<void> {
    if (this.aborted) throw new Error('the upload was aborted');
    if (this.failed) throw this.failed;
    this.wrote = true;
    const b = Buffer.from(text);
    this.chunks.push(b);
    this.size += b.length;
    if (this.size >= this.partSize) await this.sendPart();
  }

  /** Start uploading the buffered bytes as the next part (after the previous one finished). */
  private async sendPart(): Promise<void> {
    const payload = Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    await this.inFlight;
    if (this.failed) throw this.failed;
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
      const body = Buffer.concat(this.chunks);
      this.chunks = [];
      await this.s3.putObject(this.bucket, this.key, body, body.length, { 'Content-Type': this.contentType });
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
    this.chunks = [];
    await this.inFlight;
    if (this.uploadId) await this.s3.abortMultipartUpload(this.bucket, this.key, this.uploadId).catch(() => undefined);
  }
}
