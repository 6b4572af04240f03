// A throwaway certificate authority made with the openssl CLI, for TLS tests: a CA certificate and
// server certificates it signs for 127.0.0.1 and localhost (P-256 keys: quick to make, and what Go,
// Docker and Node all accept).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expectSuccess, runCommand, systemPath } from './client-image.js';

export interface IssuedCertificate {
  readonly certPath: string;
  readonly keyPath: string;
  /** Upper-case hex, as Node's X509Certificate and TLS peer certificates report it. */
  readonly serialNumber: string;
}

export interface TestCa {
  /** `ca.crt`: what clients are told to trust. */
  readonly certPath: string;
  readonly certPem: string;
  /**
   * A server certificate with SAN IP:127.0.0.1 and DNS:localhost (and `extraIps`), written as
   * `<name>.crt` and `<name>.key` in the CA's directory.
   */
  issue(name: string, serialNumber: number, extraIps?: readonly string[]): Promise<IssuedCertificate>;
}

const VALID_DAYS = '2';

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  expectSuccess(await runCommand('openssl', args, { env: { PATH: systemPath() }, cwd }));
}

export async function createTestCa(dir: string): Promise<TestCa> {
  await mkdir(dir, { recursive: true });
  const certPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'ca.key');
  await openssl(
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', VALID_DAYS, '-subj', '/CN=berth test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  return {
    certPath,
    certPem: await readFile(certPath, 'utf8'),
    issue: async (name, serialNumber, extraIps = []) => {
      const extensions = join(dir, `${name}.cnf`);
      const names = ['IP:127.0.0.1', 'DNS:localhost', ...extraIps.map((ip) => `IP:${ip}`)].join(',');
      await writeFile(extensions, `subjectAltName=${names}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
      const serverKey = join(dir, `${name}.key`);
      const request = join(dir, `${name}.csr`);
      const serverCert = join(dir, `${name}.crt`);
      await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', serverKey, '-out', request, '-subj', '/CN=localhost'], dir);
      await openssl(
        ['x509', '-req', '-in', request, '-CA', certPath, '-CAkey', keyPath, '-set_serial', String(serialNumber), '-days', VALID_DAYS, '-extfile', extensions, '-out', serverCert],
        dir,
      );
      return { certPath: serverCert, keyPath: serverKey, serialNumber: evenHex(serialNumber) };
    },
  };
}

function evenHex(value: number): string {
  const hex = value.toString(16).toUpperCase();
  return hex.length % 2 === 0 ? hex : `0${hex}`;
}
