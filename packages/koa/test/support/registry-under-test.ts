import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import request from 'supertest';
import { afterAll } from 'vitest';
import type { MetadataStore } from '@berth/core';
import { openFsBlobStore, type FsBlobStore } from '@berth/blobs-fs';
import { recyclingPostgresStores } from '@berth/storage-postgres/testing';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';
import { createRegistry, type CreateRegistryOptions, type Registry, type UiOptions } from '../../src/index.js';

/** Opens the metadata store a test run uses; closing the store also removes what the factory made for it. */
export type MetadataFactory = (dir: string) => Promise<MetadataStore>;

const postgresStores = recyclingPostgresStores();
// Registered from here, the hook runs after each test file that imports this module.
afterAll(() => postgresStores.dispose());

export const metadataFactories: Record<string, MetadataFactory> = {
  sqlite: (dir) => openSqliteMetadataStore({ filename: join(dir, 'berth.sqlite') }),
  // An empty database per test; closing the store empties it for the next test of the file.
  postgres: () => postgresStores.open(),
};

export interface RegistryUnderTest {
  registry: Registry;
  metadata: MetadataStore;
  blobs: FsBlobStore;
  dir: string;
  http: ReturnType<typeof request>;
  close(): Promise<void>;
}

/** A registry on real stores in a fresh temporary directory, mounted in a Koa app as a host would. */
export async function openRegistry(
  factory: MetadataFactory,
  options: Partial<CreateRegistryOptions> = {},
  host: { ui?: UiOptions } = {},
): Promise<RegistryUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-koa-'));
  const metadata = await factory(dir);
  const blobs = await openFsBlobStore({ root: join(dir, 'blobs') });
  const registry = createRegistry({ metadata, blobs, ...options });
  const app = new Koa();
  // The host's own sign-in leaves the user on ctx.state.user (koa-passport style).
  app.use(async (ctx, next) => {
    const user = ctx.get('X-Test-User');
    if (user !== '') ctx.state['user'] = user;
    await next();
  });
  if (host.ui) app.use(registry.ui(host.ui));
  app.use(registry.routes()).use(registry.allowedMethods());
  return {
    registry,
    metadata,
    blobs,
    dir,
    http: request(app.callback()),
    async close() {
      await registry.close();
      await blobs.close();
      await metadata.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Another registry over the same stores (a restart, or a second instance with other options). */
export function sharingStores(t: RegistryUnderTest, options: Partial<CreateRegistryOptions> = {}) {
  const registry = createRegistry({ metadata: t.metadata, blobs: t.blobs, ...options });
  return request(registry.callback());
}
