import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary directory owned by one suite; everything the suite writes goes under it. */
export interface Scratch {
  readonly path: string;
  /** A fresh, not yet existing path under the scratch directory. */
  child(name: string): string;
  dispose(): Promise<void>;
}

export async function createScratch(prefix = 'berth-interop-'): Promise<Scratch> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  let counter = 0;
  return {
    path,
    child: (name) => join(path, `${String(counter++).padStart(3, '0')}-${name}`),
    dispose: () => rm(path, { recursive: true, force: true }),
  };
}
