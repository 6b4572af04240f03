import { RegistryError } from '@berth/core';

interface ServiceErrorShape {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

function statusOf(error: unknown): number | undefined {
  return (error as ServiceErrorShape | undefined)?.$metadata?.httpStatusCode;
}

/** A 404 from S3 (HeadObject answers NotFound without a body, GetObject NoSuchKey). */
export function isNotFound(error: unknown): boolean {
  const name = (error as ServiceErrorShape | undefined)?.name;
  return statusOf(error) === 404 || name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchUpload';
}

export function hasStatus(error: unknown, status: number): boolean {
  return statusOf(error) === status;
}

/**
 * S3 that cannot be reached (refused, reset, timed out: no HTTP status at all) or that answers 5xx or
 * 429 (SlowDown) is the registry's 503 UNAVAILABLE: the client retries later and service resumes by
 * itself. Any other answer (403 bad credentials, 404 no such bucket) is a configuration error and stays
 * what it is, so the operator sees it.
 */
export function asRegistryError(error: unknown): unknown {
  if (error instanceof RegistryError) return error;
  const status = statusOf(error);
  const shape = error as ServiceErrorShape | undefined;
  // Network failures reach us with the SDK's $metadata but no status, or as node's E… errors.
  const unreachable = status === undefined && (shape?.$metadata !== undefined || /^E[A-Z]+$/.test(shape?.code ?? '') || shape?.name === 'TimeoutError');
  if (unreachable || (status !== undefined && (status >= 500 || status === 429))) {
    return new RegistryError('UNAVAILABLE', 'the blob storage (S3) is unavailable', { cause: error });
  }
  return error;
}
