import assert from 'node:assert/strict';
import { RegistryError, type ErrorCode } from '@berth/core';

/** What {@link rejectsWithRegistryError} expects of the error: its code, status and headers (each checked when given). */
export interface ExpectedRegistryError {
  /** Left out where the interface fixes only the status. */
  code?: ErrorCode;
  /** The HTTP status the error must carry. */
  status?: number;
  /** Headers the error must carry with these values (others it carries are not checked). */
  headers?: Record<string, string>;
}

/**
 * Asserts that `promise` rejects with a RegistryError of the given code, status and headers (those
 * given), and returns it. A plain Error, or a RegistryError from another copy of `@berth/core`,
 * fails: the HTTP layer would answer either with a 500.
 */
export async function rejectsWithRegistryError(promise: Promise<unknown>, expected: ExpectedRegistryError): Promise<RegistryError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  const wanted = `a RegistryError ${expected.code ?? ''}${expected.status === undefined ? '' : ` (${expected.status})`}`;
  if (caught === undefined) assert.fail(`expected ${wanted}, but the promise resolved`);
  assert.ok(caught instanceof RegistryError, `expected ${wanted}, got ${String(caught)}`);
  if (expected.code !== undefined) assert.equal(caught.code, expected.code, `RegistryError code (message: ${caught.message})`);
  if (expected.status !== undefined) assert.equal(caught.status, expected.status, 'RegistryError status');
  for (const [name, value] of Object.entries(expected.headers ?? {})) {
    assert.equal(caught.headers[name], value, `RegistryError header ${name}`);
  }
  return caught;
}
