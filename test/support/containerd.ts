// A private containerd for interop tests, driven with `ctr`: started by hand from a temp config
// (root, state, sockets and the plugins' opt dir under one temp dir; no CRI plugin), so it shares
// nothing with a containerd the machine (or a dockerd) runs. Start one per test file and share it.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectSuccess, runCommand, runEveryStep, systemPath, unmountUnder, type CommandResult } from './client-image.js';
import { watch } from './servers.js';

export const CONTAINERD_BIN = 'containerd';
export const CTR_BIN = 'ctr';
/** The namespace ctr uses unless a command names another. */
export const DEFAULT_CTR_NAMESPACE = 'berth-test';

export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

export interface CtrCommandOptions {
  /** `-n`; default DEFAULT_CTR_NAMESPACE. */
  readonly namespace?: string;
  readonly input?: string;
  /** Strings to mask in the returned command line and output. */
  readonly secrets?: readonly string[];
  readonly timeoutMs?: number;
}

export interface CtrRegistryOptions {
  readonly namespace?: string;
  /**
   * Sent as `-u user:password`. ctr reads a password only from a terminal, so it goes on argv (of
   * a process that lives a few hundred ms on a test machine); it is masked in every message.
   */
  readonly credentials?: RegistryCredentials;
  /** Further flags placed before the image reference. */
  readonly args?: readonly string[];
}

export interface Containerd {
  /** The gRPC socket (`ctr -a`). */
  readonly address: string;
  /** Runs `ctr -a <socket> -n <namespace> <args>`; resolves whatever the exit code. */
  ctr(args: readonly string[], options?: CtrCommandOptions): Promise<CommandResult>;
  /** Like ctr(), but throws a CommandError (with stderr) unless the exit code is 0. */
  ctrOk(args: readonly string[], options?: CtrCommandOptions): Promise<CommandResult>;
  /** `ctr images pull --plain-http [-u user:pass] <ref>` (unpacks with the native snapshotter). */
  pull(ref: string, options?: CtrRegistryOptions): Promise<CommandResult>;
  /** `ctr images push --plain-http [-u user:pass] <ref>`. */
  push(ref: string, options?: CtrRegistryOptions): Promise<CommandResult>;
  /** `ctr images import <archive>` (docker-archive or OCI archive, e.g. writeClientImage); returns the image names. */
  importArchive(archivePath: string, options?: { namespace?: string }): Promise<string[]>;
  logs(): string;
  /** SIGTERM, wait for the exit, remove the temp dir. */
  stop(): Promise<void>;
}

const READY_POLL_MS = 50;

export async function startContainerd(): Promise<Containerd> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-containerd-'));
  const address = join(dir, 'containerd.sock');
  const configPath = join(dir, 'config.toml');
  await mkdir(join(dir, 'opt'), { recursive: true });
  const toml = (value: string) => JSON.stringify(value);
  await writeFile(
    configPath,
    [
      'version = 2',
      `root = ${toml(join(dir, 'root'))}`,
      `state = ${toml(join(dir, 'state'))}`,
      // No CRI: it wants a CNI setup and is irrelevant to pulling and pushing.
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${toml(address)}`,
      '[ttrpc]',
      `  address = ${toml(`${address}.ttrpc`)}`,
      '[debug]',
      `  address = ${toml(join(dir, 'debug.sock'))}`,
      '  level = "warn"',
      '[metrics]',
      '  address = ""',
      // The opt plugin would otherwise create /opt/containerd.
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${toml(join(dir, 'opt'))}`,
      '',
    ].join('\n'),
  );

  const pathEnv = systemPath();
  const child = spawn(CONTAINERD_BIN, ['--config', configPath], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: pathEnv, HOME: dir },
  });
  const daemon = watch(child, 'containerd');
  const onExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', onExit);

  const ctr = (args: readonly string[], options: CtrCommandOptions = {}) =>
    runCommand(CTR_BIN, ['--address', address, '--namespace', options.namespace ?? DEFAULT_CTR_NAMESPACE, ...args], {
      // native: unpacking copies files, mounts nothing, works on any filesystem (overlayfs does
      // not nest on an overlay /tmp).
      env: { PATH: pathEnv, HOME: dir, CONTAINERD_SNAPSHOTTER: 'native', NO_PROXY: '*' },
      input: options.input,
      secrets: options.secrets,
      timeoutMs: options.timeoutMs,
    });
  const registryCommand = (verb: 'pull' | 'push', ref: string, options: CtrRegistryOptions = {}) => {
    const credentials = options.credentials;
    const userFlag = credentials === undefined ? [] : ['--user', `${credentials.username}:${credentials.password}`];
    return ctr(['images', verb, '--plain-http', ...userFlag, ...(options.args ?? []), ref], {
      namespace: options.namespace,
      secrets: credentials === undefined ? [] : [credentials.password],
    });
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', onExit);
    await runEveryStep([
      () => daemon.stop(),
      async () => {
        await unmountUnder(dir);
        await rm(dir, { recursive: true, force: true });
      },
    ]);
  };

  const polling = { cancelled: false };
  try {
    await daemon.race(
      (async () => {
        while (!polling.cancelled) {
          if ((await ctr(['version'], { timeoutMs: 5_000 })).code === 0) return;
          await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
        }
      })(),
    );
  } catch (error) {
    polling.cancelled = true;
    await stop().catch(() => undefined);
    throw error;
  }

  return {
    address,
    ctr,
    ctrOk: async (args, options) => expectSuccess(await ctr(args, options)),
    pull: (ref, options) => registryCommand('pull', ref, options),
    push: (ref, options) => registryCommand('push', ref, options),
    importArchive: async (archivePath, options = {}) => {
      const result = expectSuccess(await ctr(['images', 'import', archivePath], { namespace: options.namespace }));
      // "unpacking <name> (sha256:…)...done" per image.
      return [...result.stdout.matchAll(/unpacking (\S+) \(sha256:/g)].map((match) => match[1]!);
    },
    logs: daemon.logs,
    stop,
  };
}
