// Sign-in against the reference, distribution 2.8: (1) berth's built-in token service issues tokens
// that Debian's docker-registry accepts when given berth's published certificate, so a real client
// (skopeo) pushes to the reference with credentials checked by berth; (2) berth in basic mode and the
// reference with htpasswd answer every endpoint alike for anonymous, wrong and right credentials.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, systemPath } from '../support/client-image.js';
import { writeImageLayout } from '../support/oci-image.js';
import { startReferenceRegistryWithAuth, writeHtpasswd } from '../support/reference-auth.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { startBerth, type RunningRegistry } from '../support/servers.js';

const USERS = [
  { username: 'alice', password: 'alice-pw' },
  { username: 'reader', password: 'reader-pw' },
  { username: 'carol', password: 'carol-pw' },
  { username: 'dave', password: 'dave-pw' },
];
const ACCESS = `
- repositories: ["alice/**"]
  users: [alice]
  actions: ["*"]
- repositories: ["alice/**"]
  users: [reader]
  actions: [pull]
`;

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface Answer {
  status: number;
  code: string | undefined;
  challenge: string | null;
}

async function ask(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, { ...init, redirect: 'manual' });
  const text = await response.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { errors?: Array<{ code: string }> }).errors?.[0]?.code;
  } catch {
    code = undefined;
  }
  return { status: response.status, code, challenge: response.headers.get('www-authenticate') };
}

/** skopeo with its own empty auth file, so no credentials leak in from the machine. */
async function skopeo(scratch: Scratch, args: string[], secrets: string[] = []) {
  const authFile = join(scratch.path, 'skopeo-auth.json');
  await writeFile(authFile, '{"auths":{}}');
  return runCommand('skopeo', ['--insecure-policy', ...args], {
    env: { PATH: systemPath(), HOME: scratch.path, REGISTRY_AUTH_FILE: authFile },
    secrets,
    timeoutMs: 100_000,
  });
}

describe("distribution 2.8 trusting berth's token service", () => {
  let scratch: Scratch;
  let berth: RunningRegistry;
  let reference: RunningRegistry;

  beforeAll(async () => {
    scratch = await createScratch();
    const htpasswd = join(scratch.path, 'htpasswd');
    const access = join(scratch.path, 'access.yml');
    await writeHtpasswd(htpasswd, USERS);
    await writeFile(access, ACCESS);
    berth = await startBerth({ args: ['--auth', 'token', '--htpasswd', htpasswd, '--access', access] });
    const certificate = await (await fetch(`${berth.url}/token/cert.pem`)).text();
    const bundle = join(scratch.path, 'berth-token.pem');
    await writeFile(bundle, certificate);
    reference = await startReferenceRegistryWithAuth({
      token: { realm: `${berth.url}/token`, service: 'berth', issuer: 'berth', rootCertBundle: bundle },
    });
  });

  afterAll(async () => {
    await reference?.stop();
    await berth?.stop();
    await scratch?.dispose();
  });

  const token = async (authorization: string | undefined, query: string) => {
    const response = await fetch(`${berth.url}/token?service=berth&${query}`, {
      headers: authorization === undefined ? {} : { Authorization: authorization },
    });
    expect(response.status).toBe(200);
    return (await response.json()) as { token: string; refresh_token?: string };
  };

  it('sends clients to berth for tokens, and accepts what berth grants', async () => {
    const challenge = await ask(`${reference.url}/v2/alice/app/tags/list`);
    expect(challenge.status).toBe(401);
    expect(challenge.challenge).toBe(
      `Bearer realm="${berth.url}/token",service="berth",scope="repository:alice/app:pull"`,
    );
    const granted = await token(basic('alice', 'alice-pw'), 'scope=repository:alice/app:pull');
    // Granted, and the repository does not exist yet: the reference's own 404.
    const answer = await ask(`${reference.url}/v2/alice/app/tags/list`, { headers: { Authorization: `Bearer ${granted.token}` } });
    expect(answer).toMatchObject({ status: 404, code: 'NAME_UNKNOWN' });
  });

  it('refuses a berth token for another repository, an anonymous one, and a refresh token', async () => {
    const other = await token(basic('alice', 'alice-pw'), 'scope=repository:alice/other:pull');
    const anonymous = await token(undefined, 'scope=repository:alice/app:pull');
    const { refresh_token: refresh } = await token(basic('alice', 'alice-pw'), 'offline_token=true&client_id=docker');
    expect(refresh).toBeDefined();
    for (const bearer of [other.token, anonymous.token]) {
      const answer = await ask(`${reference.url}/v2/alice/app/tags/list`, { headers: { Authorization: `Bearer ${bearer}` } });
      expect(answer.status).toBe(401);
      expect(answer.challenge).toContain('error="insufficient_scope"');
    }
    const answer = await ask(`${reference.url}/v2/`, { headers: { Authorization: `Bearer ${refresh}` } });
    expect(answer.status).toBe(401);
    expect(answer.challenge).toContain('error="invalid_token"');
  });

  it("lets skopeo push to the reference with credentials berth checks, and a reader only pull", async () => {
    const layout = await writeImageLayout({ dir: scratch.child('image'), layers: 2, seed: 81, tag: 'v1' });
    const destination = `docker://${reference.host}/alice/app:v1`;
    const pushed = await skopeo(scratch, ['copy', '--dest-tls-verify=false', '--dest-creds', 'alice:alice-pw', layout.ref, destination], ['alice-pw']);
    expect(pushed.code, pushed.stderr).toBe(0);

    const pulled = await skopeo(scratch, ['inspect', '--raw', '--tls-verify=false', '--creds', 'reader:reader-pw', destination], ['reader-pw']);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(JSON.parse(pulled.stdout).config.digest).toBe(layout.images[0]!.config.digest);

    const refused = await skopeo(scratch, ['copy', '--dest-tls-verify=false', '--dest-creds', 'reader:reader-pw', layout.ref, `docker://${reference.host}/alice/app:v2`], ['reader-pw']);
    expect(refused.code).not.toBe(0);
    const wrong = await skopeo(scratch, ['inspect', '--raw', '--tls-verify=false', '--creds', 'alice:nope', destination], ['nope']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/401|unauthorized/i);
  });
});

describe('berth in basic mode and distribution 2.8 with htpasswd answer alike', () => {
  let scratch: Scratch;
  const registries: Record<'berth' | 'reference', RunningRegistry> = {} as never;

  beforeAll(async () => {
    scratch = await createScratch();
    const htpasswd = join(scratch.path, 'htpasswd');
    await writeHtpasswd(htpasswd, USERS);
    [registries.berth, registries.reference] = await Promise.all([
      // No access file: every signed-in user may do everything, as htpasswd does in distribution.
      startBerth({ args: ['--auth', 'basic', '--htpasswd', htpasswd] }),
      startReferenceRegistryWithAuth({ htpasswd: { path: htpasswd, realm: 'berth' } }),
    ]);
  });

  afterAll(async () => {
    await Promise.all(Object.values(registries).map((registry) => registry?.stop()));
    await scratch?.dispose();
  });

  const missing = `sha256:${'0'.repeat(64)}`;
  const endpoints: Array<[string, string, string]> = [
    ['version check', 'GET', '/v2/'],
    ['catalog', 'GET', '/v2/_catalog'],
    ['tags of an unknown repository', 'GET', '/v2/alice/app/tags/list'],
    ['unknown manifest by tag', 'GET', '/v2/alice/app/manifests/latest'],
    ['unknown manifest, HEAD', 'HEAD', '/v2/alice/app/manifests/latest'],
    ['unknown manifest by digest', 'GET', `/v2/alice/app/manifests/${missing}`],
    ['unknown blob', 'GET', `/v2/alice/app/blobs/${missing}`],
    ['unknown blob, HEAD', 'HEAD', `/v2/alice/app/blobs/${missing}`],
    ['start an upload', 'POST', '/v2/alice/app/blobs/uploads/'],
    ['delete an unknown manifest', 'DELETE', `/v2/alice/app/manifests/${missing}`],
    ['unknown upload', 'GET', '/v2/alice/app/blobs/uploads/a3f0c2a1-0000-4000-8000-000000000000'],
  ];
  /** Where the reference answers a code the specification does not give, berth's (the spec's) code. */
  const specCodes: Record<string, string> = { 'unknown upload': 'BLOB_UPLOAD_UNKNOWN' };
  // Failed sign-ins alternate between two accounts: berth answers an eleventh failure for one account
  // within a minute with 429 (the reference has no such limit), which is tested on its own.
  const identities: Array<[string, (turn: number) => string | undefined]> = [
    ['anonymous', () => undefined],
    ['a wrong password', (turn) => basic(turn % 2 ? 'carol' : 'dave', 'wrong')],
    ['an unknown user', (turn) => basic(turn % 2 ? 'mallory' : 'trudy', 'alice-pw')],
    ['a signed-in user', () => basic('alice', 'alice-pw')],
  ];

  it.each(identities.flatMap(([who, authorization]) => endpoints.map(([what, method, path], turn) => [who, what, method, path, authorization(turn)] as const)))(
    '%s: %s',
    async (who, what, method, path, authorization) => {
      const headers: Record<string, string> = authorization === undefined ? {} : { Authorization: authorization };
      const [ours, theirs] = await Promise.all([
        ask(`${registries.berth.url}${path}`, { method, headers }),
        ask(`${registries.reference.url}${path}`, { method, headers }),
      ]);
      expect(ours.status).toBe(theirs.status);
      const signedIn = who === 'a signed-in user';
      if (method !== 'HEAD') expect(ours.code).toBe((signedIn && specCodes[what]) || theirs.code);
      if (!signedIn) {
        expect(ours.status).toBe(401);
        expect(ours.challenge).toBe('Basic realm="berth"');
        expect(theirs.challenge).toBe('Basic realm="berth"');
      }
    },
  );
});
