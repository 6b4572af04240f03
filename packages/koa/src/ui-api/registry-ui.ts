import type { Middleware } from 'koa';
import { uiAssets } from '@berth/ui';
import type { RegistryService } from '@berth/registry';
import type { Authorize } from '../access-control.js';
import type { UiSignIn } from '../auth/password-sign-in.js';
import { uiApi } from './ui-api.js';
import type { UiSessionOptions } from './ui-sessions.js';

/** Options of `registry.ui()`. */
export interface UiOptions extends UiSessionOptions {
  /**
   * Where the UI lives: `''` (the default) for the site root, or a path such as `'/registry'`. The JSON API
   * is `{prefix}/api/…`; `/v2`, `/token`, `/healthz`, `/readyz` and `/metrics` are never answered by the UI.
   */
  prefix?: string;
  /**
   * How the UI's sign-in form signs users in, or why it offers none. Default: the `signIn` of the registry's
   * `authorize` hook (`basicAuth()` has one; `tokenAuth()` says an external token service signs users in).
   */
  signIn?: UiSignIn;
  /** Serve the pages too (default); `false` mounts the JSON API alone. */
  assets?: boolean;
}

export function registryUi(service: RegistryService, authorize: Authorize | undefined, options: UiOptions = {}): Middleware {
  const prefix = normalizePrefix(options.prefix ?? '');
  const hookSignIn = (authorize as { signIn?: UiSignIn } | undefined)?.signIn;
  const signIn = options.signIn ?? hookSignIn ?? (authorize === undefined ? { unavailable: 'sign-in is off: everyone may browse and delete' } : undefined);
  const api = uiApi({ ...options, service, authorize, signIn, prefix });
  const assets = options.assets === false ? undefined : uiAssets({ prefix });
  return async (ctx, next) => api(ctx, () => (assets ? assets(ctx, next) : next()));
}

function normalizePrefix(prefix: string): string {
  if (prefix !== '' && (!prefix.startsWith('/') || prefix.endsWith('/'))) {
    throw new TypeError(`registry.ui(): prefix must be '' or start with '/' and not end with one (got "${prefix}")`);
  }
  return prefix;
}
