import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';

/**
 * A minimal DER writer for one thing: an X.509 v3 certificate for an EC P-256 key, signed
 * ecdsa-with-SHA256 by a P-256 key (its own, or an authority's). Node can read certificates but not make
 * them, and this is all a token service needs to publish its key in the form distribution's
 * `rootcertbundle` reads.
 */
export interface CertificateOptions {
  publicKey: KeyObject;
  /** The key that signs: the certificate's own private key for a self-signed one, else the issuer's. */
  signingKey: KeyObject;
  /** Common name of the subject. */
  subject: string;
  /** Common name of the issuer; default: the subject (self-signed). */
  issuer?: string;
  /** A certificate authority (may sign certificates) rather than an end entity (signs tokens). Default false. */
  authority?: boolean;
  notBefore: Date;
  notAfter: Date;
}

/** The certificate, as PEM. */
export function createCertificate(options: CertificateOptions): string {
  const spki = options.publicKey.export({ type: 'spki', format: 'der' });
  const name = (commonName: string) => sequence(set(sequence(oid(OID.commonName), utf8String(commonName))));
  const ecdsaWithSha256 = sequence(oid(OID.ecdsaWithSha256));
  const authority = options.authority ?? false;
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serialNumber()),
    ecdsaWithSha256,
    name(options.issuer ?? options.subject),
    sequence(time(options.notBefore), time(options.notAfter)),
    name(options.subject),
    spki,
    explicit(3, sequence(
      extension(OID.basicConstraints, true, authority ? sequence(boolean(true)) : sequence()),
      // digitalSignature for an end entity, keyCertSign for an authority.
      extension(OID.keyUsage, true, authority ? bitString(Buffer.from([0x04]), 2) : bitString(Buffer.from([0x80]), 7)),
      // The SHA-1 of the key bits (RFC 5280 4.2.1.2), so chains can be matched by key.
      extension(OID.subjectKeyIdentifier, false, octetString(createHash('sha1').update(publicKeyBits(spki)).digest())),
    )),
  );
  const signature = sign('sha256', tbs, options.signingKey);
  const der = sequence(tbs, ecdsaWithSha256, bitString(signature, 0));
  const base64 = der.toString('base64').match(/.{1,64}/g)!.join('\n');
  return `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`;
}

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectKeyIdentifier: '2.5.29.14',
};

function tlv(tag: number, content: Buffer): Buffer {
  const length = content.length;
  if (length < 0x80) return Buffer.concat([Buffer.from([tag, length]), content]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest >>= 8) bytes.unshift(rest & 0xff);
  return Buffer.concat([Buffer.from([tag, 0x80 | bytes.length, ...bytes]), content]);
}

const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, content: Buffer) => tlv(0xa0 | n, content);
const octetString = (bytes: Buffer) => tlv(0x04, bytes);
const utf8String = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const bitString = (bytes: Buffer, unusedBits: number) => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
const boolean = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0]));

/** A non-negative INTEGER: a leading zero keeps a high first bit from reading as negative. */
function integer(bytes: Buffer): Buffer {
  return tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes = [first! * 40 + second!];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let value = arc >> 7; value > 0; value >>= 7) chunk.unshift((value & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime until 2049, GeneralizedTime from 2050 on (RFC 5280 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

/** 16 random bytes, positive and without a leading zero byte. */
function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes;
}

/** The subjectPublicKey bits of a P-256 SPKI: its last 65 bytes (the uncompressed point). */
function publicKeyBits(spki: Buffer): Buffer {
  return spki.subarray(spki.length - 65);
}
