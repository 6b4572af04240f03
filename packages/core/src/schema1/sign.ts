import { sign } from 'node:crypto';
import { RegistryError } from '../errors.js';
import { encodeBase64Url } from './base64url.js';
import { marshalGoValue } from './go-json.js';
import { libtrustPublicJwkBytes, type LibtrustKey } from './libtrust-key.js';
import { parseJsonBytes, payloadFormatOf, prettyJwsBytes } from './pretty-jws.js';

/** libtrust's protected-header time: RFC 3339 in UTC, whole seconds (`2015-04-08T18:52:59Z`). */
function protectedTime(time: Date): string {
  if (Number.isNaN(time.getTime())) throw new TypeError('signing time is not a valid date');
  return `${time.toISOString().slice(0, 19)}Z`;
}

/**
 * Signs a schema1 payload (the canonical bytes, e.g. from convertToSchema1) with ES256 and returns the
 * signed document exactly as libtrust writes it: the payload with a `signatures` member holding one
 * signature whose header carries the key's JWK and `alg`, and whose protected header carries
 * formatLength, formatTail and `time`. Everything but the ECDSA signature is deterministic for a
 * given key and time. The digest of the result is still sha256(payload).
 */
export function signSchema1Payload(payload: Uint8Array, key: LibtrustKey, time: Date = new Date()): Uint8Array {
  const document = parseJsonBytes(payload);
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new RegistryError('MANIFEST_INVALID', 'schema1 payload must be a JSON object');
  }
  const { formatLength, formatTail } = payloadFormatOf(payload);
  const protectedHeader = encodeBase64Url(
    marshalGoValue({ formatLength, formatTail: encodeBase64Url(formatTail), time: protectedTime(time) }),
  );
  const signingInput = Buffer.from(`${protectedHeader}.${encodeBase64Url(payload)}`, 'ascii');
  const signature = sign('sha256', signingInput, { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  return prettyJwsBytes(payload, [
    {
      kid: key.kid,
      jwk: libtrustPublicJwkBytes(key),
      alg: 'ES256',
      signature: encodeBase64Url(signature),
      protected: protectedHeader,
    },
  ]);
}
