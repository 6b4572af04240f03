// JOSE base64url (RFC 7515 §2): URL alphabet, no padding. Decoding is strict about the alphabet and
// the length, as libtrust's joseBase64UrlDecode is (it refuses a length of 1 modulo 4).
const BASE64URL = /^[A-Za-z0-9_-]*$/;

export function encodeBase64Url(bytes: Uint8Array | string): string {
  return (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes)).toString('base64url');
}

/** The bytes of a base64url string, or undefined when it is not one. */
export function decodeBase64Url(text: string): Uint8Array | undefined {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  return new Uint8Array(Buffer.from(text, 'base64url'));
}
