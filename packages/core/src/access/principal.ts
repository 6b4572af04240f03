/** Who made a request: a signed-in user, or nobody (no credentials). */
export type Principal = { readonly kind: 'user'; readonly name: string } | { readonly kind: 'anonymous' };

/** The principal of a request that signed in as nobody. */
export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });

/** The principal of a signed-in user. */
export function userPrincipal(name: string): Principal {
  return { kind: 'user', name };
}

/** The name an access rule's `users` list refers to: the user's name, or `anonymous`. */
export function principalName(principal: Principal): string {
  return principal.kind === 'user' ? principal.name : 'anonymous';
}
