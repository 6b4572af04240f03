// The standalone server's sign-in flags, as an operator uses them: each mode from flags or the
// environment, start-up errors that name the file and line, the token realm behind a proxy, sign-in
// limits per real client address, users added without a restart, and no secret in any log line.
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeHtpasswd } from '../support/reference-auth.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { startBerth, type RunningRegistry } from '../support/servers.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let scratch: Scratch;
let htpasswd: string;
const started: RunningRegistry[] = [];

beforeAll(async () => {
  scratch = await createScratch();
  htpasswd = join(scratch.path, 'htpasswd');
  await writeHtpasswd(htpasswd, [
    { username: 'alice', password: 'alice-secret-pw' },
    { username: 'bob', password: 'bob-secret-pw' },
  ]);
});

afterAll(async () => {
  await Promise.all(started.map((server) => server.stop()));
  await scratch?.dispose();
});

async function start(args: string[], env?: Record<string, string>): Promise<RunningRegistry> {
  const server = await startBerth({ args, ...(env && { env }) });
  started.push(server);
  return server;
}

/** The error startBerth reports for a server that exits before it is ready (it carries the output). */
async function startFailure(args: string[]): Promise<string> {
  const error = await startBerth({ args }).then(
    (server) => {
      started.push(server);
      return undefined;
    },
    (caught: unknown) => caught,
  );
  expect(error, 'the server should not have started').toBeInstanceOf(Error);
  return (error as Error).message;
}

describe('start-up', () => {
  it.each([
    [['--auth', 'basic'], '--auth basic needs --htpasswd FILE'],
    [['--auth', 'sometimes'], 'invalid --auth "sometimes"'],
    [['--auth', 'token'], '--auth token needs --htpasswd FILE'],
    [['--auth', 'token', '--token-keys', '/nonexistent.pem'], 'needs --token-realm, --token-service and --token-issuer'],
    [['--htpasswd', '/etc/hostname'], 'need --auth basic or --auth token'],
    [['--auth', 'basic', '--htpasswd', '/nonexistent/htpasswd'], '/nonexistent/htpasswd'],
    [['--public-url', 'ftp://x'], 'invalid --public-url'],
  ])('%j refuses to start: %s', async (args, message) => {
    expect(await startFailure(args)).toContain(message);
  });

  it('names the line of an htpasswd entry it cannot use, without printing the hash', async () => {
    const file = join(scratch.path, 'md5.htpasswd');
    await writeFile(file, '# users\nalice:$2y$05$abcdefghijklmnopqrstuuJ3yLxJ0Ub0wXJ0w3C7G1Y9zZ8Q9nq6e\nbob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n');
    const message = await startFailure(['--auth', 'basic', '--htpasswd', file]);
    expect(message).toMatch(/md5\.htpasswd line 3/);
    expect(message).not.toContain('HqJZimcKQFAMYayBlzkrA');
  });

  it('names the line of a bad access rule', async () => {
    const access = join(scratch.path, 'bad-access.yml');
    await writeFile(access, '- repositories: ["team/**"]\n  users: ["*"]\n  actions: [pull, pul]\n');
    const message = await startFailure(['--auth', 'basic', '--htpasswd', htpasswd, '--access', access]);
    expect(message).toMatch(/bad-access\.yml line 3/);
    expect(message).toContain('"pul"');
  });

  it('warns when it listens beyond loopback without sign-in, and not with it', async () => {
    const open = await start(['--host', '0.0.0.0']);
    expect(open.logs()).toContain('without sign-in');
    const closed = await start(['--host', '0.0.0.0', '--auth', 'basic', '--htpasswd', htpasswd]);
    expect(closed.logs()).not.toContain('without sign-in');
  });
});

describe('basic mode from the environment', () => {
  let server: RunningRegistry;
  let users: string;
  beforeAll(async () => {
    users = join(scratch.path, 'env.htpasswd');
    await writeHtpasswd(users, [{ username: 'alice', password: 'alice-secret-pw' }]);
    server = await start([], { BERTH_AUTH: 'basic', BERTH_HTPASSWD: users });
  });

  it('asks anonymous callers to sign in and lets users in', async () => {
    const anonymous = await fetch(`${server.url}/v2/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="berth"');
    expect((await fetch(`${server.url}/v2/`, { headers: { Authorization: basic('alice', 'alice-secret-pw') } })).status).toBe(200);
  });

  it('takes a user added to the htpasswd file without a restart', async () => {
    const carol = { Authorization: basic('carol', 'carol-secret-pw') };
    expect((await fetch(`${server.url}/v2/`, { headers: carol })).status).toBe(401);
    const single = join(scratch.path, 'carol.htpasswd');
    await writeHtpasswd(single, [{ username: 'carol', password: 'carol-secret-pw' }]);
    const { readFile } = await import('node:fs/promises');
    await appendFile(users, await readFile(single, 'utf8'));
    // The file is looked at again at most once a second.
    let status = 0;
    for (let attempt = 0; attempt < 40 && status !== 200; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await fetch(`${server.url}/v2/`, { headers: carol })).status;
    }
    expect(status).toBe(200);
  });
});

describe('token mode behind a proxy', () => {
  it('puts the public URL in the realm', async () => {
    const server = await start(['--auth', 'token', '--htpasswd', htpasswd, '--public-url', 'https://registry.example.com/']);
    const answer = await fetch(`${server.url}/v2/team/app/tags/list`);
    expect(answer.headers.get('www-authenticate')).toBe(
      'Bearer realm="https://registry.example.com/token",service="berth",scope="repository:team/app:pull"',
    );
  });

  it("takes the scheme and host from X-Forwarded-* only with --trust-proxy", async () => {
    const forwarded = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'registry.example.org' };
    const trusting = await start(['--auth', 'token', '--htpasswd', htpasswd, '--trust-proxy']);
    const behind = await fetch(`${trusting.url}/v2/`, { headers: forwarded });
    expect(behind.headers.get('www-authenticate')).toBe('Bearer realm="https://registry.example.org/token",service="berth"');
    const direct = await start(['--auth', 'token', '--htpasswd', htpasswd]);
    const ignored = await fetch(`${direct.url}/v2/`, { headers: forwarded });
    expect(ignored.headers.get('www-authenticate')).toBe(`Bearer realm="${direct.url}/token",service="berth"`);
  });

  it('counts failed sign-ins per account and real client address', async () => {
    const server = await start(['--auth', 'token', '--htpasswd', htpasswd, '--trust-proxy']);
    const attempt = (address: string, password: string) =>
      fetch(`${server.url}/token?service=berth&account=bob`, {
        headers: { Authorization: basic('bob', password), 'X-Forwarded-For': address },
      });
    for (let failure = 0; failure < 10; failure++) expect((await attempt('203.0.113.7', 'wrong')).status).toBe(401);
    const blocked = await attempt('203.0.113.7', 'bob-secret-pw');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await blocked.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('TOOMANYREQUESTS');
    // Another address, or another account from the same address, is not held up.
    expect((await attempt('198.51.100.20', 'bob-secret-pw')).status).toBe(200);
    const alice = await fetch(`${server.url}/token?service=berth`, {
      headers: { Authorization: basic('alice', 'alice-secret-pw'), 'X-Forwarded-For': '203.0.113.7' },
    });
    expect(alice.status).toBe(200);
  });

  it('never writes a password, a token or an Authorization header to its log', async () => {
    const server = await start(['--auth', 'token', '--htpasswd', htpasswd, '--log-level', 'debug']);
    const issued = await fetch(`${server.url}/token?service=berth&scope=repository:alice/app:pull,push&offline_token=true`, {
      headers: { Authorization: basic('alice', 'alice-secret-pw') },
    });
    const { token, refresh_token: refresh } = (await issued.json()) as { token: string; refresh_token: string };
    await fetch(`${server.url}/v2/alice/app/tags/list`, { headers: { Authorization: `Bearer ${token}` } });
    await fetch(`${server.url}/v2/alice/app/tags/list`, { headers: { Authorization: `Bearer ${token}x` } });
    await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'alice-secret-pw', service: 'berth' }),
    });
    await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, service: 'berth' }),
    });
    await fetch(`${server.url}/v2/`, { headers: { Authorization: basic('alice', 'wrong-secret-pw') } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const logs = server.logs();
    expect(logs).toContain('"url":"/v2/alice/app/tags/list"');
    expect(logs).toContain('"user":"alice"');
    for (const secret of ['alice-secret-pw', 'wrong-secret-pw', token, refresh, token.split('.')[2]!, Buffer.from('alice:alice-secret-pw').toString('base64')]) {
      expect(logs).not.toContain(secret);
    }
    expect(logs.toLowerCase()).not.toContain('authorization');
  });
});
