import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createExampleApp, type ExampleApp } from '../src/index.js';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('berth mounted in an existing Koa app', () => {
  let example: ExampleApp;
  let dir: string;
  afterEach(async () => {
    await example.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function open(registryHost?: string) {
    dir = await mkdtemp(join(tmpdir(), 'berth-example-'));
    example = await createExampleApp({ dataDir: dir, ...(registryHost && { registryHost }) });
    return request(example.app.callback());
  }

  it('serves the app routes and the registry side by side', async () => {
    const http = await open();
    expect((await http.get('/healthz').expect(200)).body).toEqual({ status: 'ok' });
    await http.post('/api/notes').set('Content-Type', 'application/json').send({ text: 'hi' }).expect(201);
    expect((await http.get('/api/notes').expect(200)).body).toEqual([{ id: 1, text: 'hi' }]);

    const blob = Buffer.from('layer bytes');
    await http.post(`/v2/team/app/blobs/uploads/?digest=${sha256(blob)}`).send(blob).expect(201);
    const head = await http.head(`/v2/team/app/blobs/${sha256(blob)}`).expect(200);
    expect(head.headers['docker-distribution-api-version']).toBe('registry/2.0');
    // The app's own 404s stay the app's: the registry answers only under /v2.
    const missing = await http.get('/not-a-route').expect(404);
    expect(missing.headers['docker-distribution-api-version']).toBeUndefined();
  });

  it('serves the registry only on its host when given one', async () => {
    const http = await open('registry.test');
    await http.get('/v2/').set('Host', 'registry.test').expect(200);
    const other = await http.get('/v2/').set('Host', 'app.test').expect(404);
    expect(other.headers['docker-distribution-api-version']).toBeUndefined();
    await http.get('/healthz').set('Host', 'registry.test').expect(200);
  });
});
