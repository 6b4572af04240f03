import { randomUUID } from 'node:crypto';
import { type Scope, type LibtrustPublicJwk } from '@berth/core';
import { libtrustPublicJwk } from '@berth/core/internal';
import { jwtVerify, SignJWT } from 'jose';
import { accessClaimOf, TokenError, tokenErrorFrom } from './token-claims.js';
import type { TokenSigningKey } from './token-signing-key.js';

/** Options of {@link createTokenIssuer}. */
export interface TokenIssuerOptions {
  /** The `iss` of every token; verifiers (berth's or distribution's `auth.token.issuer`) must expect it. */
  issuer: string;
  /** The registry's service name, the `aud` of access tokens. */
  service: string;
  /** The key tokens are signed with (ES256), with its certificate. */
  signingKey: TokenSigningKey;
  /** 300 seconds by default (the Docker token specification's minimum a client should assume is 60). */
  accessTokenTtlSeconds?: number;
  /** 30 days by default. */
  refreshTokenTtlSeconds?: number;
  /** The current time in milliseconds (`Date.now` by default). */
  now?: () => number;
}

/** An access token the issuer signed, with what the token endpoint answers about it. */
export interface IssuedAccessToken {
  /** The signed JWT, the token response's `token` (and `access_token`). */
  token: string;
  /** Seconds until it expires, the token response's `expires_in`. */
  expiresIn: number;
  /** RFC 3339, the token response's `issued_at`. */
  issuedAt: string;
}

/** What a refresh token holds once verified. */
export interface RefreshTokenClaims {
  /** The user name the token was issued to (its `sub` claim). */
  subject: string;
  /** The user's credential version when it was issued; the caller refuses the token when it has changed. */
  credentialVersion: string;
}

/** Issues access and refresh tokens (see {@link createTokenIssuer}). */
export interface TokenIssuer {
  /** An ES256 access token as distribution 2.8 accepts it; `subject` is '' for anonymous callers. */
  issueAccessToken(subject: string, access: readonly Scope[]): Promise<IssuedAccessToken>;
  /** A refresh token for `subject`, valid for the refresh lifetime, that records `credentialVersion`. */
  issueRefreshToken(subject: string, credentialVersion: string): Promise<string>;
  /** Throws TokenError unless the token is an unexpired refresh token this issuer signed. */
  verifyRefreshToken(token: string): Promise<RefreshTokenClaims>;
  /** The public signing key, for verifiers that read a JWKS. */
  jwks(): { keys: [SigningJwk] };
  /** The signing key's self-signed certificate, for verifiers that read a certificate bundle. */
  readonly certificatePem: string;
}

/** The public half of a token signing key, as a JWK. */
export type SigningJwk = LibtrustPublicJwk & { alg: 'ES256'; use: 'sig' };

/**
 * The refresh token's own `typ` and audience: an access-token verifier (berth's refuses a foreign
 * `typ`; distribution checks `aud` against its service) never takes one for an access token.
 */
export const REFRESH_TOKEN_TYPE = 'berth-refresh+jwt';
const REFRESH_AUDIENCE_SUFFIX = '#refresh';
const DEFAULT_ACCESS_TTL_SECONDS = 300;
const DEFAULT_REFRESH_TTL_SECONDS = 30 * 24 * 60 * 60;

/** Creates the issuer of Docker registry access and refresh tokens, signed with the given key. */
export function createTokenIssuer(options: TokenIssuerOptions): TokenIssuer {
  const { issuer, service, signingKey } = options;
  const { key } = signingKey;
  const now = options.now ?? Date.now;
  const accessTtl = options.accessTokenTtlSeconds ?? DEFAULT_ACCESS_TTL_SECONDS;
  const refreshTtl = options.refreshTokenTtlSeconds ?? DEFAULT_REFRESH_TTL_SECONDS;
  const refreshAudience = service + REFRESH_AUDIENCE_SUFFIX;
  const nowSeconds = () => Math.floor(now() / 1000);

  return {
    certificatePem: signingKey.certificatePem,

    async issueAccessToken(subject, access) {
      const issuedAt = nowSeconds();
      const token = await new SignJWT({ access: accessClaimOf(access) })
        .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: key.kid })
        .setIssuer(issuer)
        .setSubject(subject)
        .setAudience(service)
        .setIssuedAt(issuedAt)
        .setNotBefore(issuedAt)
        .setExpirationTime(issuedAt + accessTtl)
        .setJti(randomUUID())
        .sign(key.privateKey);
      return { token, expiresIn: accessTtl, issuedAt: new Date(issuedAt * 1000).toISOString().replace('.000Z', 'Z') };
    },

    async issueRefreshToken(subject, credentialVersion) {
      const issuedAt = nowSeconds();
      return new SignJWT({ cv: credentialVersion })
        .setProtectedHeader({ alg: 'ES256', typ: REFRESH_TOKEN_TYPE, kid: key.kid })
        .setIssuer(issuer)
        .setSubject(subject)
        .setAudience(refreshAudience)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + refreshTtl)
        .setJti(randomUUID())
        .sign(key.privateKey);
    },

    async verifyRefreshToken(token) {
      let payload;
      try {
        ({ payload } = await jwtVerify(token, key.publicKey, {
          algorithms: ['ES256'],
          typ: REFRESH_TOKEN_TYPE,
          issuer,
          audience: refreshAudience,
          currentDate: new Date(now()),
          requiredClaims: ['exp', 'sub'],
        }));
      } catch (error) {
        throw tokenErrorFrom(error);
      }
      const credentialVersion = payload['cv'];
      if (typeof payload.sub !== 'string' || typeof credentialVersion !== 'string') throw new TokenError('malformed refresh token');
      return { subject: payload.sub, credentialVersion };
    },

    jwks() {
      return { keys: [{ ...libtrustPublicJwk(key), alg: 'ES256', use: 'sig' }] };
    },
  };
}
