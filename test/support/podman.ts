// podman as a registry client, in a sandbox: image storage (vfs), run state, tmp, HOME, XDG dirs,
// containers.conf, storage.conf, registries.conf and the signature policy all live in a temp dir,
// so neither the machine's configuration nor another test file's images influence a result. Create
// one per test file and share it; give each test its own auth file (newAuthFile) for credentials.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectSuccess, runCommand, systemPath, unmountUnder, type CommandResult } from './client-image.js';

export const PODMAN_BIN = 'podman';
const EMPTY_AUTH_FILE = '{"auths":{}}\n';

export interface PodmanCommandOptions {
  /** REGISTRY_AUTH_FILE for this command (where `podman login` writes); default: the sandbox's shared one. */
  readonly authFile?: string;
  /** Written to stdin. */
  readonly input?: string;
  /** Strings to mask in the returned command line and output. */
  readonly secrets?: readonly string[];
  readonly timeoutMs?: number;
}

export interface RegistryCommandOptions {
  readonly authFile?: string;
  /** Further flags placed before the image reference. */
  readonly args?: readonly string[];
}

export interface Podman {
  /** The sandbox's default auth file (used when a command names none). */
  readonly authFile: string;
  /** Runs `podman <global flags> <args>`; resolves whatever the exit code. */
  podman(args: readonly string[], options?: PodmanCommandOptions): Promise<CommandResult>;
  /** Like podman(), but throws a CommandError (with stderr) unless the exit code is 0. */
  podmanOk(args: readonly string[], options?: PodmanCommandOptions): Promise<CommandResult>;
  /**
   * A fresh auth file holding no credentials (`{"auths":{}}`), removed with the sandbox. It must
   * exist: podman push/pull fail ("stat …: no such file") when REGISTRY_AUTH_FILE names no file.
   */
  newAuthFile(): Promise<string>;
  /**
   * `podman login --tls-verify=false -u <username> --password-stdin <registryHost>`; resolves
   * whatever the exit code (a refused login is exit 125, "invalid username/password").
   */
  login(registryHost: string, username: string, password: string, options?: { authFile?: string }): Promise<CommandResult>;
  /** `podman push --tls-verify=false <ref>`; resolves whatever the exit code. */
  push(ref: string, options?: RegistryCommandOptions): Promise<CommandResult>;
  /** `podman pull --tls-verify=false <ref>`; resolves whatever the exit code. */
  pull(ref: string, options?: RegistryCommandOptions): Promise<CommandResult>;
  /** `podman load -i <archive>` (e.g. from writeClientImage); returns the loaded name. */
  load(archivePath: string): Promise<string>;
  /** Removes the sandbox (storage included). */
  dispose(): Promise<void>;
}

export async function createPodman(): Promise<Podman> {
  const sandbox = await mkdtemp(join(tmpdir(), 'berth-podman-'));
  const dirs = {
    root: join(sandbox, 'root'),
    runroot: join(sandbox, 'runroot'),
    tmp: join(sandbox, 'tmp'),
    home: join(sandbox, 'home'),
    config: join(sandbox, 'config'),
    data: join(sandbox, 'data'),
    runtime: join(sandbox, 'run'),
    networks: join(sandbox, 'networks'),
    auth: join(sandbox, 'auth'),
  };
  for (const dir of Object.values(dirs)) await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = {
    containersConf: join(sandbox, 'containers.conf'),
    storageConf: join(sandbox, 'storage.conf'),
    registriesConf: join(sandbox, 'registries.conf'),
    policy: join(sandbox, 'policy.json'),
  };
  // Events to a file (no journald), cgroupfs (no systemd): both also given as flags below.
  await writeFile(files.containersConf, '[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n');
  await writeFile(
    files.storageConf,
    `[storage]\ndriver = "vfs"\ngraphroot = "${dirs.root}"\nrunroot = "${dirs.runroot}"\n`,
  );
  // Fully qualified names only, and no mirrors or blocked registries from the machine.
  await writeFile(files.registriesConf, 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');
  await writeFile(files.policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const defaultAuthFile = join(dirs.auth, 'default.json');
  await writeFile(defaultAuthFile, EMPTY_AUTH_FILE, { mode: 0o600 });

  const globalFlags = [
    '--root', dirs.root,
    '--runroot', dirs.runroot,
    '--tmpdir', dirs.tmp,
    // vfs: plain directory copies, no overlay mounts and no fuse-overlayfs needed.
    '--storage-driver', 'vfs',
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'file',
    '--network-config-dir', dirs.networks,
  ];
  const env = (authFile: string): NodeJS.ProcessEnv => ({
    PATH: systemPath(),
    HOME: dirs.home,
    XDG_CONFIG_HOME: dirs.config,
    XDG_DATA_HOME: dirs.data,
    XDG_RUNTIME_DIR: dirs.runtime,
    TMPDIR: dirs.tmp,
    CONTAINERS_CONF: files.containersConf,
    CONTAINERS_STORAGE_CONF: files.storageConf,
    CONTAINERS_REGISTRIES_CONF: files.registriesConf,
    REGISTRY_AUTH_FILE: authFile,
    NO_PROXY: '*',
  });
  const podman = (args: readonly string[], options: PodmanCommandOptions = {}) =>
    runCommand(PODMAN_BIN, [...globalFlags, ...args], {
      env: env(options.authFile ?? defaultAuthFile),
      input: options.input,
      secrets: options.secrets,
      timeoutMs: options.timeoutMs,
    });
  // The signature policy flag is hidden but honoured by push and pull; it keeps
  // /etc/containers/policy.json (absent, or stricter, on some machines) out of the picture.
  const registryFlags = ['--tls-verify=false', '--signature-policy', files.policy];

  let authFiles = 0;
  return {
    authFile: defaultAuthFile,
    podman,
    podmanOk: async (args, options) => expectSuccess(await podman(args, options)),
    newAuthFile: async () => {
      const authFile = join(dirs.auth, `auth-${authFiles++}.json`);
      await writeFile(authFile, EMPTY_AUTH_FILE, { mode: 0o600 });
      return authFile;
    },
    login: (registryHost, username, password, options = {}) =>
      podman(['login', '--tls-verify=false', '--username', username, '--password-stdin', registryHost], {
        authFile: options.authFile,
        input: password,
        secrets: [password],
      }),
    push: (ref, options = {}) => podman(['push', ...registryFlags, ...(options.args ?? []), ref], { authFile: options.authFile }),
    pull: (ref, options = {}) => podman(['pull', ...registryFlags, ...(options.args ?? []), ref], { authFile: options.authFile }),
    load: async (archivePath) => {
      const result = expectSuccess(await podman(['load', '--input', archivePath]));
      const loaded = /Loaded image(?:\(s\))?: (\S+)/.exec(result.stdout)?.[1];
      if (loaded === undefined) throw new Error(`podman load printed no image name:\n${result.stdout}`);
      return loaded.split(',')[0]!;
    },
    dispose: async () => {
      await unmountUnder(sandbox);
      await rm(sandbox, { recursive: true, force: true });
    },
  };
}
