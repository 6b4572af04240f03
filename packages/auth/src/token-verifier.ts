import { X509Certificate } from 'node:crypto';
import { type Scope } from '@berth/core';
import { libtrustKeyId } from '@berth/core/internal';
import { decodeProtectedHeader, jwtVerify, type ProtectedHeaderParameters } from 'jose';
import { algorithmsForKey, scopesFromAccessClaim, TokenError, tokenErrorFrom } from './token-claims.js';
import type { TrustedKey, TrustedKeys } from './token-keys.js';

export { TokenError } from './token-claims.js';

/** Options of {@link createTokenVerifier}. */
export interface TokenVerifierOptions {
  /** The `iss` every token must carry (distribution's `auth.token.issuer`). */
  issuer: string;
  /** This registry's name, which `aud` must be or contain (distribution's `auth.token.service`). */
  service: string;
  /** The public keys tokens may be signed with, looked up by the token's `kid`, and certificates for `x5c` chains. */
  keys: TrustedKeys;
  /** Clock skew allowed on `exp`, `nbf` and `iat`; 60 seconds, as in distribution. */
  leewaySeconds?: number;
  /** The current time in milliseconds (`Date.now` by default). */
  now?: () => number;
}

/** What a verified access token grants, and to whom. */
export interface VerifiedToken {
  /** The `sub` claim; '' for an anonymous token. */
  subject: string;
  /** What the token grants, from its `access` claim (malformed entries and unknown actions left out). */
  access: Scope[];
  /** When the token expires (its `exp` claim). */
  expiresAt: Date;
}

/** Verifies bearer tokens (see {@link createTokenVerifier}). */
export interface TokenVerifier {
  /** Checks a Docker registry access token; throws TokenError with a reason safe to show the client. */
  verify(token: string): Promise<VerifiedToken>;
}

/** Asymmetric algorithms only: `none` and HS* never verify against a public key. */
const ACCEPTED_ALGORITHMS: ReadonlySet<string> = new Set([
  'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA',
]);
const DEFAULT_LEEWAY_SECONDS = 60;
/** Bounds on attacker-controlled input, far above what real tokens hold. */
const MAX_TOKEN_LENGTH = 64 * 1024;
const MAX_CHAIN_LENGTH = 8;

/** Creates a verifier of Docker registry bearer tokens against trusted keys, issuer and audience. */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const leeway = options.leewaySeconds ?? DEFAULT_LEEWAY_SECONDS;
  const now = options.now ?? Date.now;
  return {
    async verify(token) {
      if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) throw new TokenError('malformed token');
      let header: ProtectedHeaderParameters;
      try {
        header = decodeProtectedHeader(token);
      } catch {
        throw new TokenError('malformed token');
      }
      const alg = header.alg;
      if (typeof alg !== 'string' || !ACCEPTED_ALGORITHMS.has(alg)) throw new TokenError('token algorithm is not allowed');
      // Refresh tokens (and any other JWT kind) carry their own typ and must never pass as access tokens.
      if (header.typ !== undefined && (typeof header.typ !== 'string' || header.typ.toLowerCase() !== 'jwt')) throw new TokenError('token has the wrong type');
      const currentMs = now();
      const key = signingKey(header, options.keys, currentMs);
      if (!algorithmsForKey(key.publicKey).includes(alg) || (key.alg !== undefined && key.alg !== alg)) {
        throw new TokenError('token algorithm does not fit its key');
      }
      let payload;
      try {
        ({ payload } = await jwtVerify(token, key.publicKey, {
          algorithms: [alg],
          issuer: options.issuer,
          audience: options.service,
          clockTolerance: leeway,
          currentDate: new Date(currentMs),
          requiredClaims: ['exp'],
        }));
      } catch (error) {
        throw tokenErrorFrom(error);
      }
      // jose checks `iat` only against a maximum age; a token from the future means a broken or hostile issuer.
      if (typeof payload.iat === 'number' && payload.iat > currentMs / 1000 + leeway) throw new TokenError('token was issued in the future');
      if (payload.sub !== undefined && typeof payload.sub !== 'string') throw new TokenError('token has a malformed "sub" claim');
      return { subject: payload.sub ?? '', access: scopesFromAccessClaim(payload['access']), expiresAt: new Date(payload.exp! * 1000) };
    },
  };
}

/** The key that must have signed the token: from its `x5c` chain when present, else by `kid`, as in distribution. */
function signingKey(header: ProtectedHeaderParameters, keys: TrustedKeys, nowMs: number): TrustedKey {
  if (header.x5c !== undefined) {
    const publicKey = chainLeafKey(header.x5c, keys, nowMs);
    return { publicKey, kid: libtrustKeyId(publicKey) };
  }
  const key = typeof header.kid === 'string' ? keys.get(header.kid) : undefined;
  if (key === undefined) throw new TokenError('token signing key is not trusted');
  return key;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The leaf's key of an `x5c` chain in which each certificate is signed by the next (a CA) and the
 * last is a trusted certificate or issued by a trusted CA certificate; every certificate used must
 * be within its validity dates.
 */
function chainLeafKey(x5c: unknown, keys: TrustedKeys, nowMs: number) {
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > MAX_CHAIN_LENGTH) throw new TokenError('malformed x5c header');
  const chain = x5c.map((entry: unknown) => {
    if (typeof entry !== 'string' || !BASE64.test(entry)) throw new TokenError('malformed x5c header');
    try {
      return new X509Certificate(Buffer.from(entry, 'base64'));
    } catch {
      throw new TokenError('malformed x5c certificate');
    }
  });
  for (let index = 0; index + 1 < chain.length; index++) {
    if (!issuedBy(chain[index]!, chain[index + 1]!)) throw new TokenError('x5c chain is broken');
  }
  const last = chain[chain.length - 1]!;
  const anchor = keys.certificates.find((trusted) => trusted.raw.equals(last.raw) || issuedBy(last, trusted));
  if (anchor === undefined) throw new TokenError('x5c chain is not trusted');
  if (![...chain, anchor].every((certificate) => withinValidity(certificate, nowMs))) {
    throw new TokenError('x5c certificate is expired or not yet valid');
  }
  return chain[0]!.publicKey;
}

function issuedBy(certificate: X509Certificate, issuer: X509Certificate): boolean {
  return issuer.ca && certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey);
}

function withinValidity(certificate: X509Certificate, nowMs: number): boolean {
  return Date.parse(certificate.validFrom) <= nowMs && nowMs <= Date.parse(certificate.validTo);
}
