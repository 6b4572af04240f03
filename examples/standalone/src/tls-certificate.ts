import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { StartupError } from './data-dir.js';

/** Where the server's certificate chain and its private key are kept (PEM). */
export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

/** A certificate and key that belong together, as read from their files. */
export interface ServerCertificate {
  cert: Buffer;
  key: Buffer;
  /** What the logs say about it: never the key. */
  summary: { subject: string; serialNumber: string; validTo: string; expired: boolean };
}

/**
 * Reads the certificate chain and key and checks, before anything listens, that they can serve: both
 * files readable, both PEM, the key the certificate's. Every failure is one StartupError naming the
 * file and what to do (also on a SIGHUP reload, where the message is logged and the old pair kept).
 */
export async function readServerCertificate(files: CertificateFiles): Promise<ServerCertificate> {
  const cert = await readPem(files.certFile, '--tls-cert');
  const key = await readPem(files.keyFile, '--tls-key');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new StartupError(`--tls-cert ${files.certFile}: not a PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new StartupError(`--tls-key ${files.keyFile}: not an unencrypted PEM private key (expected -----BEGIN PRIVATE KEY-----)`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new StartupError(`--tls-key ${files.keyFile} is not the key of the certificate in --tls-cert ${files.certFile}; give the matching pair`);
  }
  try {
    // What the TLS server will do with them: catches a broken intermediate further down the chain.
    createSecureContext({ cert, key });
  } catch (error) {
    throw new StartupError(`--tls-cert ${files.certFile}: cannot be used (${(error as Error).message})`);
  }
  return {
    cert,
    key,
    summary: {
      subject: certificate.subject.replace(/\n/g, ', '),
      serialNumber: certificate.serialNumber,
      validTo: new Date(certificate.validTo).toISOString(),
      expired: Date.parse(certificate.validTo) < Date.now(),
    },
  };
}

async function readPem(path: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new StartupError(`${flag} ${path}: file not found`);
    if (code === 'EACCES' || code === 'EPERM') throw new StartupError(`${flag} ${path}: permission denied; make it readable by the user berth runs as`);
    if (code === 'EISDIR') throw new StartupError(`${flag} ${path}: is a directory, expected a PEM file`);
    throw new StartupError(`${flag} ${path}: cannot be read (${code ?? (error as Error).message})`);
  }
}
