import { constants } from 'node:fs';
import { mkdir, open, stat, statfs, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * A start-up problem the operator has to fix (a data directory that cannot be used, a port in use):
 * `main` prints its message as one line and exits, without a stack trace.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/** How long the checks of the data directory may take in all: a dead network mount must not hang start-up. */
const CHECK_TIMEOUT_MS = 10_000;

/** Kernel filesystems no data can be kept on (statfs f_type), where Node's recursive mkdir may spin forever. */
const KERNEL_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x1cd1, 'devpts'],
  [0xcafe4a11, 'bpf'],
]);

/**
 * Makes sure `path` is a directory berth can write to, creating it (and missing parents) when needed.
 * Every failure is a StartupError whose message names the path and what to do; nothing here can hang:
 * directories are created one level at a time (never with a recursive mkdir, which spins forever under
 * /proc), kernel filesystems are refused before anything is tried, writability is proven with a probe
 * file, and the whole check gives up after a few seconds.
 */
export async function prepareDataDirectory(path: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(
      () => fail(new StartupError(`data directory ${path} did not answer within ${CHECK_TIMEOUT_MS / 1000} s (a hung mount?): check the filesystem or choose another --data`)),
      CHECK_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([check(path), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function check(path: string): Promise<void> {
  // The nearest existing ancestor (or the path itself) and the directories to create below it.
  const missing: string[] = [];
  let existing = path;
  for (;;) {
    const info = await statOrMissing(existing);
    if (info === 'missing') {
      const parent = dirname(existing);
      if (parent === existing) break;
      missing.unshift(existing);
      existing = parent;
      continue;
    }
    if (!info.isDirectory()) {
      throw new StartupError(
        existing === path
          ? `data directory ${path} is a file, not a directory: point --data (BERTH_DATA) at a directory, or move the file away`
          : `cannot create data directory ${path}: ${existing} is a file, not a directory; choose another --data (BERTH_DATA)`,
      );
    }
    break;
  }

  const kernel = await kernelFilesystem(existing);
  if (kernel !== undefined) {
    throw new StartupError(
      `data directory ${path} is on the kernel's ${kernel} filesystem (${existing}), which cannot hold files: choose a --data (BERTH_DATA) path on a disk`,
    );
  }

  for (const directory of missing) {
    try {
      await mkdir(directory);
    } catch (error) {
      if (errorCode(error) === 'EEXIST' && (await statOrMissing(directory)) !== 'missing') continue;
      throw new StartupError(`cannot create data directory ${path}${directory === path ? '' : ` (at ${directory})`}: ${describe(error)}; ${remedy(error)}`);
    }
  }

  // Writable, as proven by writing: permissions, read-only mounts, quotas and ACLs all say so here.
  const probe = join(path, `.berth-write-probe-${process.pid}`);
  try {
    const handle = await open(probe, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
    try {
      await handle.write('probe\n');
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw new StartupError(`data directory ${path} is not writable: ${describe(error)}; ${remedy(error)}`);
  } finally {
    await unlink(probe).catch(() => undefined);
  }
}

async function statOrMissing(path: string): Promise<Awaited<ReturnType<typeof stat>> | 'missing'> {
  try {
    return await stat(path);
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') return 'missing';
    if (code === 'ENOTDIR') {
      const file = await fileAbove(path);
      throw new StartupError(
        `cannot create data directory ${path}: ${file ?? 'a component of the path'} is a file, not a directory; choose another --data (BERTH_DATA)`,
      );
    }
    throw new StartupError(`cannot use data directory ${path}: ${describe(error)}; ${remedy(error)}`);
  }
}

/** The nearest ancestor of `path` that exists and is not a directory. */
async function fileAbove(path: string): Promise<string | undefined> {
  for (let current = dirname(path); current !== dirname(current); current = dirname(current)) {
    const info = await stat(current).catch(() => undefined);
    if (info !== undefined) return info.isDirectory() ? undefined : current;
  }
  return undefined;
}

async function kernelFilesystem(path: string): Promise<string | undefined> {
  try {
    return KERNEL_FILESYSTEMS.get(Number((await statfs(path)).type));
  } catch {
    return undefined;
  }
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const DESCRIPTIONS: Record<string, string> = {
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a component of the path is a file',
};

function describe(error: unknown): string {
  const code = errorCode(error);
  if (code === undefined) return error instanceof Error ? error.message : String(error);
  return `${code}, ${DESCRIPTIONS[code] ?? (error instanceof Error ? error.message.replace(/^[A-Z]+: /, '') : 'error')}`;
}

function remedy(error: unknown): string {
  switch (errorCode(error)) {
    case 'EROFS':
      return 'mount it read-write or choose another --data (BERTH_DATA)';
    case 'EACCES':
    case 'EPERM':
      return `give the user berth runs as (uid ${process.getuid?.() ?? '?'}) write access, or choose another --data (BERTH_DATA)`;
    case 'ENOSPC':
    case 'EDQUOT':
      return 'free some space or choose another --data (BERTH_DATA)';
    default:
      return 'choose another --data (BERTH_DATA)';
  }
}
