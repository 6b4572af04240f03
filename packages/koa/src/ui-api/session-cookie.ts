import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a session cookie carries: who, which version of their credentials, until when. */
export interface SessionClaims {
  /** The signed-in user. */
  user: string;
  /** The user's credential version at sign-in: a changed password or a removed user ends the session. */
  credentialVersion: string;
  /** Epoch milliseconds after which the cookie is refused. */
  expiresAt: number;
}

/** A verified session and the CSRF token every change made with it must carry. */
export interface VerifiedSession extends SessionClaims {
  csrfToken: string;
}

const VERSION = 'v1';

/**
 * Sessions as HMAC-signed cookies, so any instance holding the key verifies them without shared session
 * state: `v1.<claims, base64url JSON>.<HMAC-SHA256 of both, base64url>`. The claims hold a random nonce, and
 * the CSRF token is a second HMAC over the signed part, so it differs per session and needs no storage.
 */
export class SessionCookies {
  constructor(private readonly key: Buffer) {}

  issue(claims: SessionClaims): { cookie: string; csrfToken: string } {
    const body = Buffer.from(
      JSON.stringify({ u: claims.user, v: claims.credentialVersion, e: claims.expiresAt, n: randomBytes(16).toString('base64url') }),
    ).toString('base64url');
    const signed = `${VERSION}.${body}`;
    return { cookie: `${signed}.${this.mac('session', signed)}`, csrfToken: this.mac('csrf', signed) };
  }

  /** The claims of a cookie this key signed and that has not expired; undefined for anything else. */
  verify(cookie: string, now: number): VerifiedSession | undefined {
    const parts = cookie.split('.');
    if (parts.length !== 3 || parts[0] !== VERSION) return undefined;
    const signed = `${parts[0]}.${parts[1]}`;
    if (!sameText(parts[2]!, this.mac('session', signed))) return undefined;
    let claims: { u?: unknown; v?: unknown; e?: unknown };
    try {
      claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return undefined;
    }
    if (typeof claims.u !== 'string' || typeof claims.v !== 'string' || typeof claims.e !== 'number' || claims.e <= now) return undefined;
    return { user: claims.u, credentialVersion: claims.v, expiresAt: claims.e, csrfToken: this.mac('csrf', signed) };
  }

  /** The key is used for two purposes; the purpose is part of what is signed so one never passes for the other. */
  private mac(purpose: string, signed: string): string {
    return createHmac('sha256', this.key).update(`${purpose}\0${signed}`).digest('base64url');
  }
}

/** Constant-time comparison of two tokens (a length difference is not a secret). */
export function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
