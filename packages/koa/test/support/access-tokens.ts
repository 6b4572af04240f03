// Hostile bearer tokens, crafted by hand (node:crypto + base64url) or with @berth/auth's issuer under
// the wrong settings, to check that tokenAuth refuses each of them.
import { createHmac } from 'node:crypto';
import { type Scope } from '@berth/core';
import { generateLibtrustKey } from '@berth/core/internal';
import { createTokenIssuer, type TokenSigningKey } from '@berth/auth';

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The `access` claim for scopes given as `type:name:actions` strings. */
export function accessClaim(scopes: readonly string[]): Array<{ type: string; name: string; actions: string[] }> {
  return scopes.map((text) => {
    const first = text.indexOf(':');
    const last = text.lastIndexOf(':');
    return { type: text.slice(0, first), name: text.slice(first + 1, last), actions: text.slice(last + 1).split(',') };
  });
}

export function scopesOf(texts: readonly string[]): Scope[] {
  return accessClaim(texts).map((entry) => ({ ...entry, actions: entry.actions as Scope['actions'] }));
}

/** Claims of a token that would grant `scopes` to `subject`, valid now. */
function claims(subject: string, scopes: readonly string[], issuer: string, audience: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: issuer, sub: subject, aud: audience, iat: now, nbf: now, exp: now + 300, jti: `hostile-${now}`, access: accessClaim(scopes) };
}

export interface HostileTokenContext {
  signingKey: TokenSigningKey;
  issuer: string;
  service: string;
}

/** Issued by @berth/auth's issuer, but with the clock an hour back: expired long beyond any leeway. */
export async function expiredToken(c: HostileTokenContext, subject: string, scopes: readonly string[]): Promise<string> {
  const issuer = createTokenIssuer({ issuer: c.issuer, service: c.service, signingKey: c.signingKey, now: () => Date.now() - 3_600_000 });
  return (await issuer.issueAccessToken(subject, scopesOf(scopes))).token;
}

/** Properly signed, but for another service (`aud`) or from another issuer (`iss`). */
export async function misaddressedToken(
  c: HostileTokenContext,
  which: { issuer?: string; service?: string },
  subject: string,
  scopes: readonly string[],
): Promise<string> {
  const issuer = createTokenIssuer({ issuer: which.issuer ?? c.issuer, service: which.service ?? c.service, signingKey: c.signingKey });
  return (await issuer.issueAccessToken(subject, scopesOf(scopes))).token;
}

/** A valid-looking ES256 token signed by a P-256 key the registry was never told about (its own libtrust kid). */
export async function unconfiguredKeyToken(c: HostileTokenContext, subject: string, scopes: readonly string[]): Promise<string> {
  const key = generateLibtrustKey();
  const issuer = createTokenIssuer({ issuer: c.issuer, service: c.service, signingKey: { key, certificatePem: '' } });
  return (await issuer.issueAccessToken(subject, scopesOf(scopes))).token;
}

/** `alg: none`, no signature. */
export function algNoneToken(c: HostileTokenContext, subject: string, scopes: readonly string[]): string {
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims(subject, scopes, c.issuer, c.service))}.`;
}

/** HS256 "signed" with the trusted public key's PEM as the HMAC secret (the classic algorithm confusion), with its kid. */
export function hs256WithPublicKeyToken(c: HostileTokenContext, subject: string, scopes: readonly string[]): string {
  const secret = c.signingKey.key.publicKey.export({ type: 'spki', format: 'pem' });
  const input = `${encode({ alg: 'HS256', typ: 'JWT', kid: c.signingKey.key.kid })}.${encode(claims(subject, scopes, c.issuer, c.service))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** A genuine token with one claim changed and the original signature kept. */
export function tamperedToken(token: string, change: (payload: Record<string, unknown>) => void): string {
  const [header, payload, signature] = token.split('.');
  const claimsOf = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
  change(claimsOf);
  return `${header}.${encode(claimsOf)}.${signature}`;
}
