// An upstream for the mirror suites: Debian's docker-registry (distribution 2.8) on loopback with
// its access log on, so a test can count how often each blob was served, and with one of three
// sign-ins: none, htpasswd (Basic), or token auth where a berth (its built-in token service) issues
// the tokens the upstream accepts. Images go in with skopeo, signed in as the upstream's pusher.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { gzipSync } from 'node:zlib';
import { expectSuccess, runCommand, runEveryStep, systemPath } from './client-image.js';
import { MediaType, REF_NAME_ANNOTATION, sha256Digest, type Blob } from './oci-image.js';
import { writeHtpasswd, type HtpasswdUser } from './reference-auth.js';
import { freePort, REFERENCE_REGISTRY_BIN, startBerth, waitForStatus, watch, type RunningBerth, type RunningRegistry } from './servers.js';

export type UpstreamAuthMode = 'none' | 'htpasswd' | 'token';

/** One request in the upstream's access log (distribution writes Apache combined format to stdout). */
export interface AccessLogEntry {
  readonly method: string;
  /** The request path without the query string, e.g. `/v2/library/app/blobs/sha256:…`. */
  readonly path: string;
  readonly status: number;
  readonly userAgent: string;
}

export interface UpstreamRegistry extends RunningRegistry {
  readonly auth: UpstreamAuthMode;
  /** The account that may pull and push everything (none for `auth: 'none'`). */
  readonly credentials: HtpasswdUser | undefined;
  /** `http://user:password@host` (or `http://host` without auth): a mirror rule's upstream URL. */
  readonly urlWithCredentials: string;
  /** With token auth, the berth whose token service the upstream trusts. */
  readonly tokenIssuer: RunningBerth | undefined;
  /**
   * Every request the upstream has answered so far, oldest first. The log line of a request reaches us
   * a little after its response, so this first sends a marker request and waits for its line.
   */
  accessLog(): Promise<readonly AccessLogEntry[]>;
  /** How many times the upstream answered `GET …/blobs/<digest>` with 200 (any repository), since the start. */
  blobGets(digest: string): Promise<number>;
  /**
   * `skopeo copy <source> docker://<upstream>/<repository>:<tag>` signed in as `credentials`;
   * returns the digest of the manifest written.
   */
  push(source: string, repository: string, tag: string, options?: UpstreamPushOptions): Promise<string>;
  /** Whether the process is still serving (false after stop()). */
  running(): boolean;
}

export interface UpstreamPushOptions {
  /** `--format` (e.g. `v2s2` for a Docker schema2 manifest). */
  readonly format?: 'oci' | 'v2s2';
  /** `--all`: every image of an index. */
  readonly all?: boolean;
}

export interface StartUpstreamOptions {
  /** Default `none`. */
  readonly auth?: UpstreamAuthMode;
  /** The pusher's account; a fixed one by default. */
  readonly credentials?: HtpasswdUser;
}

const DEFAULT_CREDENTIALS: HtpasswdUser = { username: 'upstream-pusher', password: 'upstream-pusher-pw' };
/** The token service and issuer name berth's token mode uses (see auth-reference.test.ts). */
const BERTH_TOKEN_SERVICE = 'berth';
const STARTUP_TIMEOUT_MS = 30_000;

// "127.0.0.1 - - [01/Dec/2026:22:00:00 +0000] "GET /v2/x/blobs/sha256:… HTTP/1.1" 200 1234 "" "skopeo/1.9.3""
const ACCESS_LINE = /^\S+ \S+ \S+ \[[^\]]+\] "([A-Z]+) (\S+) [^"]*" (\d{3}) \S+ "[^"]*" "([^"]*)"/;

export async function startUpstreamRegistry(options: StartUpstreamOptions = {}): Promise<UpstreamRegistry> {
  const auth = options.auth ?? 'none';
  const credentials = auth === 'none' ? undefined : (options.credentials ?? DEFAULT_CREDENTIALS);
  const workDir = await mkdtemp(join(tmpdir(), 'upstream-registry-'));
  let tokenIssuer: RunningBerth | undefined;
  const cleanups: Array<() => Promise<unknown> | undefined> = [];
  cleanups.push(() => tokenIssuer?.stop(), () => rm(workDir, { recursive: true, force: true }));
  try {
    let authSection: Record<string, unknown> | undefined;
    if (credentials !== undefined) {
      const htpasswd = join(workDir, 'htpasswd');
      await writeHtpasswd(htpasswd, [credentials]);
      if (auth === 'htpasswd') {
        authSection = { htpasswd: { realm: 'upstream', path: htpasswd } };
      } else {
        // berth signs tokens for the pusher on every repository; the upstream trusts berth's certificate.
        const access = join(workDir, 'access.yml');
        await writeFile(access, `- repositories: ["**"]\n  users: [${JSON.stringify(credentials.username)}]\n  actions: ["*"]\n`);
        tokenIssuer = await startBerth({ args: ['--auth', 'token', '--htpasswd', htpasswd, '--access', access] });
        const bundle = join(workDir, 'berth-token.pem');
        await writeFile(bundle, await (await fetch(`${tokenIssuer.url}/token/cert.pem`)).text());
        authSection = {
          token: { realm: `${tokenIssuer.url}/token`, service: BERTH_TOKEN_SERVICE, issuer: BERTH_TOKEN_SERVICE, rootcertbundle: bundle },
        };
      }
    }

    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const configPath = join(workDir, 'config.yml');
    // JSON is valid YAML. The access log goes to stdout; the application log (errors only) to stderr.
    const config = {
      version: 0.1,
      log: { level: 'error', accesslog: { disabled: false } },
      storage: {
        filesystem: { rootdirectory: join(workDir, 'storage') },
        delete: { enabled: true },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: { addr: host, secret: 'interop-tests-only' },
      ...(authSection !== undefined && { auth: authSection }),
    };
    await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);

    const child = spawn(REFERENCE_REGISTRY_BIN, ['serve', configPath], {
      cwd: workDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Only PATH: no REGISTRY_* overrides, and no AWS_CA_BUNDLE (its s3 driver panics on it).
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    const entries: AccessLogEntry[] = [];
    // A second reader of stdout: watch() keeps only a tail, the count needs every line.
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = ACCESS_LINE.exec(line);
      if (match === null) return;
      entries.push({ method: match[1]!, path: match[2]!.split('?')[0]!, status: Number(match[3]), userAgent: match[4]! });
    });
    const process_ = watch(child, 'docker-registry');
    let stopped = false;
    cleanups.unshift(async () => {
      stopped = true;
      await process_.stop();
    });
    const url = `http://${host}`;
    await process_.race(waitForStatus(`${url}/v2/`, credentials === undefined ? 200 : 401, STARTUP_TIMEOUT_MS));

    let markers = 0;
    const accessLog = async (): Promise<readonly AccessLogEntry[]> => {
      if (!stopped) {
        // Lines come through one pipe in the order they were written: once the marker's line is in,
        // so is every line written before it.
        const marker = `/v2/access-log-marker-${markers++}/tags/list`;
        await (await fetch(`${url}${marker}`)).arrayBuffer();
        const deadline = Date.now() + STARTUP_TIMEOUT_MS;
        while (!entries.some((entry) => entry.path === marker)) {
          if (Date.now() > deadline) throw new Error(`the upstream's access log never showed ${marker}:\n${process_.logs()}`);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
      return entries.filter((entry) => !entry.path.startsWith('/v2/access-log-marker-'));
    };
    const userInfo = credentials === undefined ? '' : `${encodeURIComponent(credentials.username)}:${encodeURIComponent(credentials.password)}@`;
    return {
      url,
      host,
      auth,
      credentials,
      urlWithCredentials: `http://${userInfo}${host}`,
      tokenIssuer,
      logs: () => `${process_.logs()}${tokenIssuer === undefined ? '' : `\n--- token issuer:\n${tokenIssuer.logs()}`}`,
      stop: () => runEveryStep(cleanups.splice(0)),
      running: () => !stopped,
      accessLog,
      blobGets: async (digest) =>
        (await accessLog()).filter((entry) => entry.method === 'GET' && entry.status === 200 && entry.path.endsWith(`/blobs/${digest}`))
          .length,
      push: async (source, repository, tag, pushOptions = {}) => {
        const digestFile = join(workDir, `digest-${randomBytes(6).toString('hex')}`);
        const args = [
          '--insecure-policy',
          'copy',
          '--retry-times', '0',
          '--dest-tls-verify=false',
          '--digestfile', digestFile,
          ...(credentials === undefined ? [] : ['--dest-creds', `${credentials.username}:${credentials.password}`]),
          ...(pushOptions.format === undefined ? [] : ['--format', pushOptions.format]),
          ...(pushOptions.all ? ['--all'] : []),
          source,
          `docker://${host}/${repository}:${tag}`,
        ];
        await skopeoSandboxed(workDir, args, credentials === undefined ? [] : [credentials.password]);
        return (await readFile(digestFile, 'utf8')).trim();
      },
    };
  } catch (error) {
    await runEveryStep(cleanups.splice(0));
    throw error;
  }
}

/** skopeo with an empty auth file and registries.conf of its own, so nothing from the machine leaks in. */
async function skopeoSandboxed(workDir: string, args: readonly string[], secrets: readonly string[]): Promise<void> {
  const home = join(workDir, 'skopeo-home');
  await mkdir(home, { recursive: true });
  const authFile = join(home, 'auth.json');
  const registriesConf = join(home, 'registries.conf');
  await writeFile(authFile, '{"auths":{}}');
  await writeFile(registriesConf, 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');
  expectSuccess(
    await runCommand('skopeo', args, {
      env: { PATH: systemPath(), HOME: home, REGISTRY_AUTH_FILE: authFile, CONTAINERS_REGISTRIES_CONF: registriesConf, NO_PROXY: '*' },
      secrets,
    }),
  );
}

export interface BigImageLayout {
  /** skopeo reference: `oci:<dir>:<tag>`. */
  readonly ref: string;
  readonly manifest: Blob;
  readonly config: Blob;
  readonly layer: Blob;
}

/**
 * An OCI layout with one image whose single layer is about `layerBytes` random bytes (not a tarball: only
 * registries and HTTP pulls see it, nothing unpacks it). Random, so every call gives new digests:
 * an image no cache has seen.
 */
export async function writeBigImageLayout(dir: string, layerBytes: number, tag = 'big'): Promise<BigImageLayout> {
  // Stored gzip (level 0): skopeo sees a compressed layer and pushes it as is, instead of
  // compressing it into a blob with another digest; random content stays incompressible anyway.
  const layer = blobOf(MediaType.ociLayerGzip, gzipSync(randomBytes(layerBytes), { level: 0 }));
  const config = blobOf(
    MediaType.ociConfig,
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } })),
  );
  const manifest = blobOf(
    MediaType.ociManifest,
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: descriptor(config), layers: [descriptor(layer)] })),
  );
  const blobDir = join(dir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  for (const blob of [layer, config, manifest]) await writeFile(join(blobDir, blob.digest.slice('sha256:'.length)), blob.bytes);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [{ ...descriptor(manifest), annotations: { [REF_NAME_ANNOTATION]: tag } }],
    }),
  );
  return { ref: `oci:${dir}:${tag}`, manifest, config, layer };
}

function blobOf(mediaType: string, bytes: Buffer): Blob {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.length, bytes };
}

function descriptor(blob: Blob): { mediaType: string; digest: string; size: number } {
  return { mediaType: blob.mediaType, digest: blob.digest, size: blob.size };
}
