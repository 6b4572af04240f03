/** Who made a request: a signed-in user, or nobody (no credentials). */
export type Principal = { readonly kind: 'user'; readonly name: string } | { readonly kind: 'anonymous' };

export const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });

export function userPrincipal(name: string): Principal {
  return { kind: 'user', name };
}

/** The name an access rule's `users` list refers to: the user's name, or `anonymous`. */
export function principalName(principal: Principal): string {
  return principal.kind === 'user' ? principal.name : 'anonymous';
}
