import { join } from 'node:path';
import Koa from 'koa';
import Router from '@koa/router';
import { createRegistry, type CreateRegistryOptions } from '@berth/koa';
import { openSqliteMetadataStore } from '@berth/storage-sqlite';
import { openFsBlobStore } from '@berth/blobs-fs';
import { apiKeySignIn, appRules } from './api-keys.js';

export interface ExampleAppOptions {
  dataDir: string;
  /** Serve the registry only on this host (e.g. `registry.example.com`); by default on every host. */
  registryHost?: CreateRegistryOptions['host'];
  /**
   * API keys by user name: the app's own sign-in, which then decides registry access with its own
   * rules (see api-keys.ts). Without them the registry is open, as a local development app might have it.
   */
  apiKeys?: Record<string, string>;
}

export interface ExampleApp {
  app: Koa;
  close(): Promise<void>;
}

/**
 * An existing application with routes of its own (a health check and a small JSON API), into which
 * berth is mounted beside them. Clients call `/v2/` at the host root, so the registry shares the root.
 */
export async function openExampleApp(options: ExampleAppOptions): Promise<ExampleApp> {
  const metadata = await openSqliteMetadataStore({ filename: join(options.dataDir, 'berth.sqlite') });
  const blobs = await openFsBlobStore({ root: join(options.dataDir, 'blobs') });
  const registry = createRegistry({
    metadata,
    blobs,
    ...(options.registryHost !== undefined && { host: options.registryHost }),
    ...(options.apiKeys !== undefined && { authorize: appRules }),
  });

  const notes: Array<{ id: number; text: string }> = [];
  const api = new Router();
  api.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  api.get('/api/notes', (ctx) => {
    ctx.body = notes;
  });
  api.post('/api/notes', async (ctx) => {
    if (options.apiKeys !== undefined && !ctx.state['user']) return ctx.throw(401, 'an API key is required');
    const { text } = (await readJson(ctx.req)) as { text?: unknown };
    if (typeof text !== 'string') return ctx.throw(400, 'text must be a string');
    const note = { id: notes.length + 1, text };
    notes.push(note);
    ctx.status = 201;
    ctx.body = note;
  });

  const app = new Koa();
  if (options.apiKeys !== undefined) app.use(apiKeySignIn(options.apiKeys));
  app.use(registry.routes()).use(registry.allowedMethods());
  app.use(api.routes()).use(api.allowedMethods());
  return {
    app,
    close: async () => {
      await blobs.close();
      await metadata.close();
    },
  };
}

/** The app's own small JSON reader, standing in for whatever body parser a real app uses on its routes. */
async function readJson(stream: AsyncIterable<Uint8Array>): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}
