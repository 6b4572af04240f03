import { createSHA256, type IHasher } from 'hash-wasm';

/**
 * A sha256 whose state can be saved into an upload session and resumed on another instance (node's
 * crypto cannot export a hash's state), so no instance re-reads what earlier PATCHes sent.
 */
export async function resumeSha256(saved: string | undefined): Promise<IHasher> {
  const hasher = await createSHA256();
  hasher.init();
  if (saved !== undefined) hasher.load(Buffer.from(saved, 'base64'));
  return hasher;
}

export function saveSha256(hasher: IHasher): string {
  return Buffer.from(hasher.save()).toString('base64');
}

/** The hex digest of a saved state, leaving the state as it was. */
export async function sha256HexOf(saved: string | undefined): Promise<string> {
  return (await resumeSha256(saved)).digest('hex');
}
