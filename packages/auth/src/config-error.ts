import { readFile } from 'node:fs/promises';

/**
 * A mistake in a configuration file found at start-up or on reload (a bad htpasswd line, a bad access
 * file). The message names the file and the line (or path) and what is wrong; it never quotes a
 * password or a password hash, so it is safe to log.
 */
export class AuthConfigError extends Error {
  /** Always `AuthConfigError`, so logs and `error.name` checks can tell it apart. */
  override readonly name = 'AuthConfigError';
}

/** The file's text; a file that cannot be read is an {@link AuthConfigError} naming it. */
export async function readConfigFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new AuthConfigError(`${path}: cannot read the file (${reason})`, { cause: error });
  }
}
