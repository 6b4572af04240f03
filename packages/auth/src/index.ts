/**
 * Sign-in for berth without HTTP: htpasswd files, access files, a limiter for failed sign-ins, and the
 * keys, issuing and verification of Docker registry tokens. `@berth/koa`'s `basicAuth`, `tokenAuth` and
 * `tokenService` take what these return.
 *
 * @packageDocumentation
 */
export { AuthConfigError } from './config-error.js';
export { openHtpasswd, type Htpasswd, type HtpasswdOptions } from './htpasswd.js';
export type { WatchedFileOptions } from './watched-file.js';
export { createSignInLimiter, type SignInLimiter, type SignInLimiterOptions } from './sign-in-limiter.js';
export { loadAccessFile, parseAccessRules } from './access-file.js';
export { TrustedKeysError, loadTrustedKeys, parseTrustedKeys, type TrustedKey, type TrustedKeys } from './token-keys.js';
export { createTokenVerifier, type TokenVerifier, type TokenVerifierOptions, type VerifiedToken } from './token-verifier.js';
export { TokenError } from './token-claims.js';
export { resolveTokenSigningKey, type TokenSigningKey } from './token-signing-key.js';
export {
  createTokenIssuer,
  type IssuedAccessToken,
  type RefreshTokenClaims,
  type SigningJwk,
  type TokenIssuer,
  type TokenIssuerOptions,
} from './token-issuer.js';
