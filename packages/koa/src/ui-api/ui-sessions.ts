import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { RegistryError, userPrincipal, type MetadataStore, type Principal } from '@berth/core';
import type { PasswordSignIn, UiSignIn } from '../auth/password-sign-in.js';
import { SessionCookies, sameText, type VerifiedSession } from './session-cookie.js';

/** Options of the web UI's sign-in sessions. */
export interface UiSessionOptions {
  /**
   * The key session cookies are signed with (at least 32 characters). Every instance serving the UI must
   * have the same one. Default: a random key generated once and kept in the metadata store's settings
   * (`ui.session-key`), so every instance on the store shares it and sessions survive restarts.
   */
  sessionSecret?: string;
  /** How long a session lasts after sign-in, in seconds. Default 12 hours. */
  sessionTtlSeconds?: number;
}

const COOKIE = 'berth_session';
const SETTING = 'ui.session-key';
const DEFAULT_TTL_SECONDS = 12 * 60 * 60;

/** Sessions of one mounted UI: sign-in, the session of a request, the CSRF check, sign-out. */
export class UiSessions {
  readonly signIn: PasswordSignIn | undefined;
  readonly unavailableReason: string;
  private cookies: Promise<SessionCookies> | undefined;
  private readonly ttlMs: number;
  private readonly verified = new WeakMap<Context, VerifiedSession>();

  constructor(
    signIn: UiSignIn | undefined,
    private readonly metadata: MetadataStore,
    private readonly path: string,
    private readonly options: UiSessionOptions,
  ) {
    this.signIn = signIn && 'signIn' in signIn ? signIn : undefined;
    this.unavailableReason = signIn && 'unavailable' in signIn ? signIn.unavailable : 'sign-in is handled by the application this registry runs in';
    if (options.sessionSecret !== undefined && options.sessionSecret.length < 32) {
      throw new TypeError('registry.ui(): sessionSecret must be at least 32 characters');
    }
    this.ttlMs = (options.sessionTtlSeconds ?? DEFAULT_TTL_SECONDS) * 1000;
  }

  /** Reads and verifies the request's session cookie once; later calls for the request give the same answer. */
  async load(ctx: Context): Promise<VerifiedSession | undefined> {
    const value = this.signIn && ctx.cookies.get(COOKIE);
    if (!value) return undefined;
    const session = (await this.keys()).verify(value, Date.now());
    // A password changed or a user removed since sign-in ends the session.
    if (!session || (await this.signIn!.credentialVersion(session.user)) !== session.credentialVersion) return undefined;
    this.verified.set(ctx, session);
    return session;
  }

  /** The verified session of the request (after `load`). */
  current(ctx: Context): VerifiedSession | undefined {
    return this.verified.get(ctx);
  }

  /** The principal of the request's session, if any. */
  principal(ctx: Context): Principal | undefined {
    const session = this.current(ctx);
    return session && userPrincipal(session.user);
  }

  /** A change made with a session must carry its CSRF token: another site can make the browser send the cookie, not the header. */
  checkCsrf(ctx: Context): void {
    const session = this.current(ctx);
    if (!session) return;
    const sent = ctx.get('X-CSRF-Token');
    if (sent === '' || !sameText(sent, session.csrfToken)) {
      throw new RegistryError('DENIED', 'missing or wrong X-CSRF-Token: reload the page', { status: 403 });
    }
  }

  /** Checks the password (limiter included) and sets the session cookie. */
  async start(ctx: Context, user: string, password: string): Promise<{ user: string; csrfToken: string }> {
    if (!this.signIn) throw new RegistryError('UNSUPPORTED', `sign-in is not available: ${this.unavailableReason}`, { status: 404 });
    const principal = await this.signIn.signIn(ctx, user, password);
    const name = principal.kind === 'user' ? principal.name : user;
    const credentialVersion = await this.signIn.credentialVersion(name);
    if (credentialVersion === undefined) throw new RegistryError('UNAUTHORIZED', 'wrong user name or password');
    const { cookie, csrfToken } = (await this.keys()).issue({ user: name, credentialVersion, expiresAt: Date.now() + this.ttlMs });
    this.setCookie(ctx, cookie, this.ttlMs);
    return { user: name, csrfToken };
  }

  /** Clears the cookie. The cookie is the session, so a copy taken before sign-out stays valid until it expires. */
  end(ctx: Context): void {
    this.setCookie(ctx, '', 0);
  }

  private setCookie(ctx: Context, value: string, maxAge: number): void {
    ctx.cookies.set(COOKIE, value, {
      httpOnly: true,
      sameSite: 'strict',
      // Under TLS (or behind a proxy that says so, with app.proxy) the browser sends it over TLS only.
      secure: ctx.secure,
      path: this.path,
      overwrite: true,
      ...(maxAge > 0 ? { maxAge } : { expires: new Date(0) }),
    });
  }

  private keys(): Promise<SessionCookies> {
    this.cookies ??= (async () => {
      const secret = this.options.sessionSecret ?? (await this.metadata.getOrSetSetting(SETTING, randomBytes(32).toString('base64url')));
      return new SessionCookies(Buffer.from(secret, 'utf8'));
    })();
    this.cookies.catch(() => (this.cookies = undefined));
    return this.cookies;
  }
}
