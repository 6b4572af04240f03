import { createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { libtrustKeyId } from '@berth/core/internal';
import { z } from 'zod';
import { algorithmsForKey, unsupportedKeyReason } from './token-claims.js';

/** A trusted-keys file (or text) that cannot be used; the message names the source and the problem. */
export class TrustedKeysError extends Error {
  /** Always `TrustedKeysError`, so logs and `error.name` checks can tell it apart. */
  override readonly name = 'TrustedKeysError';
}

/** One key a token may be signed with, and its key id. */
export interface TrustedKey {
  /** The public key that verifies the token's signature. */
  readonly publicKey: KeyObject;
  /** The libtrust key ID, what distribution matches a token's `kid` against. */
  readonly kid: string;
  /** The JWK's `alg`, when the JWKS pins one: tokens must then use exactly it. */
  readonly alg?: string;
}

/** The keys a token verifier trusts, as distribution's `rootcertbundle` (or a JWKS) gives them. */
export interface TrustedKeys {
  /** The key for a token header `kid`: a libtrust key ID of any key, or a JWKS `kid` as written. */
  get(kid: string): TrustedKey | undefined;
  /** The certificates given, as anchors for a token's `x5c` chain. */
  readonly certificates: readonly X509Certificate[];
  /** How many distinct keys. */
  readonly size: number;
}

/** Reads a trusted-keys file: PEM (CERTIFICATE and/or PUBLIC KEY blocks) or a JWKS. */
export async function loadTrustedKeys(path: string): Promise<TrustedKeys> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new TrustedKeysError(`${path}: cannot read trusted keys (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
  return parseTrustedKeys(text, path);
}

/** Parses PEM blocks (any mix of CERTIFICATE and PUBLIC KEY) or a JWKS `{keys: [...]}`; `source` names it in errors. */
export function parseTrustedKeys(text: string, source: string): TrustedKeys {
  const builder = new KeysBuilder(source);
  if (text.includes('-----BEGIN ')) addPem(builder, text, source);
  else if (text.trimStart().startsWith('{')) addJwks(builder, text, source);
  else throw new TrustedKeysError(`${source}: neither PEM nor a JWKS`);
  return builder.build();
}

class KeysBuilder {
  private readonly byKid = new Map<string, TrustedKey>();
  private readonly certificates: X509Certificate[] = [];
  private readonly distinct = new Set<string>();

  constructor(private readonly source: string) {}

  add(publicKey: KeyObject, where: string, extra: { jwkKid?: string; alg?: string; certificate?: X509Certificate } = {}): void {
    const reason = unsupportedKeyReason(publicKey);
    if (reason !== undefined) throw new TrustedKeysError(`${this.source}: ${where}: ${reason}`);
    const kid = libtrustKeyId(publicKey);
    const key: TrustedKey = { publicKey, kid, ...(extra.alg !== undefined && { alg: extra.alg }) };
    for (const name of extra.jwkKid === undefined || extra.jwkKid === kid ? [kid] : [kid, extra.jwkKid]) {
      const existing = this.byKid.get(name);
      // Two different keys under one kid would make the choice of key depend on file order.
      if (existing !== undefined && existing.kid !== kid) throw new TrustedKeysError(`${this.source}: ${where}: kid "${name}" names two different keys`);
      if (existing === undefined) this.byKid.set(name, key);
    }
    this.distinct.add(kid);
    if (extra.certificate !== undefined) this.certificates.push(extra.certificate);
  }

  build(): TrustedKeys {
    if (this.distinct.size === 0) throw new TrustedKeysError(`${this.source}: no keys found`);
    const byKid = new Map(this.byKid);
    const certificates = Object.freeze([...this.certificates]);
    const size = this.distinct.size;
    return Object.freeze({ get: (kid: string) => byKid.get(kid), certificates, size });
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

function addPem(builder: KeysBuilder, text: string, source: string): void {
  let index = 0;
  for (const match of text.matchAll(PEM_BLOCK)) {
    index++;
    const type = match[1]!;
    const where = `PEM block ${index} (${type})`;
    const body = match[2]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new TrustedKeysError(`${source}: ${where}: not base64 (encrypted or with headers?)`);
    const der = Buffer.from(body, 'base64');
    if (type === 'CERTIFICATE') {
      const certificate = parseWith(source, where, () => new X509Certificate(der));
      builder.add(certificate.publicKey, where, { certificate });
    } else if (type === 'PUBLIC KEY' || type === 'RSA PUBLIC KEY') {
      const format = type === 'PUBLIC KEY' ? 'spki' : 'pkcs1';
      builder.add(parseWith(source, where, () => createPublicKey({ key: der, format: 'der', type: format })), where);
    } else if (type.includes('PRIVATE KEY')) {
      throw new TrustedKeysError(`${source}: ${where}: a private key; give the public key or its certificate`);
    } else {
      throw new TrustedKeysError(`${source}: ${where}: unexpected PEM block type`);
    }
  }
  if (index === 0) throw new TrustedKeysError(`${source}: no complete PEM block`);
}

const jwksSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1) });
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function addJwks(builder: KeysBuilder, text: string, source: string): void {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new TrustedKeysError(`${source}: not valid JSON`);
  }
  const parsed = jwksSchema.safeParse(document);
  if (!parsed.success) throw new TrustedKeysError(`${source}: a JWKS must be {"keys": [at least one key object]}`);
  parsed.data.keys.forEach((jwk, index) => {
    const where = `keys[${index}]`;
    const fail = (problem: string): never => {
      throw new TrustedKeysError(`${source}: ${where}: ${problem}`);
    };
    if (jwk['kty'] === 'oct') fail('symmetric (oct) keys cannot be trusted');
    if (PRIVATE_JWK_MEMBERS.some((member) => jwk[member] !== undefined)) fail('a private key; publish only the public members');
    if (jwk['use'] !== undefined && jwk['use'] !== 'sig') fail('"use" must be "sig"');
    for (const member of ['kid', 'alg'] as const) {
      if (jwk[member] !== undefined && typeof jwk[member] !== 'string') fail(`"${member}" must be a string`);
    }
    const publicKey = parseWith(source, where, () => createPublicKey({ key: publicJwk(jwk), format: 'jwk' }));
    const alg = jwk['alg'] as string | undefined;
    if (alg !== undefined && !algorithmsForKey(publicKey).includes(alg)) fail(`"alg" ${alg} does not fit the key`);
    builder.add(publicKey, where, { jwkKid: jwk['kid'] as string | undefined, alg });
  });
}

/** Only the members that define the public key, so unknown members cannot change what Node imports. */
function publicJwk(jwk: Record<string, unknown>): JsonWebKey {
  const pick = (...names: string[]): JsonWebKey => Object.fromEntries(names.map((name) => [name, jwk[name]]));
  switch (jwk['kty']) {
    case 'EC':
      return pick('kty', 'crv', 'x', 'y');
    case 'RSA':
      return pick('kty', 'n', 'e');
    case 'OKP':
      return pick('kty', 'crv', 'x');
    default:
      throw new Error(`unsupported "kty" ${JSON.stringify(jwk['kty'])}`);
  }
}

function parseWith<T>(source: string, where: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new TrustedKeysError(`${source}: ${where}: ${(error as Error).message}`, { cause: error });
  }
}
