import { RegistryError } from '@berth/core';

/** What a client is told when there is no room left for what it sends. */
export const STORAGE_FULL_MESSAGE = "the registry's storage is full";

/** Out of space, or out of the quota of the user the registry runs as. */
const FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);

export function isStorageFullError(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && FULL_CODES.has(code);
}

/**
 * Runs one store operation, answering a full filesystem with 507 Insufficient Storage (code
 * UNAVAILABLE: the client may retry once an operator has made room) rather than a 500. The
 * original error stays the cause, for the operator's log; the client sees only the message.
 */
export async function failFullAsInsufficientStorage<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (isStorageFullError(error)) throw new RegistryError('UNAVAILABLE', STORAGE_FULL_MESSAGE, { status: 507, cause: error });
    throw error;
  }
}
