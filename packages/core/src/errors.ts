/**
 * The one error type of berth. It carries an OCI distribution error code and the HTTP status
 * it is answered with, so every layer can throw it and the HTTP layer only has to render it.
 */
export const ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  MANIFEST_UNVERIFIED: { status: 400, message: 'manifest failed signature verification' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  TAG_INVALID: { status: 400, message: 'invalid tag' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  /** A fault of the registry itself; never carries internals to the client. */
  UNKNOWN: { status: 500, message: 'unknown error' },
} as const;

/** An OCI Distribution error code (the keys of {@link ERROR_CODES}). */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Options of a {@link RegistryError}. */
export interface RegistryErrorOptions {
  /** Overrides the code's default HTTP status (for example 416 for an out-of-order chunk). */
  status?: number;
  /** Extra information for the client, sent as `detail` in the JSON error body. */
  detail?: unknown;
  /** Response headers the error needs (for example `Range` on a 416 of an upload). */
  headers?: Record<string, string>;
  /** The underlying error, kept as the error's `cause` for logs; never sent to the client. */
  cause?: unknown;
}

/**
 * Marks RegistryErrors by a registry-wide symbol rather than by class identity, so an error made by one
 * copy of `@berth/core` is recognised by another (an app and a plugin may each bundle their own).
 */
const REGISTRY_ERROR = Symbol.for('@berth/core.RegistryError');

/** An error with an OCI Distribution error code and HTTP status: what every layer of berth throws for a refusal. */
export class RegistryError extends Error {
  /**
   * Recognises RegistryErrors by their marker rather than by class, so `instanceof` also holds for one made by
   * another copy of this package.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isRegistryError(value);
  }

  /** The marker {@link isRegistryError} looks for. */
  readonly [REGISTRY_ERROR] = true;
  /** The OCI Distribution error code sent in the JSON body. */
  readonly code: ErrorCode;
  /** The HTTP status the error is answered with: the code's default unless the options override it. */
  readonly status: number;
  /** Extra information for the client (the body's `detail`); undefined when none. */
  readonly detail: unknown;
  /** Response headers to send with the error; empty when none. */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, options: RegistryErrorOptions = {}) {
    super(message ?? ERROR_CODES[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegistryError';
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  /** The spec's JSON error body. */
  toJSON(): { errors: Array<{ code: string; message: string; detail?: unknown }> } {
    const entry: { code: string; message: string; detail?: unknown } = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

/** Whether a value is a {@link RegistryError}, also one made by another copy of this package. */
export function isRegistryError(value: unknown): value is RegistryError {
  return typeof value === 'object' && value !== null && (value as { [REGISTRY_ERROR]?: unknown })[REGISTRY_ERROR] === true;
}
