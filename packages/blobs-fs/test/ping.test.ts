// The readiness check of the filesystem store: its directories must be there and writable.
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openFsBlobStore } from '../src/index.js';
import { tmpRoot } from './helpers.js';

describe('FsBlobStore ping', () => {
  it('resolves while the store directory is there, and rejects once it is gone', async () => {
    const root = join(await tmpRoot(), 'store');
    const store = await openFsBlobStore({ root });
    await expect(store.ping()).resolves.toBeUndefined();

    // As an unmounted volume or a directory removed behind the registry's back.
    await rename(root, `${root}.moved`);
    await expect(store.ping()).rejects.toMatchObject({ code: 'ENOENT' });

    await rename(`${root}.moved`, root);
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('rejects when only the uploads directory is missing: pushes could not work', async () => {
    const root = await tmpRoot();
    const store = await openFsBlobStore({ root });
    await rm(join(root, 'uploads'), { recursive: true });
    await expect(store.ping()).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
