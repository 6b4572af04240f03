import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { openExampleApp, type ExampleApp } from '../src/index.js';

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
    example = await openExampleApp({ dataDir: dir, ...(registryHost && { registryHost }) });
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

describe('the host app deciding registry access with its own sign-in', () => {
  let example: ExampleApp;
  let dir: string;
  afterEach(async () => {
    await example.close();
    await rm(dir, { recursive: true, force: true });
  });

  const basic = (user: string, key: string) => `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;

  async function open() {
    dir = await mkdtemp(join(tmpdir(), 'berth-example-'));
    example = await openExampleApp({ dataDir: dir, apiKeys: { alice: 'key-a', bob: 'key-b' } });
    return request(example.app.callback());
  }

  it('lets each user push to their own namespace and everyone pull shared content', async () => {
    const http = await open();
    const blob = Buffer.from('shared layer');
    const digest = sha256(blob);

    const anonymous = await http.get('/v2/').expect(401);
    expect(anonymous.headers['www-authenticate']).toBe('Basic realm="example"');
    expect(anonymous.body.errors[0].code).toBe('UNAUTHORIZED');
    await http.get('/v2/').set('Authorization', basic('alice', 'key-a')).expect(200);

    await http.post(`/v2/alice/app/blobs/uploads/?digest=${digest}`).set('Authorization', basic('alice', 'key-a')).send(blob).expect(201);
    const foreign = await http.post(`/v2/bob/app/blobs/uploads/?digest=${digest}`).set('Authorization', basic('alice', 'key-a')).send(blob).expect(403);
    expect(foreign.body.errors[0].code).toBe('DENIED');
    expect((await http.head(`/v2/bob/app/blobs/${digest}`).set('Authorization', basic('bob', 'key-b')).expect(404)).headers['docker-content-digest']).toBeUndefined();

    // shared/ is pull-only for everyone, so even a mount of alice's own blob into it is refused.
    const mount = await http.post(`/v2/shared/base/blobs/uploads/?mount=${digest}&from=alice/app`).set('Authorization', basic('alice', 'key-a'));
    expect(mount.status).toBe(403);
  });

  it('answers a wrong API key, thrown the Koa way by the host, as the spec UNAUTHORIZED with its challenge', async () => {
    const http = await open();
    const wrong = await http.get('/v2/alice/app/tags/list').set('Authorization', basic('alice', 'nope')).expect(401);
    expect(wrong.headers['www-authenticate']).toBe('Basic realm="example"');
    expect(wrong.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect(wrong.body).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: 'unknown API key' }] });
    // The app's own API refuses in its own format.
    await http.post('/api/notes').set('Content-Type', 'application/json').send({ text: 'x' }).expect(401);
    await http.post('/api/notes').set('Authorization', basic('bob', 'key-b')).set('Content-Type', 'application/json').send({ text: 'x' }).expect(201);
  });

  it('lets anonymous callers pull shared repositories only', async () => {
    const http = await open();
    const tags = await http.get('/v2/shared/base/tags/list').expect(404);
    expect(tags.body.errors[0].code).toBe('NAME_UNKNOWN');
    const other = await http.get('/v2/alice/app/tags/list').expect(401);
    expect(other.body.errors[0].code).toBe('UNAUTHORIZED');
  });
});
