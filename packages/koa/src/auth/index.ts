export * from './basic-auth.js';
export * from './token-auth.js';
export * from './token-service.js';
export { externalUrl } from './challenge.js';
export type { PasswordSignIn, SignInUnavailable, UiSignIn } from './password-sign-in.js';
