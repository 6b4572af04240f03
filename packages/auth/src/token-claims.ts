import type { KeyObject } from 'node:crypto';
import { type Scope } from '@berth/core';
import { knownActions } from '@berth/core/internal';
import { errors as joseErrors } from 'jose';
import { z } from 'zod';

/**
 * A token was refused. The message is a short reason safe to show a client (it never quotes the
 * token); the cause, when there is one, stays server-side.
 */
export class TokenError extends Error {
  /** Always `TokenError`, so logs and `error.name` checks can tell it apart. */
  override readonly name = 'TokenError';
}

const EC_ALGORITHMS: Readonly<Record<string, string>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;
export const MIN_RSA_BITS = 2048;

/**
 * The JWS algorithms a public key may verify; empty when berth does not trust that kind of key
 * (other curves, short RSA, RSA-PSS-only keys). Fixing the algorithm by the key is what stops
 * algorithm confusion (HS256 "signed" with a public key, ES256 with an RSA key).
 */
export function algorithmsForKey(key: KeyObject): readonly string[] {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const alg = EC_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? ''];
      return alg === undefined ? [] : [alg];
    }
    case 'rsa':
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS ? RSA_ALGORITHMS : [];
    case 'ed25519':
      return ['EdDSA'];
    default:
      return [];
  }
}

/** Why a key cannot be trusted, or undefined when it can. */
export function unsupportedKeyReason(key: KeyObject): string | undefined {
  if (key.type !== 'public') return `a ${key.type} key where a public key is expected`;
  if (algorithmsForKey(key).length > 0) return undefined;
  if (key.asymmetricKeyType === 'rsa') return `RSA key shorter than ${MIN_RSA_BITS} bits`;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return `unsupported key type ${key.asymmetricKeyType ?? 'unknown'}${curve === undefined ? '' : ` (${curve})`}; use EC P-256/384/521, RSA or Ed25519`;
}

const accessEntrySchema = z.object({
  type: z.string().regex(/^[a-z0-9]+$/),
  class: z.string().regex(/^[a-z0-9]+$/).optional(),
  name: z.string().min(1),
  actions: z.array(z.unknown()),
});

/**
 * The `access` claim as scopes: malformed entries are skipped and unknown actions dropped (the
 * specification says to ignore what one does not understand); an entry left with no action grants
 * nothing, so it goes too.
 */
export function scopesFromAccessClaim(claim: unknown): Scope[] {
  if (claim === undefined || claim === null) return [];
  if (!Array.isArray(claim)) throw new TokenError('malformed access claim');
  const scopes: Scope[] = [];
  for (const entry of claim) {
    const parsed = accessEntrySchema.safeParse(entry);
    if (!parsed.success) continue;
    const actions = knownActions(parsed.data.actions.filter((action): action is string => typeof action === 'string'));
    if (actions.length === 0) continue;
    const { type, name } = parsed.data;
    scopes.push({ type, ...(parsed.data.class !== undefined && { class: parsed.data.class }), name, actions });
  }
  return scopes;
}

/** The `access` claim distribution reads: `{type, name, actions}`, `class` only when set. */
export function accessClaimOf(scopes: readonly Scope[]): Array<Record<string, unknown>> {
  return scopes.map((scope) => ({
    type: scope.type,
    ...(scope.class !== undefined && { class: scope.class }),
    name: scope.name,
    actions: [...scope.actions],
  }));
}

/** A jose failure as a TokenError whose message names the check, never the token's content. */
export function tokenErrorFrom(error: unknown): TokenError {
  if (error instanceof TokenError) return error;
  let reason = 'invalid token';
  if (error instanceof joseErrors.JWTExpired) reason = 'token has expired';
  else if (error instanceof joseErrors.JWTClaimValidationFailed) reason = claimReason(error.claim, error.reason);
  else if (error instanceof joseErrors.JWSSignatureVerificationFailed) reason = 'token signature is invalid';
  else if (error instanceof joseErrors.JOSEAlgNotAllowed) reason = 'token algorithm is not allowed';
  else if (error instanceof joseErrors.JOSENotSupported) reason = 'token uses an unsupported feature';
  else if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) reason = 'malformed token';
  return new TokenError(reason, { cause: error });
}

function claimReason(claim: string, reason: string): string {
  if (claim === 'nbf') return 'token is not valid yet';
  if (claim === 'typ') return 'token has the wrong type';
  if (reason === 'missing') return `token has no "${claim}" claim`;
  if (reason === 'invalid') return `token has a malformed "${claim}" claim`;
  return `token "${claim}" claim does not match`;
}
