import { verify as verifySignature } from 'node:crypto';
import { RegistryError } from '../errors.js';
import { decodeBase64Url, encodeBase64Url } from './base64url.js';
import { concatBytes, goArrayBytes, goObjectBytes, indentGoJson, quoteGoString, utf8Bytes } from './go-json.js';
import { verifierFromCertificate, verifierFromJwk, type SignatureVerifier } from './libtrust-key.js';

/**
 * libtrust's "pretty" JWS, the wire form of signed schema1: the payload JSON whose closing brace is
 * replaced by a `signatures` member. Each signature's protected header records `formatLength` and
 * `formatTail`, which recover the exact signed payload from the signed document.
 */

/** One entry of the `signatures` array, as found in a document. */
export interface JwsSignatureBlock {
  header: { jwk?: unknown; alg: string; x5c?: unknown[] };
  signature: string;
  protected: string;
}

export interface PrettyJws {
  /** The signed payload: `document[0:formatLength] ++ formatTail`, the bytes the digest is taken of. */
  payload: Uint8Array;
  formatLength: number;
  formatTail: Uint8Array;
  signatures: JwsSignatureBlock[];
}

export interface PayloadFormat {
  formatLength: number;
  formatTail: Uint8Array;
}

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

function invalid(message: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses JSON bytes; undefined when they are not JSON. A byte order mark is refused, as Go does. */
export function parseJsonBytes(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(utf8.decode(bytes));
  } catch {
    return undefined;
  }
}

function isSpace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0b || byte === 0x0c || byte === 0x0d;
}

/**
 * Where the signed document cuts the payload: after the last byte before the closing `}` (which
 * must not be a comma); the rest (`"\n}"` for distribution's payloads) is the format tail.
 */
export function payloadFormatOf(payload: Uint8Array): PayloadFormat {
  let close = payload.length - 1;
  while (close >= 0 && isSpace(payload[close])) close--;
  if (payload[close] !== 0x7d) throw invalid('payload must end with "}"');
  let last = close - 1;
  while (last >= 0 && isSpace(payload[last])) last--;
  if (last < 0 || payload[last] === 0x2c) throw invalid('payload must not end with a comma');
  return { formatLength: last + 1, formatTail: payload.slice(last + 1) };
}

function readProtectedHeader(encoded: unknown): PayloadFormat {
  if (typeof encoded !== 'string') throw invalid('signature "protected" must be a string');
  const decoded = decodeBase64Url(encoded);
  const header = decoded === undefined ? undefined : parseJsonBytes(decoded);
  if (!isObject(header)) throw invalid('signature "protected" is not a base64url JSON object');
  const { formatLength, formatTail } = header;
  if (typeof formatLength !== 'number' || !Number.isSafeInteger(formatLength) || formatLength < 0) {
    throw invalid('protected header has no valid formatLength');
  }
  const tail = typeof formatTail === 'string' ? decodeBase64Url(formatTail) : undefined;
  if (tail === undefined) throw invalid('protected header has no valid formatTail');
  return { formatLength, formatTail: tail };
}

function readSignatureBlock(value: unknown): JwsSignatureBlock {
  if (!isObject(value) || !isObject(value['header'])) throw invalid('each signature must be an object with a header');
  const { jwk, alg, x5c } = value['header'];
  if (typeof alg !== 'string') throw invalid('signature header "alg" must be a string');
  if (x5c !== undefined && x5c !== null && !Array.isArray(x5c)) throw invalid('signature header "x5c" must be an array');
  if (typeof value['signature'] !== 'string') throw invalid('"signature" must be a string');
  if (typeof value['protected'] !== 'string') throw invalid('"protected" must be a string');
  const header: JwsSignatureBlock['header'] = { alg };
  if (jwk !== undefined) header.jwk = jwk;
  if (Array.isArray(x5c)) header.x5c = x5c;
  return { header, signature: value['signature'], protected: value['protected'] };
}

/**
 * Reads a signed document the way libtrust's ParsePrettySignature does: every signature must carry
 * the same formatLength and formatTail, and formatLength may not exceed the document. Any problem is
 * MANIFEST_INVALID. `document` may pass the already-parsed JSON of `bytes`.
 */
export function parsePrettyJws(bytes: Uint8Array, document: unknown = parseJsonBytes(bytes)): PrettyJws {
  if (!isObject(document)) throw invalid('signed manifest must be a JSON object');
  const list = document['signatures'];
  if (list === undefined) throw invalid('manifest has no signatures');
  if (!Array.isArray(list) || list.length === 0) throw invalid('"signatures" must be a non-empty array');
  const signatures = list.map(readSignatureBlock);
  const formats = signatures.map((signature) => readProtectedHeader(signature.protected));
  const { formatLength, formatTail } = formats[0]!;
  for (const other of formats) {
    if (other.formatLength !== formatLength || Buffer.compare(other.formatTail, formatTail) !== 0) {
      throw invalid('signatures disagree on formatLength and formatTail');
    }
  }
  if (formatLength > bytes.length) throw invalid('formatLength is longer than the manifest');
  return { payload: concatBytes(bytes.subarray(0, formatLength), formatTail), formatLength, formatTail, signatures };
}

function verifierOf(signature: JwsSignatureBlock): SignatureVerifier {
  const chain = signature.header.x5c;
  if (chain !== undefined && chain.length > 0) return verifierFromCertificate(chain[0]);
  if (signature.header.jwk !== undefined) return verifierFromJwk(signature.header.jwk);
  throw new RegistryError('MANIFEST_UNVERIFIED', 'signature has no public key (jwk or x5c)');
}

/**
 * Checks every signature against the payload, as libtrust's Verify does (no trust evaluation). A
 * signature that does not verify, or whose alg does not fit its key, is MANIFEST_UNVERIFIED; an
 * unreadable key or signature is MANIFEST_INVALID.
 */
export function verifyPrettyJws(jws: PrettyJws): void {
  const encodedPayload = encodeBase64Url(jws.payload);
  for (const signature of jws.signatures) {
    const verifier = verifierOf(signature);
    const hash = verifier.hashFor(signature.header.alg);
    if (hash === undefined) {
      throw new RegistryError('MANIFEST_UNVERIFIED', `signature algorithm "${signature.header.alg}" does not match its key`);
    }
    const signatureBytes = decodeBase64Url(signature.signature);
    if (signatureBytes === undefined) throw invalid('signature is not base64url');
    if (verifier.ecdsaSignatureLength !== undefined && signatureBytes.length !== verifier.ecdsaSignatureLength) {
      throw invalid(`signature is ${signatureBytes.length} bytes, expected ${verifier.ecdsaSignatureLength}`);
    }
    const signingInput = Buffer.from(`${signature.protected}.${encodedPayload}`, 'ascii');
    const key = verifier.ecdsaSignatureLength === undefined ? verifier.key : { key: verifier.key, dsaEncoding: 'ieee-p1363' as const };
    let valid: boolean;
    try {
      valid = verifySignature(hash, signingInput, key, signatureBytes);
    } catch {
      valid = false;
    }
    if (!valid) throw new RegistryError('MANIFEST_UNVERIFIED', 'invalid signature');
  }
}

/** A signature ready to be written: `jwk` is the encoded JWK object (libtrust's serialisation). */
export interface EncodedSignature {
  kid: string;
  jwk: Uint8Array;
  alg: string;
  signature: string;
  protected: string;
}

/** libtrust's detectJSONIndent: what precedes the first key when the payload opens with `{\n`. */
function indentOf(payload: Uint8Array): string {
  if (payload.length > 2 && payload[0] === 0x7b && payload[1] === 0x0a) {
    const quote = payload.indexOf(0x22, 1);
    if (quote > 1) return Buffer.from(payload.subarray(2, quote)).toString('utf8');
  }
  return '';
}

/**
 * Writes the signed document as libtrust's PrettySignature: signatures sorted by key ID then
 * signature, indented like the payload (distribution: 3 spaces), then `\n}`; compact when the
 * payload is compact.
 */
export function prettyJwsBytes(payload: Uint8Array, signatures: readonly EncodedSignature[]): Uint8Array {
  if (signatures.length === 0) throw new TypeError('at least one signature is required');
  const { formatLength } = payloadFormatOf(payload);
  const sorted = [...signatures].sort((a, b) =>
    a.kid === b.kid ? (a.signature < b.signature ? -1 : a.signature > b.signature ? 1 : 0) : a.kid < b.kid ? -1 : 1,
  );
  const array = goArrayBytes(
    sorted.map((signature) =>
      goObjectBytes([
        ['header', goObjectBytes([['jwk', signature.jwk], ['alg', quoteGoString(signature.alg)]])],
        ['signature', quoteGoString(signature.signature)],
        ['protected', quoteGoString(signature.protected)],
      ]),
    ),
  );
  const indent = indentOf(payload);
  const head = payload.subarray(0, formatLength);
  if (indent === '') return concatBytes(head, utf8Bytes(',"signatures":'), array, utf8Bytes('}'));
  return concatBytes(
    head,
    utf8Bytes(`,\n${indent}"signatures": `),
    indentGoJson(array, indent, indent),
    utf8Bytes('\n}'),
  );
}
