import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { uiAssets } from '../src/index.js';

/** A host app with the UI at a prefix and a fallback that names every request the UI passed on. */
function hostApp(prefix?: string): Koa {
  const app = new Koa();
  app.use(uiAssets(prefix === undefined ? {} : { prefix }));
  app.use((ctx) => {
    ctx.status = 418;
    ctx.body = `next: ${ctx.method} ${ctx.path}`;
  });
  return app;
}

function assetUrl(html: string, name: string): string {
  const match = new RegExp(`"([^"]*/assets/[0-9a-f]{12}/${name.replace('.', '\\.')})"`).exec(html);
  if (match?.[1] === undefined) throw new Error(`no ${name} in the shell`);
  return match[1];
}

describe('uiAssets', () => {
  it('answers index.html for deep links under the prefix, with the prefix written in', async () => {
    const server = hostApp('/ui').callback();
    for (const path of ['/ui/', '/ui/repository', '/ui/manifest?repository=a/b&reference=latest']) {
      const res = await request(server).get(path).expect(200);
      expect(res.type).toBe('text/html');
      expect(res.text).toContain('<meta name="berth-ui-prefix" content="/ui">');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    }
    await request(server).get('/ui').expect(302).expect('Location', '/ui/');
  });

  it('passes on the JSON API, the registry endpoints, other methods and paths outside the prefix', async () => {
    const atRoot = hostApp().callback();
    for (const path of ['/api/session', '/v2/', '/v2/a/tags/list', '/token', '/healthz', '/readyz', '/metrics']) {
      await request(atRoot).get(path).expect(418);
    }
    await request(atRoot).post('/').expect(418);
    await request(atRoot).get('/v2x').expect(200); // only whole segments are reserved
    const atPrefix = hostApp('/ui').callback();
    await request(atPrefix).get('/').expect(418);
    await request(atPrefix).get('/uix').expect(418);
    await request(atPrefix).get('/ui/api/tags').expect(418);
  });

  it('serves versioned assets compressed, cached for good, and revalidates by ETag', async () => {
    const server = hostApp().callback();
    const shell = await request(server).get('/').expect(200);
    const script = assetUrl(shell.text, 'app.js');
    const res = await request(server)
      .get(script)
      .set('Accept-Encoding', 'gzip')
      .buffer(true)
      .parse((r, done) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => done(null, Buffer.concat(chunks)));
      })
      .expect(200);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.headers['vary']).toContain('Accept-Encoding');
    expect(res.headers['content-encoding']).toBe('gzip');
    const raw = await request(server).get(script).set('Accept-Encoding', 'identity').expect(200);
    expect(raw.headers['content-encoding']).toBeUndefined();
    expect((res.body as Buffer).toString()).toBe(raw.text); // supertest decompresses
    await request(server).get(script).set('If-None-Match', String(raw.headers['etag'])).expect(304);
    await request(server).get(assetUrl(shell.text, 'style.css')).expect(200).expect('Content-Type', /text\/css/);
    // Every page module is named up front, so the browser fetches them side by side.
    for (const module of ['pages/repositories.js', 'pages/manifest.js', 'api.js']) {
      await request(server).get(assetUrl(shell.text, module)).expect(200);
    }
    expect(shell.text).toContain(`<link rel="modulepreload" href="${assetUrl(shell.text, 'pages/manifest.js')}">`);
    await request(server).head(script).expect(200).expect('Cache-Control', /immutable/);
  });

  it('answers 404 for unknown or outdated asset paths rather than the shell', async () => {
    const server = hostApp().callback();
    await request(server).get('/assets/000000000000/app.js').expect(404);
    const shell = await request(server).get('/').expect(200);
    await request(server).get(assetUrl(shell.text, 'app.js').replace('app.js', 'nope.js')).expect(404);
  });

  it('refuses a prefix without a leading slash', () => {
    expect(() => uiAssets({ prefix: 'ui' })).toThrow(/prefix/);
  });
});
