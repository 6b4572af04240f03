// Reading signed schema1 manifests the way clients do, written independently of berth's code:
// recover the canonical payload with libtrust's formatLength/formatTail rule, verify every JWS
// signature (ES256/384/512 over `protected.payload`, key from the header's jwk, kid recomputed as
// libtrust does), and check the v1 id / parent chain as Docker's puller does.
import { createHash, createPublicKey, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';

export const SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
export const SCHEMA1_UNSIGNED = 'application/vnd.docker.distribution.manifest.v1+json';

export interface ProtectedHeader {
  readonly formatLength: number;
  readonly formatTail: string;
  readonly time: string;
}

export interface JwsSignature {
  readonly header: { readonly jwk?: JsonWebKey & { kid?: string }; readonly alg?: string; readonly x5c?: readonly string[] };
  readonly signature: string;
  readonly protected: string;
  readonly protectedHeader: ProtectedHeader;
}

export interface PrettyJws {
  /** The canonical payload: sha256 of these bytes is the manifest digest. */
  readonly payload: Buffer;
  readonly formatLength: number;
  readonly formatTail: Buffer;
  readonly signatures: readonly JwsSignature[];
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** libtrust ParsePrettySignature: payload = body[0:formatLength] ++ formatTail, the same in every signature. */
export function parsePrettyJws(body: Buffer): PrettyJws {
  const parsed = JSON.parse(body.toString('utf8')) as { signatures?: unknown };
  if (!Array.isArray(parsed.signatures) || parsed.signatures.length === 0) {
    throw new Error('no "signatures" array in the manifest');
  }
  let format: { length: number; tail: string } | undefined;
  const signatures = parsed.signatures.map((raw: unknown, i: number): JwsSignature => {
    const entry = raw as Partial<JwsSignature>;
    if (typeof entry.protected !== 'string' || !BASE64URL.test(entry.protected)) {
      throw new Error(`signature ${i}: "protected" is not unpadded base64url`);
    }
    if (typeof entry.signature !== 'string' || !BASE64URL.test(entry.signature)) {
      throw new Error(`signature ${i}: "signature" is not unpadded base64url`);
    }
    const header = JSON.parse(Buffer.from(entry.protected, 'base64url').toString('utf8')) as Partial<ProtectedHeader>;
    if (typeof header.formatLength !== 'number' || typeof header.formatTail !== 'string' || typeof header.time !== 'string') {
      throw new Error(`signature ${i}: protected header lacks formatLength, formatTail or time`);
    }
    if (format === undefined) format = { length: header.formatLength, tail: header.formatTail };
    else if (format.length !== header.formatLength || format.tail !== header.formatTail) {
      throw new Error(`signature ${i}: formatLength/formatTail differ from the first signature's`);
    }
    return { header: entry.header ?? {}, signature: entry.signature, protected: entry.protected, protectedHeader: header as ProtectedHeader };
  });
  const { length, tail } = format!;
  if (length > body.length) throw new Error(`formatLength ${length} exceeds the body length ${body.length}`);
  const formatTail = Buffer.from(tail, 'base64url');
  return { payload: Buffer.concat([body.subarray(0, length), formatTail]), formatLength: length, formatTail, signatures };
}

/** What libtrust writes as formatLength for `payload`: up to the last non-space byte before the final `}`. */
export function expectedFormatLength(payload: Buffer): number {
  const isSpace = (byte: number) => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
  let end = payload.length - 1;
  while (end >= 0 && isSpace(payload[end]!)) end--;
  if (payload[end] !== 0x7d) throw new Error('payload does not end with }');
  end--;
  while (end >= 0 && isSpace(payload[end]!)) end--;
  return end + 1;
}

const CURVE_OF_ALG: Record<string, { curve: string; hash: string; bytes: number }> = {
  ES256: { curve: 'P-256', hash: 'sha256', bytes: 64 },
  ES384: { curve: 'P-384', hash: 'sha384', bytes: 96 },
  ES512: { curve: 'P-521', hash: 'sha512', bytes: 132 },
};

/** Verifies every signature; throws on the first that fails. Returns the signers' kids. */
export function verifyPrettyJws(jws: PrettyJws): string[] {
  const encodedPayload = jws.payload.toString('base64url');
  return jws.signatures.map((signature, i) => {
    const { jwk, alg } = signature.header;
    if (jwk === undefined) throw new Error(`signature ${i}: no jwk in the header (x5c is not supported here)`);
    const expected = alg === undefined ? undefined : CURVE_OF_ALG[alg];
    if (expected === undefined) throw new Error(`signature ${i}: unsupported alg ${String(alg)}`);
    if (jwk.kty !== 'EC' || jwk.crv !== expected.curve) {
      throw new Error(`signature ${i}: alg ${alg} does not match a ${String(jwk.kty)} ${String(jwk.crv)} key`);
    }
    const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' });
    const kid = libtrustKeyId(key);
    if (jwk.kid !== undefined && jwk.kid !== kid) throw new Error(`signature ${i}: jwk kid ${jwk.kid} is not the key's kid ${kid}`);
    const raw = Buffer.from(signature.signature, 'base64url');
    if (raw.length !== expected.bytes) throw new Error(`signature ${i}: ${raw.length} bytes, expected ${expected.bytes}`);
    const input = Buffer.from(`${signature.protected}.${encodedPayload}`, 'ascii');
    if (!verify(expected.hash, input, { key, dsaEncoding: 'ieee-p1363' }, raw)) {
      throw new Error(`signature ${i} (kid ${kid}) does not verify over protected.payload`);
    }
    return kid;
  });
}

/**
 * Signs `payload` as libtrust does for a compact payload, with one signature per key (EC keys
 * only): `payload[0:formatLength] + ',"signatures":[...]' + formatTail`. Tests use it to push
 * signed schema1 whose exact bytes they know.
 */
export function signCompactPrettyJws(payload: Buffer, privateKeys: readonly KeyObject[], time = new Date()): Buffer {
  const formatLength = expectedFormatLength(payload);
  const formatTail = payload.subarray(formatLength);
  const encodedPayload = payload.toString('base64url');
  const signatures = privateKeys.map((privateKey) => {
    const publicKey = createPublicKey(privateKey);
    const jwk = publicKey.export({ format: 'jwk' });
    const alg = Object.entries(CURVE_OF_ALG).find(([, c]) => c.curve === jwk.crv)?.[0];
    if (alg === undefined) throw new Error(`no JWS alg for curve ${String(jwk.crv)}`);
    const protectedHeader = Buffer.from(
      JSON.stringify({ formatLength, formatTail: formatTail.toString('base64url'), time: time.toISOString().replace(/\.\d+Z$/, 'Z') }),
    ).toString('base64url');
    const signature = sign(CURVE_OF_ALG[alg]!.hash, Buffer.from(`${protectedHeader}.${encodedPayload}`, 'ascii'), {
      key: privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return {
      header: { jwk: { crv: jwk.crv, kid: libtrustKeyId(publicKey), kty: jwk.kty, x: jwk.x, y: jwk.y }, alg },
      signature: signature.toString('base64url'),
      protected: protectedHeader,
    };
  });
  return Buffer.concat([
    payload.subarray(0, formatLength),
    Buffer.from(`,"signatures":${JSON.stringify(signatures)}`),
    formatTail,
  ]);
}

/** libtrust's key id: sha256(DER SubjectPublicKeyInfo), 240 bits, base32 without padding, groups of 4. */
export function libtrustKeyId(key: KeyObject): string {
  const hash = createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of hash) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return out.match(/.{4}/g)!.join(':');
}

export interface Schema1Payload {
  readonly schemaVersion: number;
  readonly name: string;
  readonly tag: string;
  readonly architecture: string;
  readonly fsLayers: readonly { readonly blobSum: string }[];
  readonly history: readonly { readonly v1Compatibility: string }[];
}

/** The checks Docker's puller (fixManifestLayers) and containers/image apply; [] when all pass. */
export function v1ChainProblems(payload: Buffer): string[] {
  const manifest = JSON.parse(payload.toString('utf8')) as Schema1Payload;
  const problems: string[] = [];
  if (manifest.schemaVersion !== 1) problems.push(`schemaVersion ${manifest.schemaVersion}`);
  if (manifest.fsLayers.length === 0) problems.push('no fsLayers');
  if (manifest.fsLayers.length !== manifest.history.length) {
    problems.push(`${manifest.fsLayers.length} fsLayers but ${manifest.history.length} history entries`);
    return problems;
  }
  const images = manifest.history.map((entry) => JSON.parse(entry.v1Compatibility) as { id?: string; parent?: string; os?: string });
  images.forEach((image, i) => {
    if (typeof image.id !== 'string' || !/^[a-f0-9]{64}$/.test(image.id)) problems.push(`history[${i}] id ${String(image.id)} is not 64 hex`);
  });
  const base = images[images.length - 1];
  // Windows images built on a base layer carry a parent in their base entry; Docker allows it there.
  if (base?.parent !== undefined && base.parent !== '' && images[0]?.os !== 'windows') {
    problems.push(`the base entry has parent ${base.parent}`);
  }
  const seen = new Set<string>();
  let last: string | undefined;
  for (const image of images) {
    if (image.id !== last && image.id !== undefined && seen.has(image.id)) problems.push(`id ${image.id} appears twice, apart`);
    last = image.id;
    if (image.id !== undefined) seen.add(image.id);
  }
  for (let i = images.length - 2; i >= 0; i--) {
    if (images[i]!.id !== images[i + 1]!.id && images[i]!.parent !== images[i + 1]!.id) {
      problems.push(`history[${i}] parent ${String(images[i]!.parent)}, expected ${String(images[i + 1]!.id)}`);
    }
  }
  return problems;
}

/**
 * The signed body with every per-key and per-signing value (kid, x, y, signature, protected)
 * replaced by a placeholder, so the layout of two registries' bodies can be compared.
 */
export function maskSignatureValues(body: Buffer, formatLength: number): string {
  const head = body.subarray(0, formatLength).toString('utf8');
  const tail = body
    .subarray(formatLength)
    .toString('utf8')
    .replace(/("(?:kid|x|y|signature|protected)":\s*)"[^"]*"/g, '$1"…"');
  return head + tail;
}

/** undefined when equal; otherwise where two byte strings first differ, with a short excerpt of each. */
export function firstDifference(a: Buffer, b: Buffer, labels: readonly [string, string] = ['a', 'b']): string | undefined {
  if (a.equals(b)) return undefined;
  let offset = 0;
  while (offset < a.length && offset < b.length && a[offset] === b[offset]) offset++;
  const excerpt = (bytes: Buffer) => JSON.stringify(bytes.subarray(Math.max(0, offset - 40), offset + 60).toString('utf8'));
  return [
    `first difference at byte ${offset} (lengths ${labels[0]} ${a.length}, ${labels[1]} ${b.length})`,
    `  ${labels[0]}: …${excerpt(a)}…`,
    `  ${labels[1]}: …${excerpt(b)}…`,
  ].join('\n');
}
