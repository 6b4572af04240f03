import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Middleware } from 'koa';
import type { MetadataStore } from '@berth/core';
import {
  createSignInLimiter,
  loadAccessFile,
  loadTrustedKeys,
  openHtpasswd,
  resolveTokenSigningKey,
} from '@berth/auth';
import { basicAuth, externalUrl, tokenAuth, tokenService, type Authorize } from '@berth/koa';
import type { ServerConfig } from './config.js';

export interface ServerAccess {
  /** The registry's access hook; undefined when sign-in is off. */
  authorize: Authorize | undefined;
  /** The built-in token service's routes, when it runs. */
  tokenRoutes: Middleware | undefined;
}

/** Builds the sign-in mode the configuration asks for; every file is read (and checked) before the server listens. */
export async function openServerAccess(config: ServerConfig, metadata: MetadataStore, logger: Logger): Promise<ServerAccess> {
  const { auth } = config;
  if (auth.mode === 'none') return { authorize: undefined, tokenRoutes: undefined };
  const access = auth.accessFile === undefined ? undefined : await loadAccessFile(auth.accessFile);
  if (auth.mode === 'external-token') {
    const keys = await loadTrustedKeys(auth.keysFile);
    return {
      authorize: tokenAuth({ issuer: auth.issuer, service: auth.service, keys, realm: auth.realm, ...(access && { access }) }),
      tokenRoutes: undefined,
    };
  }
  const htpasswd = await openHtpasswd(auth.htpasswdFile, {
    onReloadError: (error) => logger.error({ file: auth.htpasswdFile, reason: error.message }, 'htpasswd reload failed; keeping the previous users'),
  });
  // One count of failed sign-ins for the registry and the token service.
  const limiter = createSignInLimiter();
  if (auth.mode === 'basic') {
    return { authorize: basicAuth({ htpasswd, limiter, ...(access && { access }) }), tokenRoutes: undefined };
  }
  const tokens = tokenService({
    htpasswd,
    limiter,
    signingKey: await resolveTokenSigningKey(metadata, auth.signingKeyFile === undefined ? undefined : await readFile(auth.signingKeyFile, 'utf8')),
    service: auth.service,
    issuer: auth.issuer,
    ...(access && { access }),
  });
  return {
    authorize: tokenAuth({
      issuer: tokens.issuer,
      service: tokens.service,
      keys: tokens.trustedKeys,
      realm: (ctx) => `${externalUrl(ctx, config.publicUrl)}${tokens.path}`,
      // The web UI's sign-in form: the token service's users and rules.
      signIn: tokens.signIn,
    }),
    tokenRoutes: tokens.routes(),
  };
}
