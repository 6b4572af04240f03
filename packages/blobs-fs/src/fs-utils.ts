import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export function isErrnoException(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

/** Opens a file, or returns undefined when it does not exist. */
export async function openIfExists(path: string, flags: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, flags);
  } catch (error) {
    if (isErrnoException(error, 'ENOENT')) return undefined;
    throw error;
  }
}

/**
 * Makes a directory's entries durable (a rename or create inside it). Some platforms (Windows)
 * cannot open or fsync a directory; there it is best effort.
 */
export async function fsyncDirectory(path: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if (isErrnoException(error, 'EISDIR') || isErrnoException(error, 'EPERM')) return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    if (!isErrnoException(error, 'EINVAL') && !isErrnoException(error, 'EPERM')) throw error;
  } finally {
    await handle.close();
  }
}

/**
 * `mkdir -p`, then fsyncs the parent of every directory it created, so the new directories
 * themselves survive a power loss along with what is renamed into them.
 */
export async function ensureDirectoryDurably(path: string): Promise<void> {
  const firstCreated = await mkdir(path, { recursive: true });
  if (firstCreated === undefined) return;
  const parents: string[] = [];
  for (let dir = path; ; dir = dirname(dir)) {
    parents.push(dirname(dir));
    if (dir === firstCreated || dirname(dir) === dir) break;
  }
  for (const parent of parents) await fsyncDirectory(parent);
}
