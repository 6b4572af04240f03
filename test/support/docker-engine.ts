// A private Docker Engine for interop tests: `dockerd` started by hand (no systemd) with its data,
// state, pidfile and API socket in a temp dir, so it shares nothing with a daemon the machine may
// run, and several test files can each run one at the same time. Start one per test file
// (beforeAll) and share it; give each test its own DOCKER_CONFIG (newConfigDir) so credentials
// never leak between tests.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectSuccess, runCommand, runEveryStep, systemPath, terminatePid, unmountUnder, type CommandResult } from './client-image.js';
import { watch } from './servers.js';

/** The docker CLI: whichever comes first in PATH (any version from 20.10 talks to dockerd 20.10). */
export const DOCKER_BIN = 'docker';
export const DOCKERD_BIN = 'dockerd';

export interface DockerCommandOptions {
  /** DOCKER_CONFIG for this command (where `docker login` keeps credentials); default: the engine's shared one. */
  readonly configDir?: string;
  /** Written to stdin (e.g. the password for `login --password-stdin`). */
  readonly input?: string;
  /** Strings to mask in the returned command line and output. */
  readonly secrets?: readonly string[];
  readonly timeoutMs?: number;
}

export interface DockerEngine {
  /** `unix:///tmp/…/docker.sock`, the DOCKER_HOST of this daemon. */
  readonly host: string;
  /** Runs the docker CLI against this daemon; resolves whatever the exit code. */
  docker(args: readonly string[], options?: DockerCommandOptions): Promise<CommandResult>;
  /** Like docker(), but throws a CommandError (with stderr) unless the exit code is 0. */
  dockerOk(args: readonly string[], options?: DockerCommandOptions): Promise<CommandResult>;
  /** A fresh, empty DOCKER_CONFIG directory (removed with the engine): one credential store per test. */
  newConfigDir(): Promise<string>;
  /**
   * `docker login <registryHost> -u <username> --password-stdin`; resolves whatever the exit code
   * (a refused login is exit 1 with "401 Unauthorized" in stderr). The password never goes on argv.
   */
  login(registryHost: string, username: string, password: string, options?: { configDir?: string }): Promise<CommandResult>;
  /** `docker load -i <archive>` (e.g. from writeClientImage); returns the loaded name, e.g. `localhost/x:1`. */
  load(archivePath: string): Promise<string>;
  /** The tail of dockerd's (and its containerd's) log, for failure messages. */
  logs(): string;
  /** SIGTERM to dockerd, waits, kills a containerd it left behind, unmounts and removes the temp dir. */
  stop(): Promise<void>;
}

export interface StartDockerEngineOptions {
  /** `--insecure-registry` values; default `127.0.0.0/8`, so any loopback port speaks plain HTTP. */
  readonly insecureRegistries?: readonly string[];
  /** Further dockerd flags. */
  readonly extraArgs?: readonly string[];
}

const READY_POLL_MS = 100;
let ip6tablesFlagSupported: boolean | undefined;

export async function startDockerEngine(options: StartDockerEngineOptions = {}): Promise<DockerEngine> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-dockerd-'));
  const paths = {
    dataRoot: join(dir, 'data'),
    execRoot: join(dir, 'exec'),
    pidfile: join(dir, 'dockerd.pid'),
    socket: join(dir, 'docker.sock'),
    daemonJson: join(dir, 'daemon.json'),
    home: join(dir, 'home'),
    defaultConfig: join(dir, 'config-default'),
  };
  await mkdir(paths.home, { recursive: true });
  await mkdir(paths.defaultConfig, { recursive: true });
  // An empty daemon.json: /etc/docker/daemon.json, if the machine has one, would conflict with
  // the flags below ("directives specified both as a flag and in the configuration file").
  await writeFile(paths.daemonJson, '{}\n');
  const host = `unix://${paths.socket}`;
  const pathEnv = systemPath();

  if (ip6tablesFlagSupported === undefined) {
    const help = await runCommand(DOCKERD_BIN, ['--help'], { env: { PATH: pathEnv } });
    ip6tablesFlagSupported = help.stdout.includes('--ip6tables');
  }

  const args = [
    '--config-file', paths.daemonJson,
    '--data-root', paths.dataRoot,
    '--exec-root', paths.execRoot,
    '--pidfile', paths.pidfile,
    '-H', host,
    // vfs copies layers instead of stacking them: slow for big images, but works on any
    // filesystem (overlay2 cannot sit on an overlayfs /tmp, as in a container) and mounts nothing.
    '--storage-driver', 'vfs',
    // No docker0 bridge, no NAT, no iptables/ip6tables rules, no ip_forward sysctl: the tests
    // never run a container with networking and must not touch the host's network settings.
    '--bridge', 'none',
    '--iptables=false',
    ...(ip6tablesFlagSupported ? ['--ip6tables=false'] : []),
    '--ip-forward=false',
    '--ip-masq=false',
    // Plain HTTP to every loopback registry, whatever its random port (a CIDR matches any port).
    ...(options.insecureRegistries ?? ['127.0.0.0/8']).flatMap((registry) => ['--insecure-registry', registry]),
    // No --containerd: dockerd starts (and on SIGTERM stops) a containerd of its own, configured
    // under exec-root. Warnings and errors only: the tail kept for messages stays readable.
    '--log-level', 'warn',
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(DOCKERD_BIN, args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    // No proxy settings, no DOCKER_* from the caller; PATH must reach containerd and runc.
    env: { PATH: pathEnv, HOME: paths.home },
  });
  const daemon = watch(child, 'dockerd');
  // If the test process dies without afterAll, do not leave a daemon behind.
  const onExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    killManagedContainerdSync(paths.execRoot);
  };
  process.once('exit', onExit);

  const cliEnv = (configDir: string): NodeJS.ProcessEnv => ({
    PATH: pathEnv,
    HOME: paths.home,
    DOCKER_HOST: host,
    DOCKER_CONFIG: configDir,
    DOCKER_CLI_HINTS: 'false',
    NO_PROXY: '*',
  });
  const docker = (cmdArgs: readonly string[], cmdOptions: DockerCommandOptions = {}) =>
    runCommand(DOCKER_BIN, cmdArgs, {
      env: cliEnv(cmdOptions.configDir ?? paths.defaultConfig),
      input: cmdOptions.input,
      secrets: cmdOptions.secrets,
      timeoutMs: cmdOptions.timeoutMs,
    });

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', onExit);
    await runEveryStep([
      () => daemon.stop(),
      async () => {
        // dockerd stops its containerd on a clean shutdown; after a SIGKILL it would be orphaned.
        const pid = await managedContainerdPid(paths.execRoot);
        if (pid !== undefined) await terminatePid(pid);
        await unmountUnder(dir);
        await rm(dir, { recursive: true, force: true });
      },
    ]);
  };

  const polling = { cancelled: false };
  try {
    await daemon.race(waitForDocker(docker, polling));
  } catch (error) {
    polling.cancelled = true;
    await stop().catch(() => undefined);
    throw error;
  }

  let configDirs = 0;
  return {
    host,
    docker,
    dockerOk: async (cmdArgs, cmdOptions) => expectSuccess(await docker(cmdArgs, cmdOptions)),
    newConfigDir: async () => {
      const configDir = join(dir, `config-${configDirs++}`);
      await mkdir(configDir, { recursive: true, mode: 0o700 });
      return configDir;
    },
    login: (registryHost, username, password, loginOptions = {}) =>
      docker(['login', registryHost, '--username', username, '--password-stdin'], {
        configDir: loginOptions.configDir,
        input: password,
        secrets: [password],
      }),
    load: async (archivePath) => {
      const result = expectSuccess(await docker(['load', '--input', archivePath]));
      const loaded = /Loaded image: (\S+)/.exec(result.stdout)?.[1];
      if (loaded === undefined) throw new Error(`docker load printed no image name:\n${result.stdout}`);
      return loaded;
    },
    logs: daemon.logs,
    stop,
  };
}

async function waitForDocker(docker: DockerEngine['docker'], polling: { cancelled: boolean }): Promise<void> {
  while (!polling.cancelled) {
    const result = await docker(['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 5_000 });
    if (result.code === 0 && result.stdout.trim() !== '') return;
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
}

/** dockerd 20.10 writes its managed containerd's pid to <exec-root>/containerd/containerd.pid. */
async function managedContainerdPid(execRoot: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(join(execRoot, 'containerd', 'containerd.pid'), 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 && (await isOurContainerd(pid, execRoot)) ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function isOurContainerd(pid: number, execRoot: string): Promise<boolean> {
  try {
    // A stale pidfile could name an unrelated process that reused the pid: check its command line.
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes(execRoot);
  } catch {
    return false;
  }
}

function killManagedContainerdSync(execRoot: string): void {
  try {
    const pid = Number.parseInt(readFileSync(join(execRoot, 'containerd', 'containerd.pid'), 'utf8').trim(), 10);
    if (Number.isInteger(pid) && pid > 0 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(execRoot)) {
      process.kill(pid, 'SIGKILL');
    }
  } catch {
    // Nothing left to kill.
  }
}
