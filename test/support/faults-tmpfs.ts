// Small tmpfs mounts for the disk-full suites: a real filesystem that really runs out of space (the
// kernel answers ENOSPC), mounted by the test (it needs root) and unmounted after it.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, rmdir, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Tmpfs {
  readonly path: string;
  unmount(): Promise<void>;
}

/** Mounts a tmpfs of `size` (mount's syntax: `8m`) on `path`, creating the directory. */
export async function mountTmpfs(path: string, size: string): Promise<Tmpfs> {
  await mkdir(path, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', path]);
  let mounted = true;
  return {
    path,
    unmount: async () => {
      if (!mounted) return;
      // Lazy, so a file a dying server still holds open cannot keep it mounted.
      await run('umount', ['-l', path]);
      mounted = false;
    },
  };
}

/** Why a tmpfs cannot be mounted here (not root, no mount binary, a container without the right), or undefined. */
export async function tmpfsUnavailable(): Promise<string | undefined> {
  const probe = await mkdtemp(join(tmpdir(), 'berth-tmpfs-probe-'));
  try {
    const mounted = await mountTmpfs(probe, '1m');
    await mounted.unmount();
    return undefined;
  } catch (error) {
    return `cannot mount a tmpfs (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`;
  } finally {
    await rmdir(probe).catch(() => rm(probe, { recursive: true, force: true }));
  }
}

/** Bytes an unprivileged writer may still put on the filesystem holding `path`. */
export async function freeBytes(path: string): Promise<number> {
  const { bavail, bsize } = await statfs(path);
  return bavail * bsize;
}

/**
 * Writes a filler file at `file` so that about `leave` bytes stay free on its filesystem. Returns the
 * filler's size; remove the file to give the space back.
 */
export async function fillLeaving(file: string, leave: number): Promise<number> {
  const size = Math.max((await freeBytes(join(file, '..'))) - leave, 0);
  const handle = await open(file, 'w');
  try {
    const block = Buffer.alloc(1024 * 1024, 0x5a);
    for (let written = 0; written < size; ) {
      const length = Math.min(block.byteLength, size - written);
      const { bytesWritten } = await handle.write(block, 0, length, written);
      written += bytesWritten;
    }
  } finally {
    await handle.close();
  }
  return size;
}
