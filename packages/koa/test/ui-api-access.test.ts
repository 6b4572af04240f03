// The web UI's JSON API goes through the same access seam as /v2: every identity (anonymous, and reader,
// writer and admin signed in with a cookie session) against every endpoint and repository, checked against
// the access rules written out independently; a refused change leaves the stored state as it was.
import type request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORDS, openAccessRegistry, type AccessRegistry, type Http } from './support/access-registry.js';
import { putManifest, seedRepository, type SeededRepository } from './support/access-fixtures.js';

type Action = 'pull' | 'delete';
type Rights = 'anonymous' | 'reader' | 'writer' | 'admin';

const REPOSITORIES = ['public/app', 'secret/app', 'team/app', 'writer/app'];

/** ACCESS_RULES written out again (see access-endpoints.test.ts), for pull and delete. */
function rulesAllow(who: Rights, repository: string, action: Action): boolean {
  const namespace = repository.split('/')[0];
  if (who === 'admin' || (who !== 'anonymous' && namespace === who)) return true;
  if (action === 'pull') return namespace === 'public' || (namespace === 'team' && (who === 'reader' || who === 'writer'));
  return false;
}

/** A caller of the API: its cookie and CSRF token once signed in. */
interface Caller {
  rights: Rights;
  cookie?: string;
  csrfToken?: string;
}

interface Cell {
  http: Http;
  backdoor: Http;
  repository: string;
  seed: SeededRepository;
}

interface Endpoint {
  label: string;
  need: Action | 'list';
  success: number;
  request: (cell: Cell) => request.Test;
  /** Puts back what an allowed request removed. */
  repair?: (cell: Cell) => Promise<void>;
}

const q = (repository: string) => `repository=${encodeURIComponent(repository)}`;

const ENDPOINTS: Endpoint[] = [
  { label: 'GET /api/repositories', need: 'list', success: 200, request: (c) => c.http.get('/api/repositories') },
  { label: 'GET /api/tags', need: 'pull', success: 200, request: (c) => c.http.get(`/api/tags?${q(c.repository)}`) },
  {
    label: 'GET /api/manifest',
    need: 'pull',
    success: 200,
    request: (c) => c.http.get(`/api/manifest?${q(c.repository)}&reference=latest`),
  },
  {
    label: 'DELETE /api/tag',
    need: 'delete',
    success: 204,
    request: (c) => c.http.delete(`/api/tag?${q(c.repository)}&tag=gone`),
    repair: (c) => putManifest(c.backdoor, c.repository, 'gone', c.seed.image.body),
  },
  {
    label: 'DELETE /api/manifest',
    need: 'delete',
    success: 202,
    request: (c) => c.http.delete(`/api/manifest?${q(c.repository)}&digest=${c.seed.doomed.digest}`),
    repair: (c) => putManifest(c.backdoor, c.repository, 'doomed', c.seed.doomed.body),
  },
];

interface Outcome {
  status: number;
  code?: string;
  repositories?: string[];
  canDelete?: boolean;
}

function expectedOutcome(rights: Rights, endpoint: Endpoint, repository: string): Outcome {
  if (endpoint.need === 'list') return { status: 200, repositories: REPOSITORIES.filter((name) => rulesAllow(rights, name, 'pull')) };
  if (!rulesAllow(rights, repository, endpoint.need)) {
    return rights === 'anonymous' ? { status: 401, code: 'UNAUTHORIZED' } : { status: 403, code: 'DENIED' };
  }
  if (endpoint.need === 'pull') return { status: 200, canDelete: rulesAllow(rights, repository, 'delete') };
  return { status: endpoint.success };
}

function observe(response: request.Response, endpoint: Endpoint): Outcome {
  const outcome: Outcome = { status: response.status };
  if (response.status >= 400) outcome.code = (response.body as { errors?: Array<{ code: string }> }).errors?.[0]?.code ?? `not the spec's JSON: ${response.text}`;
  if (response.status === 200 && endpoint.need === 'list') {
    outcome.repositories = (response.body as { repositories: Array<{ name: string }> }).repositories.map((repository) => repository.name);
  }
  if (response.status === 200 && endpoint.need === 'pull') outcome.canDelete = (response.body as { canDelete: boolean }).canDelete;
  return outcome;
}

/** Signs in through the API and returns the session cookie (name=value) and CSRF token. */
async function signIn(http: Http, user: 'reader' | 'writer' | 'admin'): Promise<Caller> {
  const response = await http.post('/api/session').set('Content-Type', 'application/json').send(JSON.stringify({ username: user, password: PASSWORDS[user] }));
  expect(response.status, response.text).toBe(200);
  const cookie = (response.headers['set-cookie'] as unknown as string[])[0]!.split(';')[0]!;
  return { rights: user, cookie, csrfToken: (response.body as { csrfToken: string }).csrfToken };
}

describe('web UI API access (basic sign-in, cookie sessions)', { timeout: 30_000 }, () => {
  let t: AccessRegistry;
  const seeds = new Map<string, SeededRepository>();

  beforeAll(async () => {
    t = await openAccessRegistry({ mode: 'basic', ui: { assets: false } });
    for (const repository of REPOSITORIES) seeds.set(repository, await seedRepository(t.backdoor, repository));
  }, 60_000);
  afterAll(() => t.close());

  it('answers every identity x endpoint x repository as the access rules say, and a refused delete changes nothing', async () => {
    const callers: Caller[] = [{ rights: 'anonymous' }, await signIn(t.http, 'reader'), await signIn(t.http, 'writer'), await signIn(t.http, 'admin')];
    const results = new Map<string, Outcome>();
    let refusals = 0;
    for (const caller of callers) {
      for (const endpoint of ENDPOINTS) {
        for (const repository of endpoint.need === 'list' ? ['-'] : REPOSITORIES) {
          const cell: Cell = { http: t.http, backdoor: t.backdoor, repository, seed: seeds.get(repository) ?? seeds.get('public/app')! };
          const before = endpoint.need === 'delete' ? await t.snapshot() : undefined;
          const test = endpoint.request(cell);
          if (caller.cookie) test.set('Cookie', caller.cookie).set('X-CSRF-Token', caller.csrfToken!);
          const response = await test;
          const label = `${caller.rights} | ${endpoint.label} | ${repository}`;
          const observed = observe(response, endpoint);
          results.set(label, observed);
          expect.soft(observed, label).toEqual(expectedOutcome(caller.rights, endpoint, repository));
          // The browser must never open its own Basic sign-in dialog over the page.
          expect.soft(response.headers['www-authenticate'], label).toBeUndefined();
          expect.soft(response.headers['cache-control'], label).toBe('no-store');
          if (response.status >= 400) {
            refusals++;
            expect.soft(response.headers['content-type'], label).toMatch(/^application\/json/);
            if (before) expect.soft(await t.snapshot(), `${label}: stored state after the refusal`).toEqual(before);
          }
          if (endpoint.repair && response.status === endpoint.success) await endpoint.repair(cell);
        }
      }
    }
    expect(results.size).toBe(callers.length * (1 + (ENDPOINTS.length - 1) * REPOSITORIES.length));
    expect(refusals).toBeGreaterThan(results.size / 3);
    // Cells written out, so the rule model above cannot drift unnoticed.
    expect(results.get('anonymous | GET /api/repositories | -')).toEqual({ status: 200, repositories: ['public/app'] });
    expect(results.get('reader | GET /api/repositories | -')).toEqual({ status: 200, repositories: ['public/app', 'team/app'] });
    expect(results.get('anonymous | GET /api/tags | team/app')).toEqual({ status: 401, code: 'UNAUTHORIZED' });
    expect(results.get('reader | GET /api/tags | team/app')).toEqual({ status: 200, canDelete: false });
    expect(results.get('writer | GET /api/manifest | writer/app')).toEqual({ status: 200, canDelete: true });
    expect(results.get('writer | DELETE /api/tag | team/app')).toEqual({ status: 403, code: 'DENIED' });
    expect(results.get('writer | DELETE /api/manifest | writer/app')).toEqual({ status: 202 });
    expect(results.get('admin | DELETE /api/tag | secret/app')).toEqual({ status: 204 });
  }, 60_000);

  it('the same rules apply to Basic credentials sent with the request (no session)', async () => {
    const reader = `Basic ${Buffer.from(`reader:${PASSWORDS.reader}`).toString('base64')}`;
    const tags = await t.http.get('/api/tags?repository=team/app').set('Authorization', reader);
    expect(tags.status).toBe(200);
    const refused = await t.http.delete('/api/tag?repository=team/app&tag=gone').set('Authorization', reader);
    expect(refused.status).toBe(403);
    expect((await t.http.get('/api/session').set('Authorization', reader)).body).toMatchObject({ user: 'reader', csrfToken: null });
  });
});
