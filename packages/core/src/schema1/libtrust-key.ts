import {
  createECDH,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  X509Certificate,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { RegistryError } from '../errors.js';
import { decodeBase64Url, encodeBase64Url } from './base64url.js';
import { marshalGoValue, type GoValue } from './go-json.js';

/**
 * A libtrust signing key, as docker/libtrust and distribution 2.8 use for schema1: ECDSA P-256.
 * Keys loaded from a file are refused with a TypeError (they are configuration, not client input).
 */
export interface LibtrustKey {
  /** The P-256 private key that signs manifests. */
  readonly privateKey: KeyObject;
  /** The matching public key, put in every signature's `jwk`. */
  readonly publicKey: KeyObject;
  /** The libtrust key ID, e.g. `OD6I:6DRK:JXEJ:KBM4:255X:NSAA:MUSF:E4VM:ZI6W:CUN2:L4Z6:LSF4`. */
  readonly kid: string;
  /**
   * Members libtrust keeps besides the key itself (unknown JWK members, PEM headers) and copies into
   * the `jwk` of every signature; usually empty.
   */
  readonly extendedFields: Readonly<Record<string, GoValue>>;
}

/** The public JWK libtrust puts in a signature header; serialised with its keys sorted. */
export interface LibtrustPublicJwk {
  /** The curve; always P-256. */
  crv: 'P-256';
  /** The libtrust key ID of the key. */
  kid: string;
  /** The key type; always EC. */
  kty: 'EC';
  /** The point's x coordinate, base64url without padding. */
  x: string;
  /** The point's y coordinate, base64url without padding. */
  y: string;
}

const P256_COORDINATE_BYTES = 32;
const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const STANDARD_JWK_MEMBERS = new Set(['kty', 'crv', 'x', 'y', 'd', 'kid']);

function base32(bytes: Uint8Array): string {
  let text = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      text += BASE32_ALPHABET[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) text += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return text;
}

/**
 * libtrust's key ID: sha256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 without padding,
 * in groups of four joined by `:`. Works for any public key (EC or RSA).
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const encoded = base32(createHash('sha256').update(der).digest().subarray(0, 30));
  return encoded.match(/.{1,4}/g)!.join(':');
}

function isP256(key: KeyObject): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

function keyFromPrivate(privateKey: KeyObject, extendedFields: Record<string, GoValue> = {}): LibtrustKey {
  if (!isP256(privateKey)) throw new TypeError('libtrust signing key must be an ECDSA P-256 private key');
  const publicKey = createPublicKey(privateKey);
  return Object.freeze({ privateKey, publicKey, kid: libtrustKeyId(publicKey), extendedFields });
}

export function generateLibtrustKey(): LibtrustKey {
  return keyFromPrivate(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
}

/** A coordinate or scalar as base64url, left-padded to the curve's byte length. */
function paddedBase64Url(value: string | undefined, length: number): string {
  const bytes = value === undefined ? undefined : decodeBase64Url(value);
  if (bytes === undefined || bytes.length > length) throw new TypeError('malformed EC key component');
  const padded = new Uint8Array(length);
  padded.set(bytes, length - bytes.length);
  return encodeBase64Url(padded);
}

function ecJwkOf(key: KeyObject): JsonWebKey {
  return key.export({ format: 'jwk' });
}

/** The public JWK of a key, members in libtrust's order (extended fields are not included). */
export function libtrustPublicJwk(key: LibtrustKey): LibtrustPublicJwk {
  const jwk = ecJwkOf(key.publicKey);
  return {
    crv: 'P-256',
    kid: key.kid,
    kty: 'EC',
    x: paddedBase64Url(jwk.x, P256_COORDINATE_BYTES),
    y: paddedBase64Url(jwk.y, P256_COORDINATE_BYTES),
  };
}

/** The `jwk` member of a signature header as libtrust serialises it: extended fields plus the key, sorted. */
export function libtrustPublicJwkBytes(key: LibtrustKey): Uint8Array {
  return marshalGoValue({ ...key.extendedFields, ...libtrustPublicJwk(key) });
}

/** The private key as libtrust's JWK JSON: `{"crv":"P-256","d":…,"kid":…,"kty":"EC","x":…,"y":…}`. */
export function libtrustKeyToJwk(key: LibtrustKey): string {
  const d = paddedBase64Url(ecJwkOf(key.privateKey).d, P256_COORDINATE_BYTES);
  const document = { ...key.extendedFields, ...libtrustPublicJwk(key), d };
  return Buffer.from(marshalGoValue(document)).toString('utf8');
}

function stringMember(jwk: Record<string, unknown>, name: string): string {
  const value = jwk[name];
  if (typeof value !== 'string') throw new TypeError(`JWK "${name}" must be a string`);
  return value;
}

function exactComponent(jwk: Record<string, unknown>, name: string): string {
  const value = stringMember(jwk, name);
  if (decodeBase64Url(value)?.length !== P256_COORDINATE_BYTES) {
    throw new TypeError(`JWK "${name}" must be ${P256_COORDINATE_BYTES} bytes of base64url`);
  }
  return value;
}

/** Loads a libtrust private JWK (a JSON string or the parsed object). A `kid`, when present, must match. */
export function libtrustKeyFromJwk(jwk: string | Record<string, unknown>): LibtrustKey {
  let document: unknown = jwk;
  if (typeof jwk === 'string') {
    try {
      document = JSON.parse(jwk);
    } catch {
      throw new TypeError('JWK is not valid JSON');
    }
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new TypeError('JWK must be a JSON object');
  }
  const members = document as Record<string, unknown>;
  if (members['kty'] !== 'EC' || members['crv'] !== 'P-256') {
    throw new TypeError('libtrust signing key must be an EC JWK on curve P-256');
  }
  const x = exactComponent(members, 'x');
  const y = exactComponent(members, 'y');
  const d = exactComponent(members, 'd');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: { kty: 'EC', crv: 'P-256', x, y, d }, format: 'jwk' });
  } catch (error) {
    throw new TypeError(`invalid EC private key: ${(error as Error).message}`);
  }
  const extendedFields: Record<string, GoValue> = {};
  for (const [name, value] of Object.entries(members)) {
    if (!STANDARD_JWK_MEMBERS.has(name) && value !== undefined) extendedFields[name] = value as GoValue;
  }
  // Node keeps (x, y) as given without checking them against d; a mismatched file would sign with
  // one key while showing another, so the point is recomputed from d.
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(decodeBase64Url(d)!));
  const point = ecdh.getPublicKey();
  if (encodeBase64Url(point.subarray(1, 33)) !== x || encodeBase64Url(point.subarray(33)) !== y) {
    throw new TypeError('JWK "d" does not match its public point');
  }
  const key = keyFromPrivate(privateKey, extendedFields);
  if (members['kid'] !== undefined && stringMember(members, 'kid') !== key.kid) {
    throw new TypeError('JWK key ID does not match the key');
  }
  return key;
}

interface PemBlock {
  type: string;
  headers: Array<[string, string]>;
  der: Buffer;
}

function pemBlocks(pem: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const pattern = /-----BEGIN ([^-\r\n]+)-----\r?\n([\s\S]*?)-----END \1-----/g;
  for (const match of pem.matchAll(pattern)) {
    const lines = match[2]!.split(/\r?\n/);
    const headers: Array<[string, string]> = [];
    let index = 0;
    for (; index < lines.length && lines[index]!.includes(':'); index++) {
      const line = lines[index]!;
      const colon = line.indexOf(':');
      headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
    }
    const body = lines.slice(index).join('').replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new TypeError(`PEM block "${match[1]}" is not base64`);
    blocks.push({ type: match[1]!, headers, der: Buffer.from(body, 'base64') });
  }
  return blocks;
}

/**
 * Loads a P-256 private key from PEM: SEC1 (`EC PRIVATE KEY`, what libtrust writes) or PKCS#8
 * (`PRIVATE KEY`). Other blocks (`EC PARAMETERS`) are skipped. PEM headers become extended fields,
 * as in libtrust (`hosts` is split on commas).
 */
export function libtrustKeyFromPem(pem: string | Uint8Array): LibtrustKey {
  const text = typeof pem === 'string' ? pem : Buffer.from(pem).toString('utf8');
  const block = pemBlocks(text).find((candidate) => candidate.type === 'EC PRIVATE KEY' || candidate.type === 'PRIVATE KEY');
  if (block === undefined) throw new TypeError('no "EC PRIVATE KEY" or "PRIVATE KEY" PEM block found');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: block.der, format: 'der', type: block.type === 'PRIVATE KEY' ? 'pkcs8' : 'sec1' });
  } catch (error) {
    throw new TypeError(`invalid ${block.type}: ${(error as Error).message}`);
  }
  const extendedFields: Record<string, GoValue> = {};
  for (const [name, value] of block.headers) extendedFields[name] = name === 'hosts' ? value.split(',') : value;
  return keyFromPrivate(privateKey, extendedFields);
}

/** A configured key as either text form: libtrust JWK (JSON) or PEM (PKCS#8 or SEC1 EC). */
export function libtrustKeyFromText(text: string): LibtrustKey {
  return text.trimStart().startsWith('{') ? libtrustKeyFromJwk(text) : libtrustKeyFromPem(text);
}

/** The PEM (PKCS#8) of a key, for storing a generated key. */
export function libtrustKeyToPem(key: LibtrustKey): string {
  return key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A public key taken from a signature, with what it takes to check a JWS made with it. */
export interface SignatureVerifier {
  key: KeyObject;
  /** The node:crypto hash for a JWS `alg`, undefined when the key cannot have made that algorithm. */
  hashFor(alg: string): string | undefined;
  /** ECDSA signatures are raw r‖s of this many bytes; undefined for RSA. */
  ecdsaSignatureLength?: number;
}

const EC_CURVES: Record<string, { crv: string; alg: string; hash: string; bytes: number }> = {
  prime256v1: { crv: 'P-256', alg: 'ES256', hash: 'sha256', bytes: 32 },
  secp384r1: { crv: 'P-384', alg: 'ES384', hash: 'sha384', bytes: 48 },
  secp521r1: { crv: 'P-521', alg: 'ES512', hash: 'sha512', bytes: 66 },
};
const RSA_HASHES: Record<string, string> = { RS256: 'sha256', RS384: 'sha384', RS512: 'sha512' };

function invalidKey(message: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message);
}

function verifierOf(key: KeyObject): SignatureVerifier {
  if (key.asymmetricKeyType === 'rsa') return { key, hashFor: (alg) => RSA_HASHES[alg] };
  const curve = key.asymmetricKeyType === 'ec' ? EC_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
  if (curve === undefined) throw invalidKey('signature key must be ECDSA P-256/P-384/P-521 or RSA');
  return { key, hashFor: (alg) => (alg === curve.alg ? curve.hash : undefined), ecdsaSignatureLength: 2 * curve.bytes };
}

/**
 * Reads the public JWK of a signature header as libtrust does (EC P-256/384/521 or RSA; coordinates
 * of exactly the curve's size; a `kid`, when present, must equal the recomputed one). Any problem is
 * MANIFEST_INVALID.
 */
export function verifierFromJwk(value: unknown): SignatureVerifier {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidKey('jwk must be an object');
  const jwk = value as Record<string, unknown>;
  const text = (name: string): string => {
    const member = jwk[name];
    if (typeof member !== 'string') throw invalidKey(`jwk "${name}" must be a string`);
    return member;
  };
  let imported: JsonWebKey;
  if (jwk['kty'] === 'EC') {
    const curve = Object.values(EC_CURVES).find((candidate) => candidate.crv === jwk['crv']);
    if (curve === undefined) throw invalidKey(`unsupported jwk curve ${JSON.stringify(jwk['crv'])}`);
    const x = text('x');
    const y = text('y');
    for (const coordinate of [x, y]) {
      if (decodeBase64Url(coordinate)?.length !== curve.bytes) throw invalidKey('jwk coordinate has the wrong size');
    }
    imported = { kty: 'EC', crv: curve.crv, x, y };
  } else if (jwk['kty'] === 'RSA') {
    const n = text('n');
    const e = text('e');
    if (decodeBase64Url(n) === undefined || decodeBase64Url(e) === undefined) throw invalidKey('jwk n/e not base64url');
    imported = { kty: 'RSA', n, e };
  } else {
    throw invalidKey(`unsupported jwk key type ${JSON.stringify(jwk['kty'])}`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: imported, format: 'jwk' });
  } catch (error) {
    throw invalidKey(`invalid jwk: ${(error as Error).message}`);
  }
  if (jwk['kid'] !== undefined && text('kid') !== libtrustKeyId(key)) throw invalidKey('jwk key ID does not match the key');
  return verifierOf(key);
}

/** The public key of the first certificate of an `x5c` chain (standard base64 DER). */
export function verifierFromCertificate(certificate: unknown): SignatureVerifier {
  if (typeof certificate !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(certificate)) {
    throw invalidKey('x5c entries must be base64 strings');
  }
  let key: KeyObject;
  try {
    key = new X509Certificate(Buffer.from(certificate, 'base64')).publicKey;
  } catch (error) {
    throw invalidKey(`invalid x5c certificate: ${(error as Error).message}`);
  }
  return verifierOf(key);
}
