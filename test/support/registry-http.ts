// Plain HTTP reads against a registry, to check what the server itself reports (digest header,
// content type, error body) independently of skopeo.
import { MediaType } from './oci-image.js';

/** Every manifest type a modern client accepts; distribution 2.8 hides OCI manifests without it. */
export const ACCEPT_ALL_MANIFESTS = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerManifestList,
  MediaType.dockerManifest,
].join(', ');

export interface HttpAnswer {
  readonly status: number;
  readonly contentType: string | null;
  /** The Docker-Content-Digest header. */
  readonly digest: string | null;
  readonly body: Buffer;
}

export async function getManifest(baseUrl: string, repository: string, reference: string, method: 'GET' | 'HEAD' = 'GET'): Promise<HttpAnswer> {
  return request(`${baseUrl}/v2/${repository}/manifests/${reference}`, method, { accept: ACCEPT_ALL_MANIFESTS });
}

export async function getBlob(baseUrl: string, repository: string, digest: string): Promise<HttpAnswer> {
  return request(`${baseUrl}/v2/${repository}/blobs/${digest}`, 'GET', {});
}

/** The `errors[].code` values of an OCI error body, or [] if the body is not one. */
export function errorCodes(answer: HttpAnswer): string[] {
  try {
    const parsed = JSON.parse(answer.body.toString('utf8')) as { errors?: { code?: unknown }[] };
    return (parsed.errors ?? []).map((e) => String(e.code));
  } catch {
    return [];
  }
}

async function request(url: string, method: string, headers: Record<string, string>): Promise<HttpAnswer> {
  const response = await fetch(url, { method, headers, redirect: 'follow', signal: AbortSignal.timeout(30_000) });
  const body = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    digest: response.headers.get('docker-content-digest'),
    body,
  };
}
