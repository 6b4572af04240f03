import { constants } from 'node:fs';
import { chmod, open, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { generateLibtrustKey, libtrustKeyToPem } from '@berth/core/internal';
import { parseArgs } from './args.js';
import { UsageError } from './usage-error.js';

const KINDS = {
  schema1: 'schema1 signing key (for --schema1-key)',
  token: "built-in token service's signing key (for --token-signing-key)",
} as const;

export const KEYGEN_HELP = `Usage: berth keygen schema1|token [--out FILE] [--force]

Generates an ECDSA P-256 private key (PKCS#8 PEM):
  schema1   the key that signs schema1 manifests         (serve --schema1-key FILE)
  token     the key that signs the built-in service's tokens (serve --token-signing-key FILE)
Instances that share a key sign alike; without one, berth keeps a generated key with the metadata.

  --out FILE   write the key to FILE (mode 0600) instead of stdout
  --force      replace FILE if it exists
`;

export async function keygen(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, [{ name: 'out', takesValue: true }, { name: 'force', takesValue: false }], 'keygen');
  if (args.help) {
    process.stdout.write(KEYGEN_HELP);
    return 0;
  }
  const [kind, ...extra] = args.positionals;
  if (kind === undefined) throw new UsageError('keygen needs the kind of key: schema1 or token (see berth keygen --help)');
  if (!(kind in KINDS)) throw new UsageError(`unknown key kind "${kind}": expected schema1 or token`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}" (see berth keygen --help)`);
  const key = generateLibtrustKey();
  const pem = libtrustKeyToPem(key);
  const out = args.flags.get('out') as string | undefined;
  if (out === undefined) {
    process.stdout.write(pem);
    return 0;
  }
  await writePrivateFile(out, pem, args.flags.get('force') === true);
  process.stderr.write(`wrote a ${KINDS[kind as keyof typeof KINDS]} to ${out} (key ID ${key.kid})\n`);
  return 0;
}

/**
 * Writes a secret file readable by its owner only. Without `force` an existing file is an error and
 * left alone (O_EXCL); with it, the file is replaced by a rename, never seen half-written.
 */
export async function writePrivateFile(path: string, text: string, force: boolean): Promise<void> {
  const target = force ? join(dirname(path), `.${process.pid}-${Date.now()}.tmp`) : path;
  let handle;
  try {
    handle = await open(target, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${path} exists: choose another --out or add --force to replace it`);
    throw new UsageError(`cannot write ${path}: ${code ?? String(error)}`);
  }
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (target !== path) {
    try {
      await rename(target, path);
    } catch (error) {
      await unlink(target).catch(() => undefined);
      throw new UsageError(`cannot replace ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  await chmod(path, 0o600);
}
