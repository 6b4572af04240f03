// Thin wrappers over the skopeo CLI. Each instance runs skopeo in its own sandbox: an empty
// auth file, an empty registries.conf, no lookaside/signature config, HOME and XDG dirs in a
// tmp dir, and --insecure-policy, so nothing on the machine influences the result.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Digest } from './oci-image.js';

export type ManifestFormat = 'oci' | 'v2s2' | 'v2s1';

export interface CopyOptions {
  /** Manifest type to write at the destination (`--format`). */
  readonly format?: ManifestFormat;
  /** Copy every image of an index / manifest list (`--all`). */
  readonly all?: boolean;
  /** `--retry-times`: how often skopeo starts the copy over after a retryable error (default 0). */
  readonly retryTimes?: number;
}

export interface CopyResult {
  /** Digest of the manifest bytes skopeo wrote to the destination (from `--digestfile`). */
  readonly digest: string;
}

export interface Skopeo {
  copy(source: string, destination: string, options?: CopyOptions): Promise<CopyResult>;
  /** The manifest bytes exactly as the source serves them (`inspect --raw`). */
  inspectRaw(ref: string): Promise<Buffer>;
  /** sha256 of the raw manifest bytes. */
  inspectDigest(ref: string): Promise<string>;
  /** Tags of a repository; `ref` is `docker://host/repo` without tag. */
  listTags(ref: string): Promise<string[]>;
  delete(ref: string): Promise<void>;
  dispose(): Promise<void>;
}

export class SkopeoError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | string | null,
    readonly stderr: string,
  ) {
    super(`skopeo ${args.join(' ')} failed (exit ${exitCode}):\n${stderr.trim()}`);
    this.name = 'SkopeoError';
  }
}

export const SKOPEO_BIN = 'skopeo';
/** Below vitest's 120 s test timeout, so a hung skopeo fails the test with its stderr. */
const COMMAND_TIMEOUT_S = 100;

/** `docker://host/repo:tag`, or `docker://host/repo@sha256:...` for a digest. */
export function dockerRef(host: string, repository: string, reference?: string): string {
  if (reference === undefined) return `docker://${host}/${repository}`;
  return `docker://${host}/${repository}${reference.includes(':') ? '@' : ':'}${reference}`;
}

export interface CreateSkopeoOptions {
  /**
   * Verify registries' TLS certificates against the `ca.crt` (and `*.crt`) in this directory
   * (`--cert-dir`, `--tls-verify=true`); without it, TLS is not verified (plain HTTP works too).
   */
  readonly certDir?: string;
}

export async function createSkopeo(options: CreateSkopeoOptions = {}): Promise<Skopeo> {
  const certDir = options.certDir;
  const sandbox = await mkdtemp(join(tmpdir(), 'skopeo-sandbox-'));
  const dirs = {
    home: join(sandbox, 'home'),
    config: join(sandbox, 'config'),
    data: join(sandbox, 'data'),
    runtime: join(sandbox, 'run'),
    docker: join(sandbox, 'docker'),
    registriesD: join(sandbox, 'registries.d'),
    tmp: join(sandbox, 'tmp'),
  };
  for (const dir of Object.values(dirs)) await mkdir(dir, { recursive: true, mode: 0o700 });
  const authFile = join(sandbox, 'auth.json');
  await writeFile(authFile, JSON.stringify({ auths: {} }));
  const registriesConf = join(sandbox, 'registries.conf');
  await writeFile(registriesConf, 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');

  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dirs.home,
    XDG_CONFIG_HOME: dirs.config,
    XDG_DATA_HOME: dirs.data,
    XDG_RUNTIME_DIR: dirs.runtime,
    DOCKER_CONFIG: dirs.docker,
    REGISTRY_AUTH_FILE: authFile,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    TMPDIR: dirs.tmp,
    // Registries are on loopback; never route them through a proxy from the caller's environment.
    NO_PROXY: '*',
  };
  const globalFlags = [
    '--insecure-policy',
    '--registries.d',
    dirs.registriesD,
    '--tmpdir',
    dirs.tmp,
    '--command-timeout',
    `${COMMAND_TIMEOUT_S}s`,
  ];

  const run = (args: string[]): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const fullArgs = [...globalFlags, ...args];
      execFile(
        SKOPEO_BIN,
        fullArgs,
        { env, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: (COMMAND_TIMEOUT_S + 10) * 1000 },
        (error, stdout, stderr) => {
          if (error) {
            const code = (error as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
            reject(new SkopeoError(args, code, `${stderr.toString('utf8')}${error.killed ? '\n(killed: timeout)' : ''}`));
          } else {
            resolve(stdout);
          }
        },
      );
    });

  let digestFiles = 0;
  return {
    copy: async (source, destination, options = {}) => {
      const digestFile = join(sandbox, `digest-${digestFiles++}`);
      const args = ['copy', '--retry-times', String(options.retryTimes ?? 0), '--digestfile', digestFile];
      if (source.startsWith('docker://')) args.push(...tlsFlags(certDir, '--src-'));
      if (destination.startsWith('docker://')) args.push(...tlsFlags(certDir, '--dest-'));
      if (options.format) args.push('--format', options.format);
      if (options.all) args.push('--all');
      await run([...args, source, destination]);
      const digest = (await readFile(digestFile, 'utf8')).trim();
      await rm(digestFile, { force: true });
      return { digest };
    },
    inspectRaw: (ref) => run(['inspect', '--raw', '--retry-times', '0', ...tlsFlag(ref, certDir), ref]),
    inspectDigest: async (ref) =>
      sha256Digest(await run(['inspect', '--raw', '--retry-times', '0', ...tlsFlag(ref, certDir), ref])),
    listTags: async (ref) => {
      const out = await run(['list-tags', '--retry-times', '0', ...tlsFlag(ref, certDir), ref]);
      const parsed = JSON.parse(out.toString('utf8')) as { Tags?: string[] | null };
      return parsed.Tags ?? [];
    },
    delete: async (ref) => {
      await run(['delete', '--retry-times', '0', ...tlsFlag(ref, certDir), ref]);
    },
    dispose: () => rm(sandbox, { recursive: true, force: true }),
  };
}

function tlsFlag(ref: string, certDir: string | undefined): string[] {
  return ref.startsWith('docker://') ? tlsFlags(certDir, '--') : [];
}

function tlsFlags(certDir: string | undefined, prefix: '--' | '--src-' | '--dest-'): string[] {
  return certDir === undefined ? [`${prefix}tls-verify=false`] : [`${prefix}tls-verify=true`, `${prefix}cert-dir`, certDir];
}

export interface SkopeoLoginOptions {
  /** `host:port` of the registry. */
  readonly host: string;
  readonly username: string;
  readonly password: string;
  /** The auth file skopeo writes the credentials to (created if missing). */
  readonly authFile: string;
}

export interface SkopeoLoginResult {
  readonly code: number | string | null;
  readonly stderr: string;
}

/**
 * `skopeo login --tls-verify=false --authfile <authFile> -u <username> --password-stdin <host>`,
 * in a throwaway HOME/XDG sandbox; resolves whatever the exit code (a refused login exits 1 with
 * "invalid username/password"). The password goes through stdin, never argv. Note: the Skopeo
 * instances of createSkopeo() keep their own auth file, which this does not write.
 */
export async function skopeoLogin(options: SkopeoLoginOptions): Promise<SkopeoLoginResult> {
  const sandbox = await mkdtemp(join(tmpdir(), 'skopeo-login-'));
  try {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: sandbox,
      XDG_CONFIG_HOME: join(sandbox, 'config'),
      XDG_RUNTIME_DIR: join(sandbox, 'run'),
      REGISTRY_AUTH_FILE: options.authFile,
      NO_PROXY: '*',
    };
    const args = ['login', '--tls-verify=false', '--authfile', options.authFile, '--username', options.username, '--password-stdin', options.host];
    return await new Promise((resolve) => {
      const child = execFile(SKOPEO_BIN, args, { env, timeout: (COMMAND_TIMEOUT_S + 10) * 1000 }, (error, _stdout, stderr) => {
        const code = error ? ((error as NodeJS.ErrnoException & { code?: number | string }).code ?? null) : 0;
        resolve({ code, stderr: String(stderr).split(options.password).join('***') });
      });
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(options.password);
    });
  } finally {
    await rm(sandbox, { recursive: true, force: true });
  }
}
