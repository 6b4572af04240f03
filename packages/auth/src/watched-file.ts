import { stat } from 'node:fs/promises';
import { readConfigFile } from './config-error.js';

/** How a file berth re-reads on change (an htpasswd file) is watched. */
export interface WatchedFileOptions {
  /** How long the last check is trusted before the file is `stat`ed again (default 1000 ms). */
  recheckIntervalMs?: number;
  /** Told once about each reload that failed (the previous contents stay in force); default `process.emitWarning`. */
  onReloadError?: (error: Error) => void;
}

export interface WatchedFile<T> {
  /** The parsed contents, re-read first when the file changed (inode, size, mtime or ctime) since the last check. */
  current(): Promise<T>;
}

/**
 * Reads and parses `path` now (failures throw: a bad file must stop the start-up) and again whenever it
 * changes, so edits apply without a restart. A change that does not parse, or a removed file, keeps the
 * previous contents: a half-written file must not lock everyone out.
 */
export async function openWatchedFile<T>(
  path: string,
  parse: (text: string, path: string) => T,
  options: WatchedFileOptions = {},
): Promise<WatchedFile<T>> {
  const recheckIntervalMs = options.recheckIntervalMs ?? 1000;
  const onReloadError = options.onReloadError ?? ((error: Error) => process.emitWarning(error));
  // stat before read: the contents are then at least as new as the signature they are filed under.
  let seen = await fileSignature(path);
  let lastText = await readConfigFile(path); // the last text parsed, whether it parsed or not
  let contents = parse(lastText, path);
  let lastReported: string | undefined;
  let lastCheck = Date.now();
  let checking: Promise<void> | undefined;

  const recheck = async () => {
    const signature = await fileSignature(path);
    if (signature !== undefined && signature === seen) return;
    seen = signature;
    try {
      const text = await readConfigFile(path);
      if (text === lastText) return; // unchanged, or the same broken text: tried and reported once already
      lastText = text;
      contents = parse(text, path);
      lastReported = undefined;
    } catch (thrown) {
      const error = thrown instanceof Error ? thrown : new Error(String(thrown));
      if (error.message !== lastReported) onReloadError(error); // a broken state is reported once, not on every check
      lastReported = error.message;
    }
  };

  return {
    async current() {
      if (Date.now() - lastCheck >= recheckIntervalMs) {
        lastCheck = Date.now();
        checking ??= recheck().finally(() => (checking = undefined));
      }
      if (checking) await checking;
      return contents;
    },
  };
}

/**
 * Undefined while the file is too recently modified to trust: timestamps are coarse (a few milliseconds
 * on Linux, seconds elsewhere), so a second write in the same tick could keep mtime and size. The text is
 * compared then instead (git's "racy clean" rule).
 */
async function fileSignature(path: string): Promise<string | undefined> {
  try {
    const stats = await stat(path, { bigint: true });
    if (Number(stats.mtimeNs / 1_000_000n) > Date.now() - RACY_MS) return undefined;
    return `${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
  } catch (error) {
    return `error:${(error as NodeJS.ErrnoException).code ?? 'unknown'}`;
  }
}

const RACY_MS = 2_000;
