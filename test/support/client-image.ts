// Plumbing shared by the real-client helpers (docker-engine.ts, podman.ts, containerd.ts):
// a command runner that never puts secrets in messages, cleanup of mounts a daemon may leave
// under its temp dir, and a tiny image made offline as a docker-archive tarball, which
// `docker load`, `podman load` and `ctr images import` all accept.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { generateImage, type GeneratedImage, type Platform } from './oci-image.js';
import { writeTar, type TarEntry } from './ustar.js';

export interface CommandResult {
  /** Exit status; -1 when the process was killed (signal or timeout) or could not start. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The command line with every secret replaced by `***`, for messages. */
  readonly command: string;
}

export interface RunCommandOptions {
  /** The complete environment (nothing is inherited from the caller). */
  readonly env: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed (stdin is empty otherwise). */
  readonly input?: string;
  readonly cwd?: string;
  /** Kills the command (SIGKILL) after this long; default 100 s, below vitest's 120 s test timeout. */
  readonly timeoutMs?: number;
  /** Strings (passwords, tokens) to mask in `command`, stdout and stderr. */
  readonly secrets?: readonly string[];
}

export class CommandError extends Error {
  constructor(readonly result: CommandResult) {
    super(`${result.command} failed (exit ${result.code}):\n${(result.stderr || result.stdout).trim()}`);
    this.name = 'CommandError';
  }
}

const DEFAULT_TIMEOUT_MS = 100_000;
const MAX_OUTPUT_CHARS = 4 * 1024 * 1024;

/** Runs `bin args` to completion; resolves with its exit code and output, whatever the code. */
export function runCommand(bin: string, args: readonly string[], options: RunCommandOptions): Promise<CommandResult> {
  const secrets = (options.secrets ?? []).filter((secret) => secret !== '');
  const mask = (text: string) => secrets.reduce((masked, secret) => masked.split(secret).join('***'), text);
  const command = mask([bin, ...args].map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg))).join(' '));
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env: options.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout = (stdout + chunk).slice(-MAX_OUTPUT_CHARS);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-MAX_OUTPUT_CHARS);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    // The command may exit without reading stdin (EPIPE); its exit status tells the story.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout: '', stderr: `could not start ${bin}: ${error.message}`, command });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const note = timedOut ? `\n(killed after ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms)` : '';
      resolve({ code: code ?? -1, stdout: mask(stdout), stderr: mask(stderr) + note, command });
    });
  });
}

/** Returns `result` when it exited 0, throws a CommandError (with its stderr) otherwise. */
export function expectSuccess(result: CommandResult): CommandResult {
  if (result.code !== 0) throw new CommandError(result);
  return result;
}

/** Sends `signal` to `pid` if it is alive; false when there is no such process. */
export function signalProcess(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, up to `graceMs` to exit, then SIGKILL: for a process we started but do not parent. */
export async function terminatePid(pid: number, graceMs = 5_000): Promise<void> {
  if (!signalProcess(pid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!signalProcess(pid, 0) || (await isZombie(pid))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  signalProcess(pid, 'SIGKILL');
}

async function isZombie(pid: number): Promise<boolean> {
  try {
    return /\)\s+Z\s/.test(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/**
 * Runs every step in order even when one fails, then throws the first failure: a daemon that would
 * not stop must fail the test, but must not leave the steps after it (its temp dir, other daemons) undone.
 */
export async function runEveryStep(steps: ReadonlyArray<() => Promise<unknown> | undefined>): Promise<void> {
  let failure: { error: unknown } | undefined;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}

/**
 * Lazily unmounts whatever is still mounted at or under `dir` (dockerd bind-mounts its data-root
 * onto itself; a killed daemon leaves that behind and `rm -r` would then fail with EBUSY).
 */
export async function unmountUnder(dir: string): Promise<void> {
  let mounts: string;
  try {
    mounts = await readFile('/proc/self/mounts', 'utf8');
  } catch {
    return;
  }
  const targets = mounts
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((target): target is string => target !== undefined)
    // /proc/mounts escapes spaces and the like as octal; our temp paths have none.
    .filter((target) => target === dir || target.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const target of targets) {
    await runCommand('umount', ['-l', target], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
  }
}

/** PATH for daemons and clients: the caller's, plus the sbin directories dockerd and runc live in. */
export function systemPath(): string {
  const parts = (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter((part) => part !== '');
  for (const dir of ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (!parts.includes(dir)) parts.push(dir);
  }
  return parts.join(':');
}

/** The OCI platform of this machine, so that clients which unpack (ctr) accept the image. */
export function hostPlatform(): Platform {
  switch (process.arch) {
    case 'x64':
      return { architecture: 'amd64', os: 'linux' };
    case 'arm64':
      return { architecture: 'arm64', os: 'linux', variant: 'v8' };
    case 'arm':
      return { architecture: 'arm', os: 'linux', variant: 'v7' };
    case 'ia32':
      return { architecture: '386', os: 'linux' };
    case 'ppc64':
      return { architecture: 'ppc64le', os: 'linux' };
    default:
      return { architecture: process.arch, os: 'linux' };
  }
}

export interface ClientImageOptions {
  /** Where to write the tarball. */
  readonly path: string;
  /** The name the clients give the image after loading it; default `localhost/berth-test/tiny:1`. */
  readonly repoTag?: string;
  /** Distinct seeds give distinct layers and config (see oci-image.ts); default 1. */
  readonly seed?: number;
  /** Number of filesystem layers; default 1. */
  readonly layers?: number;
}

export interface ClientImage {
  /** The docker-archive tarball (`docker load -i`, `podman load -i`, `ctr images import`). */
  readonly path: string;
  /** The fully qualified name it loads as, e.g. `localhost/berth-test/tiny:1`. */
  readonly repoTag: string;
  /**
   * Digest of the image config. Every client keeps the config bytes as they are, so after any
   * push and pull this is still the image ID (`docker image inspect -f {{.Id}}`,
   * `podman image inspect`, the `config` descriptor of the manifest).
   */
  readonly configDigest: string;
  /** Digests of the uncompressed layers (the config's rootfs.diff_ids). */
  readonly diffIds: readonly string[];
  readonly image: GeneratedImage;
}

export const DEFAULT_CLIENT_IMAGE_TAG = 'localhost/berth-test/tiny:1';

/**
 * Writes a small image for this machine's platform as a docker-archive (the `docker save` format:
 * manifest.json, `<config hex>.json` and `<diff id hex>/layer.tar` with uncompressed layers).
 * Nothing is fetched: the layers come from generateImage(), so the same options give the same
 * bytes. Give it a registry-qualified `repoTag` to skip a `tag` step after loading.
 */
export async function writeClientImage(options: ClientImageOptions): Promise<ClientImage> {
  const repoTag = options.repoTag ?? DEFAULT_CLIENT_IMAGE_TAG;
  const image = generateImage({ layers: options.layers ?? 1, seed: options.seed ?? 1, platform: hostPlatform() });
  const mtime = new Date(Date.UTC(2024, 0, 1));
  const hex = (digest: string) => digest.slice('sha256:'.length);
  const configName = `${hex(image.config.digest)}.json`;
  const entries: TarEntry[] = [{ type: 'file', name: configName, mtime, content: image.config.bytes }];
  const layerNames: string[] = [];
  for (const layer of image.layers) {
    const dir = hex(layer.diffId);
    const name = `${dir}/layer.tar`;
    entries.push({ type: 'directory', name: dir, mtime }, { type: 'file', name, mtime, content: gunzipSync(layer.bytes) });
    layerNames.push(name);
  }
  const manifest = [{ Config: configName, RepoTags: [repoTag], Layers: layerNames }];
  entries.push({ type: 'file', name: 'manifest.json', mtime, content: Buffer.from(JSON.stringify(manifest)) });
  await writeFile(options.path, writeTar(entries));
  return {
    path: options.path,
    repoTag,
    configDigest: image.config.digest,
    diffIds: image.layers.map((layer) => layer.diffId),
    image,
  };
}
