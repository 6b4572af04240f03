import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { RegistryError, userPrincipal, type AccessRule, type Principal, type Scope } from '@berth/core';
import { DEFAULT_ACCESS_RULES, compileAccessRules, formatScope, parseScopes } from '@berth/core/internal';
import {
  TokenError,
  createSignInLimiter,
  createTokenIssuer,
  parseTrustedKeys,
  type Htpasswd,
  type SignInLimiter,
  type TokenSigningKey,
  type TrustedKeys,
} from '@berth/auth';
import { readBoundedBody } from '@berth/registry/internal';
import { registryErrors } from '../errors.js';
import { basicChallenge, unauthorized } from './challenge.js';
import { signInWithBasic, signInWithPassword } from './credentials.js';
import { passwordSignIn, type PasswordSignIn } from './password-sign-in.js';

/** Options of {@link tokenService}. */
export interface TokenServiceOptions {
  /** The users who may sign in. */
  htpasswd: Htpasswd;
  /** Who may do what: tokens grant what was asked for, narrowed to these rules. Default: signed-in users everything. */
  access?: readonly AccessRule[];
  /** The key tokens are signed with (`resolveTokenSigningKey(metadata)` keeps one with the metadata). */
  signingKey: TokenSigningKey;
  /** `aud` of the tokens; requests naming another service are refused. Default `berth`. */
  service?: string;
  /** `iss` of the tokens. Default `berth`. */
  issuer?: string;
  /** Where the routes live. Default `/token` (with `/token/cert.pem` and `/token/jwks.json` beside it). */
  path?: string;
  /** Lifetime of access tokens, in seconds. Default 300. */
  accessTokenTtlSeconds?: number;
  /** Lifetime of refresh tokens, in seconds. Default 30 days. */
  refreshTokenTtlSeconds?: number;
  /** Failed sign-ins per account and address (share one with `basicAuth`). */
  limiter?: SignInLimiter;
}

/** The token endpoint {@link tokenService} returns, to mount in the app. */
export interface TokenService {
  /** `GET`/`POST <path>`, `GET <path>/cert.pem`, `GET <path>/jwks.json`, to `app.use()`. */
  routes(): Middleware;
  /** The keys tokens of this service verify with, for `tokenAuth({ keys })`. */
  readonly trustedKeys: TrustedKeys;
  /** The service name access tokens are issued for (their `aud`). Default `berth`. */
  readonly service: string;
  /** The issuer name tokens carry (their `iss`). Default `berth`. */
  readonly issuer: string;
  /** Where the token endpoint is mounted, without a trailing slash. Default `/token`. */
  readonly path: string;
  /** Sign-in for the web UI with this service's users, limiter and rules: pass it to `tokenAuth({ signIn })`. */
  readonly signIn: PasswordSignIn;
}

/** The largest token request body read (a form with a few fields). */
const MAX_FORM_BYTES = 64 * 1024;

/**
 * A token service of the Docker token specification, for users of an htpasswd file: `GET` with Basic
 * credentials (what `docker login` and skopeo send) and the OAuth2 `POST` form (`password` and
 * `refresh_token` grants). A token grants what was asked for, narrowed to the rules: never an error
 * for a scope the user may not have, just fewer actions. Wrong credentials are 401, never an anonymous
 * token; the subject comes from the credentials, never from `account`.
 */
export function tokenService(options: TokenServiceOptions): TokenService {
  const service = options.service ?? 'berth';
  const issuer = options.issuer ?? 'berth';
  const path = (options.path ?? '/token').replace(/\/+$/, '');
  const policy = compileAccessRules(options.access ?? DEFAULT_ACCESS_RULES);
  const tokens = createTokenIssuer({
    issuer,
    service,
    signingKey: options.signingKey,
    ...(options.accessTokenTtlSeconds !== undefined && { accessTokenTtlSeconds: options.accessTokenTtlSeconds }),
    ...(options.refreshTokenTtlSeconds !== undefined && { refreshTokenTtlSeconds: options.refreshTokenTtlSeconds }),
  });
  const signIn = {
    htpasswd: options.htpasswd,
    limiter: options.limiter ?? createSignInLimiter(),
    unauthorized: () => unauthorized(basicChallenge(service), 'wrong user name or password'),
  };

  const checkService = (requested: string | undefined) => {
    if (requested !== undefined && requested !== service) {
      throw new RegistryError('DENIED', `this token service issues tokens for "${service}" only`, {
        status: 400,
        detail: { service: requested },
      });
    }
  };

  /**
   * A token for what the rules let `principal` have of `requested`, and a refresh token when asked for
   * `offline`; the OAuth2 form (POST) also says the granted `scope`.
   */
  const answer = async (ctx: Context, principal: Principal, requested: Scope[], offline: boolean, oauth2: boolean) => {
    ctx.state['principal'] = principal;
    const access = policy.grant(principal, requested);
    const issued = await tokens.issueAccessToken(subjectOf(principal), access);
    const refresh = offline ? await refreshToken(principal) : undefined;
    ctx.set('Cache-Control', 'no-store');
    // Clients read `token` (the Docker spec) or `access_token` (OAuth2): both, always.
    ctx.body = {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt,
      ...(oauth2 && { scope: access.map(formatScope).join(' ') }),
      ...(refresh !== undefined && { refresh_token: refresh }),
    };
  };

  const router = new Router();
  router.get(path, async (ctx) => {
    checkService(single(ctx.query['service']));
    const principal = await signInWithBasic(ctx, signIn);
    // `docker login` asks for a refresh token (`offline_token=true`) and keeps it as its identity token.
    await answer(ctx, principal, parseScopes(all(ctx.query['scope'])), single(ctx.query['offline_token']) === 'true', false);
  });

  router.post(path, async (ctx) => {
    const form = await readForm(ctx);
    checkService(form.get('service') ?? undefined);
    const grantType = form.get('grant_type');
    let principal: Principal;
    if (grantType === 'password') {
      const credentials = { user: form.get('username') ?? '', password: form.get('password') ?? '' };
      principal = await signInWithPassword(ctx, credentials, signIn);
    } else if (grantType === 'refresh_token') {
      principal = await principalOfRefreshToken(form.get('refresh_token') ?? '');
    } else {
      throw new RegistryError('UNSUPPORTED', `unsupported grant_type "${grantType ?? ''}"`, { status: 400 });
    }
    await answer(ctx, principal, parseScopes(form.getAll('scope')), form.get('access_type') === 'offline', true);
  });

  router.get(`${path}/cert.pem`, (ctx) => {
    ctx.type = 'application/x-pem-file';
    ctx.body = options.signingKey.certificatePem;
  });
  router.get(`${path}/jwks.json`, (ctx) => {
    ctx.type = 'application/json';
    ctx.body = tokens.jwks();
  });

  /** Refresh tokens are for signed-in users only; anonymous callers get none. */
  const refreshToken = async (principal: Principal): Promise<string | undefined> => {
    if (principal.kind !== 'user') return undefined;
    const version = await options.htpasswd.credentialVersion(principal.name);
    if (version === undefined) throw signIn.unauthorized();
    return tokens.issueRefreshToken(principal.name, version);
  };

  /** A refresh token stops working once its user is removed or their password changes. */
  const principalOfRefreshToken = async (token: string): Promise<Principal> => {
    try {
      const { subject, credentialVersion } = await tokens.verifyRefreshToken(token);
      if ((await options.htpasswd.credentialVersion(subject)) !== credentialVersion) throw signIn.unauthorized();
      return userPrincipal(subject);
    } catch (error) {
      if (error instanceof TokenError) throw unauthorized(basicChallenge(service), 'invalid refresh token');
      throw error;
    }
  };

  const routes = router.routes() as unknown as Middleware;
  const isTokenPath = (ctx: Context) => ctx.path === path || ctx.path.startsWith(`${path}/`);
  return {
    routes: () => (ctx, next) => (isTokenPath(ctx) ? registryErrors(ctx, () => routes(ctx, next)) : next()),
    trustedKeys: parseTrustedKeys(options.signingKey.certificatePem, 'the token service certificate'),
    service,
    issuer,
    path,
    signIn: passwordSignIn(signIn, policy),
  };
}

function subjectOf(principal: Principal): string {
  return principal.kind === 'anonymous' ? '' : principal.name;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function all(value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

async function readForm(ctx: Context): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) {
    throw new RegistryError('UNSUPPORTED', 'token requests are posted as application/x-www-form-urlencoded', { status: 400 });
  }
  // The stream is the form unless a host's body parser has read it already (one that skips forms leaves
  // it unread, and may still have set `ctx.request.body = {}`); then the fields it parsed are all there is.
  if (!ctx.req.readableEnded) {
    const bytes = await readBoundedBody(ctx.req, MAX_FORM_BYTES, 'token request');
    return new URLSearchParams(bytes.toString('utf8'));
  }
  return formOfParsedBody((ctx.request as { body?: unknown }).body);
}

/**
 * A body parser's result as form fields. co-body (koa-bodyparser, koa-body) gives repeated fields
 * (`scope=…&scope=…`) as arrays, which `new URLSearchParams(object)` would join with commas into one
 * unparseable scope: each element becomes a field of its own, and what is not a string is dropped.
 */
function formOfParsedBody(parsed: unknown): URLSearchParams {
  if (typeof parsed === 'string' || Buffer.isBuffer(parsed)) return new URLSearchParams(parsed.toString('utf8'));
  const form = new URLSearchParams();
  if (parsed === null || typeof parsed !== 'object') return form;
  for (const [name, value] of Object.entries(parsed)) {
    for (const item of Array.isArray(value) ? value : [value]) if (typeof item === 'string') form.append(name, item);
  }
  return form;
}
