// Registry requests for the fault suites, through node:http on fresh connections (no pooled socket
// survives a killed server), plus what the suites check on disk: the blob files and the SQLite file.
import { createHash } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { join } from 'node:path';
import { MediaType, sha256Digest } from './oci-image.js';

export { MediaType, sha256Digest };

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface Sent {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  /** A buffer (sent with its Content-Length) or a stream of chunks (chunked unless a Content-Length is given). */
  readonly body?: Uint8Array | AsyncIterable<Uint8Array>;
  readonly timeoutMs?: number;
}

/** One request on a connection of its own; rejects when the connection fails (a killed server). */
export function send(url: string, options: Sent = {}): Promise<Answer> {
  const { method = 'GET', body, timeoutMs = 30_000 } = options;
  const headers: Record<string, string> = { ...options.headers };
  if (body instanceof Uint8Array) headers['Content-Length'] = String(body.byteLength);
  return new Promise<Answer>((resolve, reject) => {
    const req = request(url, { method, headers, agent: false, timeout: timeoutMs }, (response) => {
      const parts: Buffer[] = [];
      response.on('data', (part: Buffer) => parts.push(part));
      response.on('error', reject);
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(parts) }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    if (body === undefined) req.end();
    else if (body instanceof Uint8Array) req.end(body);
    else
      void (async () => {
        try {
          for await (const chunk of body) {
            if (req.destroyed) return;
            // The server may go away mid-body (killed): stop at the close rather than wait for a drain forever.
            if (!req.write(chunk)) await new Promise((done) => (req.once('drain', done), req.once('close', done)));
          }
          req.end();
        } catch (error) {
          req.destroy(error as Error);
        }
      })();
  });
}

/** The `errors[0]` of an OCI error body. */
export function firstError(answer: Answer): { code?: string; message?: string } {
  try {
    return (JSON.parse(answer.body.toString('utf8')) as { errors: Array<{ code?: string; message?: string }> }).errors[0] ?? {};
  } catch {
    return {};
  }
}

function expectStatus(answer: Answer, expected: number, what: string): Answer {
  if (answer.status !== expected) {
    throw new Error(`${what}: expected ${expected}, got ${answer.status}: ${answer.body.toString('utf8').slice(0, 300)}`);
  }
  return answer;
}

/** A whole blob in one POST (`?digest=`). */
export async function pushBlob(base: string, repository: string, bytes: Uint8Array): Promise<Answer> {
  return send(`${base}/v2/${repository}/blobs/uploads/?digest=${sha256Digest(bytes)}`, { method: 'POST', body: bytes });
}

/** Starts an upload; returns its path (the Location). */
export async function startUpload(base: string, repository: string): Promise<string> {
  const answer = expectStatus(await send(`${base}/v2/${repository}/blobs/uploads/`, { method: 'POST' }), 202, 'POST upload');
  return String(answer.headers.location);
}

/** A chunk at `offset` (PATCH with Content-Range). */
export function patchChunk(base: string, location: string, chunk: Uint8Array, offset: number): Promise<Answer> {
  return send(`${base}${location}`, {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + chunk.byteLength - 1}` },
    body: chunk,
  });
}

/** Bytes the upload holds according to GET of its status (its Range), or the status when it is not 204. */
export async function uploadOffset(base: string, location: string): Promise<number> {
  const answer = expectStatus(await send(`${base}${location}`), 204, 'GET upload status');
  const [, end] = /^0-(\d+)$/.exec(String(answer.headers.range)) ?? [];
  if (end === undefined) throw new Error(`upload status without a Range: ${JSON.stringify(answer.headers)}`);
  // `0-0` is both "nothing yet" and "one byte"; the suites never stop at one byte.
  return Number(end) === 0 ? 0 : Number(end) + 1;
}

/** Completes an upload (PUT `?digest=`, no body). */
export function completeUpload(base: string, location: string, digest: string): Promise<Answer> {
  const separator = location.includes('?') ? '&' : '?';
  return send(`${base}${location}${separator}digest=${digest}`, { method: 'PUT', headers: { 'Content-Length': '0' } });
}

export function pushManifest(base: string, repository: string, reference: string, bytes: Uint8Array): Promise<Answer> {
  return send(`${base}/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'Content-Type': MediaType.ociManifest },
    body: bytes,
  });
}

export function getManifest(base: string, repository: string, reference: string): Promise<Answer> {
  return send(`${base}/v2/${repository}/manifests/${reference}`, { headers: { Accept: MediaType.ociManifest } });
}

export function getBlob(base: string, repository: string, digest: string): Promise<Answer> {
  return send(`${base}/v2/${repository}/blobs/${digest}`);
}

export interface BlobRef {
  readonly digest: string;
  readonly size: number;
}

/** An OCI image manifest over a config and layers already pushed (annotations make otherwise equal ones differ). */
export function imageManifest(config: BlobRef, layers: readonly BlobRef[], annotations?: Record<string, string>): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
      layers: layers.map((layer) => ({ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size })),
      ...(annotations && { annotations }),
    }),
  );
}

/** A small valid image config (the registry does not parse it; a client would). */
export function imageConfig(seed: string): Buffer {
  return Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed }));
}

export interface PartialRequest {
  readonly port: number;
  readonly method: string;
  readonly path: string;
  /** Declared in Content-Length; more than is sent. */
  readonly declaredLength: number;
  readonly body: Uint8Array;
  /** `fin`: close the connection normally; `reset`: send a TCP RST. */
  readonly close: 'fin' | 'reset';
}

/**
 * A client that sends the headers and part of the body of a request, then goes away: a raw socket,
 * so nothing (no HTTP client) finishes or retries the request on its behalf.
 */
export function sendPartialRequest(options: PartialRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(options.port, '127.0.0.1', () => {
      socket.write(
        `${options.method} ${options.path} HTTP/1.1\r\nHost: 127.0.0.1:${options.port}\r\n` +
          `Content-Type: application/octet-stream\r\nContent-Length: ${options.declaredLength}\r\n\r\n`,
      );
      // Wait until the kernel has taken every byte, so the server can read them all before the close.
      socket.write(options.body, () => {
        setTimeout(() => {
          if (options.close === 'reset') socket.resetAndDestroy();
          else socket.destroy();
        }, 100);
      });
    });
    socket.on('data', () => undefined);
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
}

export interface BlobFile {
  readonly path: string;
  /** The digest its path names. */
  readonly named: string;
  /** The digest of its bytes. */
  readonly actual: string;
  readonly size: number;
}

/** Every published blob file of a blob store rooted at `root` (`<root>/blobs/sha256/xx/<hex>`), hashed. */
export async function blobFiles(root: string): Promise<BlobFile[]> {
  const dir = join(root, 'blobs', 'sha256');
  const files: BlobFile[] = [];
  for (const prefix of await readdir(dir).catch(() => [] as string[])) {
    for (const hex of await readdir(join(dir, prefix))) {
      const path = join(dir, prefix, hex);
      const bytes = await readFile(path);
      files.push({ path, named: `sha256:${hex}`, actual: sha256Digest(bytes), size: bytes.byteLength });
    }
  }
  return files;
}

/** Names in a directory, [] when it does not exist. */
export async function entries(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

interface SqliteHandle {
  pragma(source: string, options?: { simple?: boolean }): unknown;
  prepare(sql: string): { get(...params: unknown[]): unknown; all(...params: unknown[]): unknown[] };
  close(): void;
}

// better-sqlite3 is a dependency of the SQLite adapter, not of the test tree: load it from there.
const adapterRequire = createRequire(new URL('../../packages/storage-sqlite/package.json', import.meta.url));

/** Opens a SQLite file with its own connection (read-only unless asked), as the suites inspect it. */
export function openSqlite(filename: string, options: { readonly?: boolean } = {}): SqliteHandle {
  const Database = adapterRequire('better-sqlite3') as new (filename: string, options?: { readonly?: boolean; fileMustExist?: boolean }) => SqliteHandle;
  return new Database(filename, { readonly: options.readonly ?? true, fileMustExist: true });
}

/** `PRAGMA integrity_check` of a SQLite file: 'ok' when intact. */
export function sqliteIntegrity(filename: string): string {
  const db = openSqlite(filename);
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}
