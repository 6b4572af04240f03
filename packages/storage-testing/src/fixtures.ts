import type { Readable } from 'node:stream';
import { digestOf, type ManifestWrite } from '@berth/core';

export const IMAGE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const IMAGE_INDEX = 'application/vnd.oci.image.index.v1+json';
export const SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

let nonce = 0;

/** Fields of a {@link manifestWrite} fixture to override. */
export type ManifestWriteOptions = Partial<Omit<ManifestWrite['manifest'], 'repository'>> & Partial<Omit<ManifestWrite, 'manifest'>>;

/** A manifest write with unique bytes (so a unique digest) unless the caller passes content. */
export function manifestWrite(repository: string, options: ManifestWriteOptions = {}): ManifestWrite {
  const { blobReferences = [], manifestReferences = [], tag, ...fields } = options;
  const content =
    fields.content ?? new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, nonce: `${process.pid}-${nonce++}` }));
  const write: ManifestWrite = {
    manifest: {
      repository,
      digest: fields.digest ?? digestOf(content),
      mediaType: fields.mediaType ?? IMAGE_MANIFEST,
      size: fields.size ?? content.byteLength,
      content,
      ...(fields.subject === undefined ? {} : { subject: fields.subject }),
      ...(fields.artifactType === undefined ? {} : { artifactType: fields.artifactType }),
      ...(fields.annotations === undefined ? {} : { annotations: fields.annotations }),
      ...(fields.summary === undefined ? {} : { summary: fields.summary }),
    },
    blobReferences,
    manifestReferences,
  };
  if (tag !== undefined) write.tag = tag;
  return write;
}

/** A well-formed blob digest named by a label (no blob needs to exist for the metadata store). */
export function blobDigest(label: string): string {
  return digestOf(`blob ${label}`);
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Pages through a keyset listing until an empty page, returning every page it got (the empty one excluded). */
export async function collectPages(fetch: (last: string | undefined) => Promise<string[]>): Promise<string[][]> {
  const pages: string[][] = [];
  let last: string | undefined;
  for (;;) {
    const page = await fetch(last);
    if (page.length === 0) return pages;
    pages.push(page);
    last = page.at(-1);
    if (pages.length > 100) throw new Error('pagination does not end');
  }
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}

/** An upload body made of the given parts, each one chunk. */
export async function* chunks(...parts: Array<Uint8Array | string>): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield typeof part === 'string' ? Buffer.from(part) : part;
}

/** A body that yields to the event loop between small pieces, so concurrent appends really overlap. */
export async function* slowly(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.byteLength; offset += 4096) {
    await new Promise((resolve) => setImmediate(resolve));
    yield bytes.subarray(offset, offset + 4096);
  }
}

/** Reads a stream to its end into one buffer (an empty one for undefined). */
export async function readAll(stream: Readable | undefined): Promise<Buffer> {
  if (stream === undefined) throw new Error('expected a stream, got undefined');
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part as Uint8Array));
  return Buffer.concat(parts);
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function pseudoRandomBytes(length: number, seed = 1): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < length; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[index] = state & 0xff;
  }
  return bytes;
}
