import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type $Command,
  type S3ClientConfig,
  type S3ClientResolvedConfig,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  RegistryError,
  parseDigest,
  satisfiableRange,
  type BlobInfo,
  type BlobReader,
  type BlobStore,
  type ByteRange,
  type ListedBlob,
  type ParsedDigest,
  type UploadState,
} from '@berth/core';
import { KeyedMutex } from '@berth/core/internal';
import { resumeSha256, saveSha256, sha256HexOf } from './running-sha256.js';
import { asRegistryError, hasStatus, isNotFound } from './s3-errors.js';
import { S3Layout, isUploadId } from './s3-layout.js';
import { PartUploads } from './part-uploads.js';
import { S3RangeReader } from './s3-range-reader.js';
import {
  offsetMismatch,
  parseSession,
  serializeSession,
  uploadUnknown,
  type StagedPiece,
  type UploadSession,
  type UploadedPart,
} from './upload-session.js';

const MIB = 1024 * 1024;
/** S3's smallest part (all but the last). */
const MIN_PART_BYTES = 5 * MIB;
/** CopyObject's limit; larger blobs are published by a multipart copy. */
const COPY_OBJECT_LIMIT = 5 * 1024 * MIB;
/**
 * Parts of one append being stored at once while the next arrives: 2 keeps S3 busy while the client sends,
 * and bounds an upload's memory to three parts (the one filling and two on their way).
 */
const PARTS_IN_FLIGHT = 2;
/** Range of one UploadPartCopy when publishing a blob past COPY_OBJECT_LIMIT. */
const COPY_PART_BYTES = 512 * MIB;

/** Options of {@link openS3BlobStore} and the {@link S3BlobStore} constructor. */
export interface S3BlobStoreOptions {
  /** The bucket blobs and uploads are kept in; it must exist. */
  bucket: string;
  /** Key prefix (a folder) for everything the store writes; default none. */
  prefix?: string;
  /** Region; default from the AWS chain (AWS_REGION, profile), else us-east-1. */
  region?: string;
  /** Endpoint of an S3-compatible server (Swift, Ceph radosgw, MinIO), e.g. http://127.0.0.1:8080. */
  endpoint?: string;
  /** Path-style URLs (endpoint/bucket/key), which most compatible servers need. */
  forcePathStyle?: boolean;
  /** Explicit credentials; default the standard AWS chain (environment, profiles, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Answer whole-blob downloads with a redirect to a presigned GET URL (as distribution's
   * `storage.redirect`), so the bytes do not pass through the registry. Off by default.
   */
  redirect?: boolean;
  /** How long a presigned URL is valid, in seconds; default 20 minutes. */
  redirectExpiresIn?: number;
  /** Bytes per multipart part, at least 5 MiB (S3's minimum); default 8 MiB. An append holds up to three (one arriving, two being stored). */
  partSize?: number;
  /** Attempts per S3 request (the SDK retries with backoff); default 3. */
  maxAttempts?: number;
  /** Blobs larger than this are published with UploadPartCopy instead of CopyObject; default 5 GiB (S3's limit). */
  copyObjectLimit?: number;
  /** Other S3Client settings (request handler, logger); the options above win. */
  clientConfig?: S3ClientConfig;
}

/**
 * A BlobStore in an S3 bucket. An upload is a multipart upload whose session (parts, staged bytes, the
 * sha256 state) is an object in the bucket, so any instance continues any upload; a commit verifies the
 * digest and then publishes by a server-side copy under blobs/, so a key there always holds a whole,
 * verified blob. S3 that cannot be reached or answers 5xx is a 503 UNAVAILABLE. See S3Layout for the keys.
 */
export class S3BlobStore implements BlobStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #layout: S3Layout;
  readonly #partSize: number;
  readonly #copyObjectLimit: number;
  readonly #redirect: boolean;
  readonly #redirectExpiresIn: number;
  readonly #locks = new KeyedMutex();
  #closed = false;

  constructor(options: S3BlobStoreOptions) {
    if (!options.bucket) throw new Error('the S3 blob store needs a bucket');
    const partSize = options.partSize ?? 8 * MIB;
    if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_BYTES) throw new Error(`partSize must be at least ${MIN_PART_BYTES} bytes`);
    this.#partSize = partSize;
    this.#bucket = options.bucket;
    this.#layout = new S3Layout(options.prefix);
    this.#copyObjectLimit = options.copyObjectLimit ?? COPY_OBJECT_LIMIT;
    this.#redirect = options.redirect ?? false;
    this.#redirectExpiresIn = options.redirectExpiresIn ?? 20 * 60;
    this.#client = new S3Client({
      ...options.clientConfig,
      ...(options.region !== undefined && { region: options.region }),
      ...(options.region === undefined && options.clientConfig?.region === undefined && !process.env.AWS_REGION && !process.env.AWS_DEFAULT_REGION && !process.env.AWS_PROFILE && { region: 'us-east-1' }),
      ...(options.endpoint !== undefined && { endpoint: options.endpoint }),
      ...(options.forcePathStyle !== undefined && { forcePathStyle: options.forcePathStyle }),
      ...(options.credentials !== undefined && { credentials: options.credentials }),
      maxAttempts: options.maxAttempts ?? 3,
      // Checksums only where S3 requires them: by default the SDK sends streamed bodies as aws-chunked
      // with a trailing checksum, which S3-compatible servers refuse or store framing and all.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    this.#client.middlewareStack.add(
      (next) => async (args) => {
        markUnsignedPayload(args.request);
        return next(args);
      },
      { step: 'build', name: 'berthUnsignedPayload' },
    );
  }

  /** The bucket the store uses. */
  get bucket(): string {
    return this.#bucket;
  }

  /** The key prefix everything is written under, normalised to end in `/` (`''` when none). */
  get prefix(): string {
    return this.#layout.prefix;
  }

  /** The bucket answers (HeadBucket): it exists and the credentials may use it. Nothing is written. */
  async ping(): Promise<void> {
    await this.#send(new HeadBucketCommand({ Bucket: this.#bucket }));
  }

  /** The blob's digest and size (a HEAD of its object), or undefined when there is no object. */
  async stat(digest: string): Promise<BlobInfo | undefined> {
    const parsed = parseDigest(digest);
    const size = await this.#objectSize(this.#layout.blobKey(parsed));
    return size === undefined ? undefined : { digest: parsed.value, size };
  }

  /** A stream of the blob's object, or of an inclusive range of it; undefined when the blob does not exist. */
  async open(digest: string, range?: ByteRange): Promise<Readable | undefined> {
    const parsed = parseDigest(digest);
    const key = this.#layout.blobKey(parsed);
    if (range === undefined) return (await this.#get(key))?.body;
    const opened = await this.#getRange(key, parsed, range);
    return opened?.body;
  }

  /** Positional reads over streamed ranged GETs; see S3RangeReader. */
  async openReader(digest: string, range?: ByteRange): Promise<BlobReader | undefined> {
    const parsed = parseDigest(digest);
    const key = this.#layout.blobKey(parsed);
    const opened = range === undefined ? await this.#get(key) : await this.#getRange(key, parsed, range);
    if (opened === undefined) return undefined;
    const start = range?.start ?? 0;
    const size = opened.length;
    return new S3RangeReader(size, opened.body, async (offset) => {
      const next = await this.#send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: key, Range: `bytes=${start + offset}-${start + size - 1}`, IfMatch: opened.etag }),
      );
      return next.Body as Readable;
    });
  }

  /**
   * A presigned GET URL of the whole blob when the store redirects downloads (option `redirect`), else
   * undefined (the registry then streams the blob itself).
   */
  async redirectUrl(digest: string): Promise<string | undefined> {
    if (!this.#redirect) return undefined;
    const key = this.#layout.blobKey(parseDigest(digest));
    return getSignedUrl(this.#client, new GetObjectCommand({ Bucket: this.#bucket, Key: key }), { expiresIn: this.#redirectExpiresIn });
  }

  /** Every object under blobs/, a listing page (1000 keys) at a time. */
  async *listBlobs(): AsyncIterable<ListedBlob> {
    for await (const object of this.#listObjects(this.#layout.blobsPrefix)) {
      const digest = this.#layout.digestOfKey(object.key);
      if (digest !== undefined) yield { digest, size: object.size, modifiedAt: object.modifiedAt };
    }
  }

  /** Deletes the blob's object; false when there was none. */
  async delete(digest: string): Promise<boolean> {
    const key = this.#layout.blobKey(parseDigest(digest));
    // S3's delete does not say whether there was anything to delete.
    if ((await this.#objectSize(key)) === undefined) return false;
    await this.#send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
    return true;
  }

  /** Refuses uploads from now on (503) and frees the client's pooled sockets. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.destroy();
  }

  /** Starts an upload, recorded as a session object in the bucket, and returns its state. */
  beginUpload(): Promise<UploadState> {
    return this.#whileOpen(async () => {
      const session: UploadSession = { id: randomUUID(), startedAt: new Date(), size: 0, parts: [], staged: [] };
      await this.#saveSession(session);
      return stateOf(session);
    });
  }

  /** The upload's state, read from its session object; undefined when unknown. */
  async uploadState(id: string): Promise<UploadState | undefined> {
    const session = await this.#loadSession(id);
    return session && stateOf(session);
  }

  /** Appends a stream to the upload, which must hold exactly `expectedOffset` bytes (else 416 BLOB_UPLOAD_INVALID). */
  appendUpload(id: string, body: AsyncIterable<Uint8Array>, expectedOffset: number): Promise<UploadState> {
    return this.#whileOpen(() => this.#locks.run(id, () => this.#append(id, body, expectedOffset)));
  }

  /**
   * Verifies that the upload hashes to `expectedDigest` and publishes it as the blob's object; on a mismatch removes
   * the upload (DIGEST_INVALID).
   */
  commitUpload(id: string, expectedDigest: string): Promise<BlobInfo> {
    return this.#whileOpen(async () => {
      const expected = parseDigest(expectedDigest);
      return this.#locks.run(id, () => this.#commit(id, expected));
    });
  }

  /** Discards the upload and what it stored; false when it was unknown. */
  abortUpload(id: string): Promise<boolean> {
    if (!isUploadId(id)) return Promise.resolve(false);
    return this.#locks.run(id, async () => {
      const session = await this.#loadSession(id);
      if (session === undefined) return false;
      await this.#removeUpload(session);
      return true;
    });
  }

  /**
   * Removes uploads begun before `date`, with their multipart uploads and staged objects, and whatever
   * under uploads/ or in an unfinished multipart upload no session owns any more (a crash between two
   * steps) once it is older than `date`. Returns the ids of the uploads removed.
   */
  async purgeUploads(date: Date): Promise<string[]> {
    const removed = new Set<string>();
    const owned = new Set<string>();
    const orphans = new Map<string, string[]>();
    for await (const object of this.#listObjects(this.#layout.uploadsPrefix)) {
      const id = this.#layout.uploadIdOfKey(object.key);
      if (id === undefined || owned.has(id) || removed.has(id)) continue;
      const session = orphans.has(id) ? undefined : await this.#loadSession(id);
      if (session !== undefined && session.startedAt >= date) {
        owned.add(id);
      } else if (session !== undefined) {
        await this.#locks.run(id, () => this.#removeUpload(session));
        removed.add(id);
      } else {
        // Left by a removal cut short; young ones may belong to an upload whose session is being written.
        const keys = orphans.get(id) ?? [];
        orphans.set(id, keys);
        if (object.modifiedAt < date) keys.push(object.key);
      }
    }
    for (const [id, keys] of orphans) {
      await Promise.all(keys.map((key) => this.#deleteObject(key)));
      if (keys.length > 0) removed.add(id);
    }
    for await (const upload of this.#listMultipartUploads(this.#layout.uploadsPrefix)) {
      const id = this.#layout.uploadIdOfKey(upload.key);
      if (id !== undefined && !owned.has(id) && upload.initiated < date) {
        await this.#abortMultipart(upload.key, upload.uploadId);
        removed.add(id);
      }
    }
    return [...removed];
  }

  async #append(id: string, body: AsyncIterable<Uint8Array>, expectedOffset: number): Promise<UploadState> {
    const session = await this.#loadSession(id);
    if (session === undefined) throw uploadUnknown(id);
    // The session in the bucket, not memory, says how much was received: another instance may have appended.
    if (session.size !== expectedOffset) throw offsetMismatch(id, session.size, expectedOffset);

    const hasher = await resumeSha256(session.sha256State);
    const next: UploadSession = { ...session, parts: [...session.parts], staged: [...session.staged] };
    /** The staged piece this append wrote: removed again if it fails, since no session would own it. */
    const written: StagedPiece[] = [];
    /** Staged pieces folded into parts: removed once the new session is saved. */
    const consumed: StagedPiece[] = [];
    const parts = new PartUploads(PARTS_IN_FLIGHT, (partNumber, bytes) => this.#uploadPart(id, next.multipartUploadId!, partNumber, bytes));
    /** Bytes staged by earlier appends: the head of this append's first part, read back when it is sent. */
    let stagedBytes = sum(next.staged);
    /** The part being filled, and how far: its first `stagedBytes` are left for the staged pieces. */
    let part: Buffer | undefined;
    let filled = stagedBytes;
    let partsSent = 0;

    const sendPart = async (buffer: Buffer) => {
      if (stagedBytes > 0) {
        let at = 0;
        for (const piece of await Promise.all(next.staged.map((staged) => this.#readObject(staged.key)))) at += piece.copy(buffer, at);
        // Only earlier appends' pieces can be staged here: this one stages its rest after its last part.
        consumed.push(...next.staged);
        next.staged = [];
        stagedBytes = 0;
      }
      // Saved with the session as it was (nothing of this append yet), so no multipart upload is ever unnamed.
      next.multipartUploadId ??= await this.#createMultipart(session);
      partsSent += 1;
      await parts.add(session.parts.length + partsSent, buffer.subarray(0, filled), buffer);
      part = undefined;
      filled = 0;
    };

    try {
      for await (const chunk of body) {
        hasher.update(chunk);
        next.size += chunk.byteLength;
        for (let taken = 0; taken < chunk.byteLength; ) {
          part ??= parts.take(this.#partSize);
          // Copied: the body's producer may reuse its buffers.
          const count = Math.min(chunk.byteLength - taken, this.#partSize - filled);
          part.set(chunk.subarray(taken, taken + count), filled);
          filled += count;
          taken += count;
          if (filled === this.#partSize) await sendPart(part);
        }
      }
      if (part !== undefined && filled >= MIN_PART_BYTES) {
        await sendPart(part);
      } else if (part !== undefined && filled > stagedBytes) {
        const piece = { key: this.#layout.stagedKey(id, randomUUID()), size: filled - stagedBytes };
        await this.#send(new PutObjectCommand({ Bucket: this.#bucket, Key: piece.key, Body: part.subarray(stagedBytes, filled), ContentLength: piece.size }));
        written.push(piece);
        next.staged.push(piece);
      }
      next.parts.push(...(await parts.finish()));
      next.sha256State = saveSha256(hasher);
      // The append happens here: until the session is saved, the upload is as it was.
      await this.#saveSession(next);
    } catch (error) {
      // Parts this append stored are in no session: a later part of that number replaces one, the upload's removal aborts them all.
      await parts.settle();
      await Promise.all(written.map((piece) => this.#deleteObject(piece.key).catch(() => undefined)));
      throw asRegistryError(error);
    }
    // Already out of the session; a failure here only leaves what the upload's removal lists and deletes.
    await Promise.all(consumed.map((piece) => this.#deleteObject(piece.key).catch(() => undefined)));
    return stateOf(next);
  }

  /** Stores one part of the upload's multipart upload; returns its ETag. */
  async #uploadPart(id: string, multipartUploadId: string, partNumber: number, bytes: Buffer): Promise<string> {
    const uploaded = await this.#send(
      new UploadPartCommand({ Bucket: this.#bucket, Key: this.#layout.dataKey(id), UploadId: multipartUploadId, PartNumber: partNumber, Body: bytes, ContentLength: bytes.byteLength }),
    );
    return uploaded.ETag!;
  }

  async #commit(id: string, expected: ParsedDigest): Promise<BlobInfo> {
    const session = await this.#loadSession(id);
    if (session === undefined) throw uploadUnknown(id);
    const mismatch = async (actualHex: string) => {
      await this.#removeUpload(session);
      return new RegistryError('DIGEST_INVALID', `upload ${id} does not match digest ${expected.value}`, {
        detail: { expected: expected.value, actual: `${expected.algorithm}:${actualHex}` },
      });
    };
    // sha256 is verified from the saved state, before anything is assembled or copied.
    if (expected.algorithm === 'sha256') {
      const actualHex = await sha256HexOf(session.sha256State);
      if (actualHex !== expected.hex) throw await mismatch(actualHex);
    }
    const source = await this.#assemble(session);
    if (expected.algorithm !== 'sha256') {
      const actualHex = await this.#hashObject(source, expected.algorithm);
      if (actualHex !== expected.hex) throw await mismatch(actualHex);
    }
    const blobKey = this.#layout.blobKey(expected);
    // Content addressing: a blob already there holds the same bytes, and this upload is simply dropped.
    if ((await this.#objectSize(blobKey)) === undefined) await this.#publish(source, blobKey, session.size);
    await this.#removeUpload(session);
    return { digest: expected.value, size: session.size };
  }

  /**
   * The key of one object holding all the upload's bytes (undefined for none): its only staged piece,
   * the pieces joined (less than a part), or the multipart upload completed with them as its last part.
   */
  async #assemble(session: UploadSession): Promise<string | undefined> {
    const dataKey = this.#layout.dataKey(session.id);
    if (session.size === 0) return undefined;
    if (session.multipartUploadId === undefined) {
      if (session.staged.length === 1) return session.staged[0]!.key;
      const joined = Buffer.concat(await Promise.all(session.staged.map((piece) => this.#readObject(piece.key))));
      await this.#send(new PutObjectCommand({ Bucket: this.#bucket, Key: dataKey, Body: joined, ContentLength: joined.byteLength }));
      return dataKey;
    }
    const parts: UploadedPart[] = [...session.parts];
    if (session.staged.length > 0) {
      const last = Buffer.concat(await Promise.all(session.staged.map((piece) => this.#readObject(piece.key))));
      const partNumber = parts.length + 1;
      const uploaded = await this.#send(
        new UploadPartCommand({ Bucket: this.#bucket, Key: dataKey, UploadId: session.multipartUploadId, PartNumber: partNumber, Body: last, ContentLength: last.byteLength }),
      );
      parts.push({ partNumber, etag: uploaded.ETag!, size: last.byteLength });
    }
    try {
      await this.#send(
        new CompleteMultipartUploadCommand({
          Bucket: this.#bucket,
          Key: dataKey,
          UploadId: session.multipartUploadId,
          MultipartUpload: { Parts: parts.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag })) },
        }),
      );
    } catch (error) {
      // A commit that completed and then failed before publishing (a crash, S3 gone): the data is there.
      if (!(isNotFound(error) && (await this.#objectSize(dataKey)) === session.size)) throw error;
    }
    return dataKey;
  }

  /** Server-side copy of verified bytes to the blob's key: one CopyObject, or a multipart copy past its limit. */
  async #publish(source: string | undefined, blobKey: string, size: number): Promise<void> {
    if (source === undefined) {
      await this.#send(new PutObjectCommand({ Bucket: this.#bucket, Key: blobKey, Body: Buffer.alloc(0), ContentLength: 0 }));
      return;
    }
    const copySource = `${this.#bucket}/${encodeURIComponent(source).replaceAll('%2F', '/')}`;
    if (size <= this.#copyObjectLimit) {
      await this.#send(new CopyObjectCommand({ Bucket: this.#bucket, Key: blobKey, CopySource: copySource }));
      return;
    }
    const created = await this.#send(new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: blobKey }));
    const uploadId = created.UploadId!;
    try {
      const copyPart = Math.max(MIN_PART_BYTES, Math.min(COPY_PART_BYTES, this.#copyObjectLimit));
      const parts: Array<{ PartNumber: number; ETag: string }> = [];
      for (let start = 0, partNumber = 1; start < size; start += copyPart, partNumber++) {
        const end = Math.min(start + copyPart, size) - 1;
        const copied = await this.#send(
          new UploadPartCopyCommand({ Bucket: this.#bucket, Key: blobKey, UploadId: uploadId, PartNumber: partNumber, CopySource: copySource, CopySourceRange: `bytes=${start}-${end}` }),
        );
        parts.push({ PartNumber: partNumber, ETag: copied.CopyPartResult!.ETag! });
      }
      await this.#send(new CompleteMultipartUploadCommand({ Bucket: this.#bucket, Key: blobKey, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    } catch (error) {
      // Nothing under the blob's key until the copy completes: abort, and leave no parts behind.
      await this.#abortMultipart(blobKey, uploadId).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Removes everything the upload owns: its multipart upload (with every part, also ones a failed append
   * sent), the objects under uploads/<id>/, and the session last, so a removal cut short can be retried.
   */
  async #removeUpload(session: UploadSession): Promise<void> {
    if (session.multipartUploadId !== undefined) await this.#abortMultipart(this.#layout.dataKey(session.id), session.multipartUploadId);
    const stateKey = this.#layout.stateKey(session.id);
    const keys: string[] = [];
    for await (const object of this.#listObjects(this.#layout.uploadPrefix(session.id))) if (object.key !== stateKey) keys.push(object.key);
    await Promise.all(keys.map((key) => this.#deleteObject(key)));
    await this.#deleteObject(stateKey);
  }

  /** Creates the upload's multipart upload and saves `session` (as it is in the bucket) naming it. */
  async #createMultipart(session: UploadSession): Promise<string> {
    const created = await this.#send(new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#layout.dataKey(session.id) }));
    const uploadId = created.UploadId!;
    await this.#saveSession({ ...session, multipartUploadId: uploadId });
    return uploadId;
  }

  async #abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.#send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: key, UploadId: uploadId }));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async #loadSession(id: string): Promise<UploadSession | undefined> {
    if (!isUploadId(id)) return undefined;
    const text = await this.#readObject(this.#layout.stateKey(id)).catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
    return text === undefined ? undefined : parseSession(id, text.toString('utf8'));
  }

  async #saveSession(session: UploadSession): Promise<void> {
    const body = Buffer.from(serializeSession(session));
    await this.#send(new PutObjectCommand({ Bucket: this.#bucket, Key: this.#layout.stateKey(session.id), Body: body, ContentLength: body.byteLength, ContentType: 'application/json' }));
  }

  /** A small object's bytes (a session, a staged piece: less than a part). */
  async #readObject(key: string): Promise<Buffer> {
    const got = await this.#send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
    return Buffer.from(await got.Body!.transformToByteArray());
  }

  async #hashObject(key: string | undefined, algorithm: string): Promise<string> {
    const hash = createHash(algorithm);
    if (key !== undefined) {
      const got = await this.#send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      for await (const chunk of got.Body as Readable) hash.update(chunk as Buffer);
    }
    return hash.digest('hex');
  }

  async #objectSize(key: string): Promise<number | undefined> {
    try {
      const head = await this.#send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return head.ContentLength ?? 0;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async #deleteObject(key: string): Promise<void> {
    await this.#send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
  }

  /** The whole object, streamed, or undefined when it does not exist. */
  async #get(key: string): Promise<{ body: Readable; length: number; etag?: string } | undefined> {
    try {
      const got = await this.#send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      return { body: got.Body as Readable, length: got.ContentLength ?? 0, ...(got.ETag !== undefined && { etag: got.ETag }) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** An inclusive range of the object, streamed; 416 (as satisfiableRange words it) outside the object. */
  async #getRange(key: string, digest: ParsedDigest, range: ByteRange): Promise<{ body: Readable; length: number; etag?: string } | undefined> {
    // S3 ignores a malformed Range (start past end) and sends the whole object: refuse it here.
    if (!(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.start <= range.end)) {
      const size = await this.#objectSize(key);
      if (size === undefined) return undefined;
      satisfiableRange(range, size, digest.value);
    }
    try {
      const got = await this.#send(new GetObjectCommand({ Bucket: this.#bucket, Key: key, Range: `bytes=${range.start}-${range.end}` }));
      return { body: got.Body as Readable, length: got.ContentLength ?? 0, ...(got.ETag !== undefined && { etag: got.ETag }) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      if (!hasStatus(error, 416)) throw error;
      const size = await this.#objectSize(key);
      if (size === undefined) return undefined;
      satisfiableRange(range, size, digest.value);
      throw error;
    }
  }

  async *#listObjects(prefix: string): AsyncIterable<{ key: string; size: number; modifiedAt: Date }> {
    let token: string | undefined;
    do {
      const page = await this.#send(new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ...(token !== undefined && { ContinuationToken: token }) }));
      for (const object of page.Contents ?? []) {
        if (object.Key !== undefined) yield { key: object.Key, size: object.Size ?? 0, modifiedAt: object.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async *#listMultipartUploads(prefix: string): AsyncIterable<{ key: string; uploadId: string; initiated: Date }> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.#send(
        new ListMultipartUploadsCommand({
          Bucket: this.#bucket,
          Prefix: prefix,
          ...(keyMarker !== undefined && { KeyMarker: keyMarker }),
          ...(uploadIdMarker !== undefined && { UploadIdMarker: uploadIdMarker }),
        }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key !== undefined && upload.UploadId !== undefined) yield { key: upload.Key, uploadId: upload.UploadId, initiated: upload.Initiated ?? new Date(0) };
      }
      if (!page.IsTruncated) return;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  /** Sends a command; S3 unreachable or failing (5xx) becomes 503 UNAVAILABLE. */
  async #send<Input extends ServiceInputTypes, Output extends ServiceOutputTypes>(
    command: $Command<Input, Output, S3ClientResolvedConfig>,
  ): Promise<Output> {
    try {
      return await this.#client.send(command);
    } catch (error) {
      throw asRegistryError(error);
    }
  }

  /** Runs a write, or refuses it once the store is closed. */
  #whileOpen<T>(write: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new RegistryError('UNAVAILABLE', 'the blob store is closed'));
    return write();
  }
}

/** Opens an S3 blob store; the bucket must exist (use `ping()` to check that it answers). */
export async function openS3BlobStore(options: S3BlobStoreOptions): Promise<S3BlobStore> {
  return new S3BlobStore(options);
}

function stateOf(session: UploadSession): UploadState {
  return { id: session.id, size: session.size, startedAt: session.startedAt };
}

function sum(pieces: readonly StagedPiece[]): number {
  return pieces.reduce((total, piece) => total + piece.size, 0);
}

/**
 * Sends bodies as UNSIGNED-PAYLOAD, as the SDK already does for streamed ones: otherwise the signer hashes
 * every part (a second sha256 pass over each byte, next to the digest's). The registry checks what it
 * received against the digest itself; TLS (an https endpoint) protects the bytes on their way to S3.
 */
function markUnsignedPayload(request: unknown): void {
  const { headers, body } = request as { headers?: Record<string, string>; body?: unknown };
  if (headers !== undefined && ArrayBuffer.isView(body) && body.byteLength > 0) headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
}
