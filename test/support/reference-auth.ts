// The reference registry (Debian's docker-registry, distribution 2.8) with authentication: htpasswd
// (Basic) or token (Bearer, tokens verified against a certificate bundle). Same config as
// startReferenceRegistry in servers.ts plus an `auth` section; same RunningRegistry shape. Also:
// htpasswd files with bcrypt entries, and a tiny token issuer (self-signed ES256 cert + JWTs) that
// the token-mode registry accepts.
import { createPrivateKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectSuccess, runCommand, systemPath } from './client-image.js';
import { startReferenceRegistry, type RunningRegistry } from './servers.js';

export interface HtpasswdAuth {
  readonly htpasswd: {
    /** An existing htpasswd file (bcrypt entries only; see writeHtpasswd). */
    readonly path: string;
    /** The Basic realm in WWW-Authenticate; default `berth-interop`. */
    readonly realm?: string;
  };
}

export interface TokenAuth {
  readonly token: {
    /** The token endpoint clients are sent to (WWW-Authenticate realm). */
    readonly realm: string;
    /** The `service` parameter of the challenge; tokens must carry it as `aud`. */
    readonly service: string;
    /** Tokens must carry it as `iss`. */
    readonly issuer: string;
    /** PEM file with the certificate(s) whose keys sign tokens. */
    readonly rootCertBundle: string;
  };
}

export type ReferenceAuth = HtpasswdAuth | TokenAuth;

export interface HtpasswdUser {
  readonly username: string;
  readonly password: string;
}

export const HTPASSWD_BIN = 'htpasswd';
export const OPENSSL_BIN = 'openssl';

/**
 * Writes (replaces) an htpasswd file with a bcrypt entry per user, made by `htpasswd -nBi` (the
 * password goes through stdin, never argv). distribution accepts bcrypt entries only.
 */
export async function writeHtpasswd(path: string, users: readonly HtpasswdUser[]): Promise<void> {
  await writeFile(path, '', { mode: 0o600 });
  for (const user of users) {
    // Cost 5 (htpasswd's default for -B) keeps each verified request at a few milliseconds.
    const result = expectSuccess(
      await runCommand(HTPASSWD_BIN, ['-n', '-B', '-i', user.username], {
        env: { PATH: systemPath() },
        input: user.password,
        secrets: [user.password],
      }),
    );
    await appendFile(path, `${result.stdout.trim()}\n`);
  }
}

/** The reference (see startReferenceRegistry) with htpasswd or token auth; resolves once GET /v2/ answers 401. */
export function startReferenceRegistryWithAuth(auth: ReferenceAuth): Promise<RunningRegistry> {
  const section =
    'htpasswd' in auth
      ? { htpasswd: { realm: auth.htpasswd.realm ?? 'berth-interop', path: auth.htpasswd.path } }
      : {
          token: {
            realm: auth.token.realm,
            service: auth.token.service,
            issuer: auth.token.issuer,
            rootcertbundle: auth.token.rootCertBundle,
          },
        };
  return startReferenceRegistry({ auth: section });
}

/** writeHtpasswd into a tmp file + startReferenceRegistryWithAuth; the file goes with stop(). */
export async function startReferenceRegistryWithHtpasswd(users: readonly HtpasswdUser[], realm?: string): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'reference-htpasswd-'));
  try {
    const path = join(dir, 'htpasswd');
    await writeHtpasswd(path, users);
    const registry = await startReferenceRegistryWithAuth({ htpasswd: { path, realm } });
    return {
      ...registry,
      stop: async () => {
        try {
          await registry.stop();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** One `access` entry of a registry token: e.g. `{ type: 'repository', name: 'team/app', actions: ['pull', 'push'] }`. */
export interface TokenAccess {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

export interface TokenClaims {
  /** `sub`: the user the token speaks for. */
  readonly subject: string;
  readonly access: readonly TokenAccess[];
  /** `aud`; default: the signer's service. */
  readonly audience?: string;
  /** `iss`; default: the signer's issuer. */
  readonly issuer?: string;
  /** Lifetime in seconds from now; default 300. Negative gives an expired token. */
  readonly expiresInSeconds?: number;
}

export interface TokenSigner {
  /** PEM certificate (self-signed, P-256): give it to the registry as `rootCertBundle`. */
  readonly certPath: string;
  readonly keyPath: string;
  readonly privateKey: KeyObject;
  readonly issuer: string;
  readonly service: string;
  /** A compact JWS (ES256, certificate in the `x5c` header) in distribution's token format. */
  sign(claims: TokenClaims): string;
}

/**
 * Makes a P-256 key and a self-signed certificate in `dir` with `openssl`, and returns a signer
 * of registry tokens that distribution (token auth with that certificate as rootcertbundle,
 * the same issuer and service) accepts.
 */
export async function createTokenSigner(dir: string, options: { issuer?: string; service?: string } = {}): Promise<TokenSigner> {
  await mkdir(dir, { recursive: true });
  const keyPath = join(dir, 'token-signing.key');
  const certPath = join(dir, 'token-signing.crt');
  const issuer = options.issuer ?? 'berth-test-issuer';
  const service = options.service ?? 'berth-test-registry';
  expectSuccess(
    await runCommand(
      OPENSSL_BIN,
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', `/CN=${issuer}`],
      { env: { PATH: systemPath(), HOME: dir, RANDFILE: join(dir, '.rnd') } },
    ),
  );
  const privateKey = createPrivateKey(await readFile(keyPath));
  const certDer = new X509Certificate(await readFile(certPath)).raw;
  const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
  const base64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return {
    certPath,
    keyPath,
    privateKey,
    issuer,
    service,
    sign: (claims) => {
      const now = Math.floor(Date.now() / 1000);
      const payload = {
        iss: claims.issuer ?? issuer,
        sub: claims.subject,
        aud: claims.audience ?? service,
        exp: now + (claims.expiresInSeconds ?? 300),
        nbf: now - 10,
        iat: now,
        jti: randomBytes(12).toString('hex'),
        access: claims.access,
      };
      const signingInput = `${base64url(header)}.${base64url(payload)}`;
      // JWS ES256 wants r||s (IEEE P1363), not DER.
      const signature = sign('sha256', Buffer.from(signingInput), { key: privateKey, dsaEncoding: 'ieee-p1363' });
      return `${signingInput}.${signature.toString('base64url')}`;
    },
  };
}
