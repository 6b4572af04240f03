// Real clients (docker through a private dockerd, podman, skopeo, ctr through a private containerd)
// against berth's standalone server with sign-in: `--auth basic` (Basic against an htpasswd file)
// and `--auth token` (the built-in token service at /token), both with the same access file. Who may
// push and pull where is checked through each client's own CLI, and, in token mode, what the clients
// sent to the token service is checked against the Docker token specification from berth's request
// log (and, for the body of the engine's `POST /token`, from a recording proxy). One berth per mode;
// one dockerd, one containerd and one podman sandbox serve the whole file.
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, Agent, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runEveryStep, systemPath, writeClientImage, type ClientImage, type CommandResult } from '../support/client-image.js';
import { startContainerd, type Containerd } from '../support/containerd.js';
import { startDockerEngine, type DockerEngine } from '../support/docker-engine.js';
import { createPodman, type Podman } from '../support/podman.js';
import { writeHtpasswd } from '../support/reference-auth.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { BERTH_MAIN, watch } from '../support/servers.js';
import { SKOPEO_BIN, skopeoLogin } from '../support/skopeo.js';

interface User {
  readonly username: string;
  readonly password: string;
}

const ADMIN: User = { username: 'admin', password: 'admin-Secret-1' };
const WRITER: User = { username: 'writer', password: 'writer-Secret-2' };
const READER: User = { username: 'reader', password: 'reader-Secret-3' };

const ACCESS_FILE = `# public/** for everyone, team/** read-only for reader, read-write for writer; admin anything
- repositories: ["public/**"]
  users: ["anonymous", "*"]
  actions: [pull]
- repositories: ["team/**"]
  users: [reader]
  actions: [pull]
- repositories: ["team/**"]
  users: [writer]
  actions: [pull, push]
- repositories: ["**"]
  users: [admin]
  actions: ["*"]
`;

/** How clients word a refusal: 403 DENIED (Basic), 401 insufficient_scope (token), or plain 401. */
const REFUSED = /denied|insufficient_scope|unauthorized|authentication required|401|403/i;

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

type Mode = 'basic' | 'token';

/** One line of berth's request log. */
interface RequestLine {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly user: string | null;
}

interface AuthBerth {
  readonly mode: Mode;
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Every request logged so far (berth logs a request when its response has been sent). */
  readonly requests: readonly RequestLine[];
  /** The log's current length: `since(mark)` gives what came after. */
  mark(): number;
  /**
   * The requests logged after `mark`, once the log has been quiet for a moment (a line is written
   * when the response is sent, which may be a little after the client saw it).
   */
  since(mark: number): Promise<RequestLine[]>;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * Starts the built standalone server with sign-in. Not startBerth(): its logs() keeps only a tail
 * of the output, and these tests read every request line.
 */
async function startAuthBerth(mode: Mode, dir: string): Promise<AuthBerth> {
  await mkdir(dir, { recursive: true });
  const htpasswd = join(dir, 'htpasswd');
  const access = join(dir, 'access.yaml');
  await writeHtpasswd(htpasswd, [ADMIN, WRITER, READER]);
  await writeFile(access, ACCESS_FILE);
  const args = ['--host', '127.0.0.1', '--port', '0', '--data', join(dir, 'data'), '--auth', mode, '--htpasswd', htpasswd, '--access', access];
  const child = spawn(process.execPath, [BERTH_MAIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const requests: RequestLine[] = [];
  let lastLineAt = Date.now();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    try {
      const entry = JSON.parse(line) as Partial<RequestLine>;
      if (typeof entry.method === 'string' && typeof entry.url === 'string' && typeof entry.status === 'number') {
        requests.push({ method: entry.method, url: entry.url, status: entry.status, user: entry.user ?? null });
        lastLineAt = Date.now();
      }
    } catch {
      // Not a request line.
    }
  });
  const server = watch(child, `berth --auth ${mode}`);
  let url: string;
  try {
    url = (await server.waitForLine((line) => /listening on (http:\/\/[^\s"']+)/.exec(line)?.[1])).replace(/\/+$/, '');
  } catch (error) {
    await server.stop();
    throw error;
  }
  const parsed = new URL(url);
  return {
    mode,
    url,
    host: parsed.host,
    port: Number(parsed.port),
    requests,
    mark: () => requests.length,
    since: async (mark) => {
      // Quiet for 150 ms, at most a second of waiting.
      const deadline = Date.now() + 1_000;
      while (Date.now() - lastLineAt < 150 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      return requests.slice(mark);
    },
    logs: server.logs,
    stop: server.stop,
  };
}

function describeRequests(lines: readonly RequestLine[]): string {
  return lines.map((line) => `${line.status} ${line.method} ${line.url} (user ${line.user ?? '-'})`).join('\n');
}

/** The query of a logged URL. */
function queryOf(line: RequestLine): URLSearchParams {
  return new URL(line.url, 'http://berth').searchParams;
}

const tokenGets = (lines: readonly RequestLine[]) => lines.filter((line) => line.method === 'GET' && /^\/token(\?|$)/.test(line.url));
const tokenPosts = (lines: readonly RequestLine[]) => lines.filter((line) => line.method === 'POST' && /^\/token(\?|$)/.test(line.url));

/** `repository:name:push,pull` as `repository:name:pull,push`: clients list actions in any order. */
const sortActions = (scope: string) => {
  const colon = scope.lastIndexOf(':');
  return `${scope.slice(0, colon)}:${scope.slice(colon + 1).split(',').sort().join(',')}`;
};

/** The scopes a token GET asked for, each `scope` parameter split on spaces, actions sorted. */
const scopesOf = (line: RequestLine) => queryOf(line).getAll('scope').flatMap((scope) => scope.split(' ')).map(sortActions);

const basic = (user: User) => `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;

/** An Authorization header for `user` and `scopes`: Basic, or a Bearer token from berth's /token. */
async function authorization(berth: AuthBerth, user: User, scopes: readonly string[]): Promise<string> {
  if (berth.mode === 'basic') return basic(user);
  const query = new URLSearchParams({ service: 'berth' });
  for (const scope of scopes) query.append('scope', scope);
  const response = await fetch(`${berth.url}/token?${query}`, { headers: { authorization: basic(user) } });
  expect(response.status, await response.clone().text()).toBe(200);
  return `Bearer ${((await response.json()) as { token: string }).token}`;
}

/** The tags of a repository as admin sees them; [] when it does not exist. */
async function listTags(berth: AuthBerth, repository: string): Promise<string[]> {
  const response = await fetch(`${berth.url}/v2/${repository}/tags/list`, {
    headers: { authorization: await authorization(berth, ADMIN, [`repository:${repository}:pull`]) },
  });
  if (response.status === 404) return [];
  expect(response.status, await response.clone().text()).toBe(200);
  return ((await response.json()) as { tags: string[] | null }).tags ?? [];
}

/** The layer digests of a manifest (as admin sees it): what a client pushed, compressed its own way. */
async function layerDigests(berth: AuthBerth, repository: string, tag: string): Promise<string[]> {
  const response = await fetch(`${berth.url}/v2/${repository}/manifests/${tag}`, {
    headers: {
      accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
      authorization: await authorization(berth, ADMIN, [`repository:${repository}:pull`]),
    },
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return ((await response.json()) as { layers: { digest: string }[] }).layers.map((layer) => layer.digest);
}

/** What a client printed, for matching refusals wherever the CLI writes them. */
const output = (result: CommandResult) => `${result.stdout}\n${result.stderr}`;

// ---------------------------------------------------------------------------------------------
// A recording HTTP proxy: the engine sends its refresh token and scopes in a POST form body, which
// berth's request log (method, URL, status) does not show. Forwarded as is, Host included, so
// berth's challenge sends clients back through the proxy for their tokens.

interface ProxyRecord {
  readonly method: string;
  readonly url: string;
  status?: number;
  /** The form of a `POST /token`, secrets masked. */
  form?: Record<string, string[]>;
}

interface RecordingProxy {
  readonly host: string;
  readonly records: ProxyRecord[];
  stop(): Promise<void>;
}

const SECRET_FIELDS = new Set(['password', 'refresh_token']);

async function startRecordingProxy(targetPort: number): Promise<RecordingProxy> {
  const records: ProxyRecord[] = [];
  const agent = new Agent({ keepAlive: true });
  const server = createServer((req, res) => {
    const record: ProxyRecord = { method: req.method ?? '', url: req.url ?? '' };
    records.push(record);
    const isTokenPost = record.method === 'POST' && /^\/token(\?|$)/.test(record.url);
    const body: Buffer[] = [];
    if (isTokenPost) {
      req.on('data', (chunk: Buffer) => body.push(chunk));
      req.on('end', () => {
        const form: Record<string, string[]> = {};
        for (const [name, value] of new URLSearchParams(Buffer.concat(body).toString('utf8'))) {
          (form[name] ??= []).push(SECRET_FIELDS.has(name) ? '***' : value);
        }
        record.form = form;
      });
    }
    const headers: IncomingHttpHeaders = { ...req.headers };
    const upstream = httpRequest(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers, agent },
      (response) => {
        record.status = response.statusCode;
        res.writeHead(response.statusCode ?? 502, response.rawHeaders);
        response.pipe(res);
      },
    );
    upstream.on('error', (error) => res.destroy(error));
    req.pipe(upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    records,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// skopeo with per-command credentials (an auth file, or --creds / --src-creds / --dest-creds), in a
// sandbox of its own: nothing from the machine's containers configuration or auth files.

interface SkopeoRunner {
  run(args: readonly string[], options?: { authFile?: string; secrets?: readonly string[] }): Promise<CommandResult>;
}

async function createSkopeoRunner(dir: string): Promise<SkopeoRunner> {
  const dirs = {
    home: join(dir, 'home'),
    config: join(dir, 'config'),
    data: join(dir, 'data'),
    runtime: join(dir, 'run'),
    docker: join(dir, 'docker'),
    registriesD: join(dir, 'registries.d'),
    tmp: join(dir, 'tmp'),
  };
  for (const path of Object.values(dirs)) await mkdir(path, { recursive: true, mode: 0o700 });
  const emptyAuthFile = join(dir, 'empty-auth.json');
  await writeFile(emptyAuthFile, '{"auths":{}}\n', { mode: 0o600 });
  const registriesConf = join(dir, 'registries.conf');
  await writeFile(registriesConf, 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');
  return {
    run: (args, options = {}) =>
      runCommand(SKOPEO_BIN, ['--insecure-policy', '--registries.d', dirs.registriesD, '--tmpdir', dirs.tmp, ...args], {
        env: {
          PATH: systemPath(),
          HOME: dirs.home,
          XDG_CONFIG_HOME: dirs.config,
          XDG_DATA_HOME: dirs.data,
          XDG_RUNTIME_DIR: dirs.runtime,
          DOCKER_CONFIG: dirs.docker,
          REGISTRY_AUTH_FILE: options.authFile ?? emptyAuthFile,
          CONTAINERS_REGISTRIES_CONF: registriesConf,
          TMPDIR: dirs.tmp,
          NO_PROXY: '*',
        },
        secrets: options.secrets,
      }),
  };
}

const creds = (user: User) => `${user.username}:${user.password}`;

// ---------------------------------------------------------------------------------------------

let engine: DockerEngine;
let containerd: Containerd;
let podman: Podman;
let skopeo: SkopeoRunner;
let scratch: Scratch;
/** Pushed to team/… by every client. */
let image: ClientImage;
/** Pushed to public/base by admin (other layers, so no mount from team/… is possible). */
let publicImage: ClientImage;
let dockerImage: string;
let dockerPublicImage: string;
let podmanImage: string;

beforeAll(async () => {
  scratch = await createScratch('berth-clients-auth-');
  [image, publicImage] = await Promise.all([
    writeClientImage({ path: scratch.child('tiny.tar'), seed: 5 }),
    writeClientImage({ path: scratch.child('public.tar'), seed: 6, repoTag: 'localhost/berth-test/public:1' }),
  ]);
  [engine, containerd, podman, skopeo] = await Promise.all([
    startDockerEngine(),
    startContainerd(),
    createPodman(),
    createSkopeoRunner(scratch.child('skopeo')),
  ]);
  [dockerImage, dockerPublicImage, podmanImage] = await Promise.all([
    engine.load(image.path),
    engine.load(publicImage.path),
    podman.load(image.path),
  ]);
});

afterAll(async () => {
  // Stop everything, then report the first failure (a daemon that would not stop must fail the file).
  await runEveryStep([() => engine?.stop(), () => containerd?.stop(), () => podman?.dispose(), () => scratch?.dispose()]);
});

async function dockerImageId(ref: string): Promise<string> {
  return (await engine.dockerOk(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim();
}

describe.each(['basic', 'token'] as const)('real clients against berth --auth %s', (mode) => {
  let berth: AuthBerth;
  /** One DOCKER_CONFIG per user: `docker login` keeps the credentials there. */
  const dockerConfig: Partial<Record<'admin' | 'writer' | 'reader' | 'anonymous', string>> = {};

  beforeAll(async () => {
    berth = await startAuthBerth(mode, scratch.child(`berth-${mode}`));
    dockerConfig.admin = await engine.newConfigDir();
    dockerConfig.writer = await engine.newConfigDir();
    dockerConfig.reader = await engine.newConfigDir();
    dockerConfig.anonymous = await engine.newConfigDir();
  });

  afterAll(async () => {
    await berth?.stop();
  });

  const ref = (path: string) => `${berth.host}/${path}`;

  it('challenges with the scheme of the mode', async () => {
    const response = await fetch(`${berth.url}/v2/`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      mode === 'basic' ? 'Basic realm="berth"' : `Bearer realm="${berth.url}/token",service="berth"`,
    );
  });

  it('docker login refuses a wrong password and accepts the right ones', async () => {
    const mark = berth.mark();
    const refused = await engine.login(berth.host, WRITER.username, 'wrong-password', { configDir: dockerConfig.writer! });
    expect(refused.code, output(refused)).not.toBe(0);
    expect(refused.stderr).toMatch(/401|unauthorized|wrong user name or password/i);

    for (const [user, configDir] of [
      [WRITER, dockerConfig.writer!],
      [READER, dockerConfig.reader!],
      [ADMIN, dockerConfig.admin!],
    ] as const) {
      const login = await engine.login(berth.host, user.username, user.password, { configDir });
      expect(login.code, output(login)).toBe(0);
      expect(login.stdout).toMatch(/Login Succeeded/);
    }

    const lines = await berth.since(mark);
    if (mode === 'token') {
      // The engine logs in as the token spec describes: a GET with Basic credentials that asks for
      // an offline (refresh) token, names the account and the client, and no scope.
      const gets = tokenGets(lines);
      expect(gets.map((line) => line.status), describeRequests(lines)).toEqual([401, 200, 200, 200]);
      for (const [line, user] of [
        [gets[0]!, WRITER],
        [gets[1]!, WRITER],
        [gets[2]!, READER],
        [gets[3]!, ADMIN],
      ] as const) {
        const query = queryOf(line);
        expect(query.get('offline_token'), line.url).toBe('true');
        expect(query.get('client_id'), line.url).toBe('docker');
        expect(query.get('account'), line.url).toBe(user.username);
        expect(query.get('service'), line.url).toBe('berth');
        expect(query.getAll('scope'), line.url).toEqual([]);
      }
    } else {
      // Basic: the engine's login is a GET /v2/ with the credentials.
      const v2 = lines.filter((line) => line.url === '/v2/');
      expect(v2.map((line) => [line.status, line.user]), describeRequests(lines)).toEqual(
        expect.arrayContaining([
          [401, 'anonymous'],
          [200, 'writer'],
          [200, 'reader'],
          [200, 'admin'],
        ]),
      );
    }
  });

  it('docker: writer pushes team/app, reader pulls it back', async () => {
    const target = ref('team/app:1');
    await engine.dockerOk(['tag', dockerImage, target]);
    const mark = berth.mark();
    await engine.dockerOk(['push', target], { configDir: dockerConfig.writer! });
    const pushLines = await berth.since(mark);
    await engine.dockerOk(['rmi', target]);
    await engine.dockerOk(['pull', target], { configDir: dockerConfig.reader! });
    expect(await dockerImageId(target)).toBe(image.configDigest);
    expect(await listTags(berth, 'team/app')).toEqual(['1']);

    const manifestPut = pushLines.find((line) => line.method === 'PUT' && line.url === '/v2/team/app/manifests/1');
    expect(manifestPut?.status, describeRequests(pushLines)).toBe(201);
    expect(manifestPut?.user).toBe('writer');
    if (mode === 'token') {
      // After `docker login` the engine holds a refresh (identity) token, not the password: it gets
      // its access tokens with POST /token grant_type=refresh_token (the form is checked through the
      // recording proxy below), never with a Basic GET.
      expect(tokenPosts(pushLines).map((line) => line.status), describeRequests(pushLines)).toContain(200);
      expect(tokenGets(pushLines), describeRequests(pushLines)).toEqual([]);
    }
  });

  it('docker: reader may not push to team/app', async () => {
    const target = ref('team/app:reader');
    await engine.dockerOk(['tag', dockerImage, target]);
    const mark = berth.mark();
    const refused = await engine.docker(['push', target], { configDir: dockerConfig.reader! });
    const lines = await berth.since(mark);
    expect(refused.code, output(refused)).not.toBe(0);
    expect(output(refused)).toMatch(REFUSED);
    expect(await listTags(berth, 'team/app')).toEqual(['1']);
    expect(lines.filter((line) => line.method === 'PUT' || line.method === 'PATCH').map((line) => line.status), describeRequests(lines)).not.toContain(201);
    await engine.dockerOk(['rmi', target]);
  });

  it('docker: writer pushes the same image to team/copy by mounting the layer from team/app', async () => {
    // In token mode through the recording proxy, to see the scopes of the engine's POST /token form.
    const proxy = mode === 'token' ? await startRecordingProxy(berth.port) : undefined;
    try {
      const host = proxy?.host ?? berth.host;
      let configDir = dockerConfig.writer!;
      if (proxy !== undefined) {
        // The engine remembers where layers came from per registry host: log in and push team/app
        // through the proxy too (the layers exist, so that push only HEADs them).
        configDir = await engine.newConfigDir();
        const login = await engine.login(host, WRITER.username, WRITER.password, { configDir });
        expect(login.code, output(login)).toBe(0);
        await engine.dockerOk(['tag', dockerImage, `${host}/team/app:1`]);
        await engine.dockerOk(['push', `${host}/team/app:1`], { configDir });
      }
      const target = `${host}/team/copy:1`;
      await engine.dockerOk(['tag', dockerImage, target]);
      const mark = berth.mark();
      const pushed = await engine.dockerOk(['push', target], { configDir });
      const lines = await berth.since(mark);
      expect(pushed.stdout).toMatch(/Mounted from team\/app/);
      const mount = lines.find((line) => line.method === 'POST' && line.url.startsWith('/v2/team/copy/blobs/uploads/?'));
      expect(mount, describeRequests(lines)).toBeDefined();
      const query = queryOf(mount!);
      // The layer as the engine compressed it for team/app (not the archive's bytes).
      expect([query.get('mount')], mount!.url).toEqual(await layerDigests(berth, 'team/app', '1'));
      expect(query.get('from'), mount!.url).toBe('team/app');
      expect(mount!.url).toContain('from=team%2Fapp');
      expect(mount!.status, describeRequests(lines)).toBe(201);
      expect(await listTags(berth, 'team/copy')).toEqual(['1']);

      if (proxy !== undefined) {
        // Just before the mount, the engine asks for a token with both scopes: push to the target
        // and pull from the source, in one space-separated `scope` field, with its refresh token.
        const mountIndex = proxy.records.findIndex((record) => record.method === 'POST' && record.url.startsWith('/v2/team/copy/blobs/uploads/?'));
        const tokenRequests = proxy.records.slice(0, mountIndex).filter((record) => record.method === 'POST' && record.url === '/token');
        const last = tokenRequests.at(-1);
        const trace = JSON.stringify(proxy.records, null, 1);
        expect(last?.status, trace).toBe(200);
        expect(last?.form?.['grant_type'], trace).toEqual(['refresh_token']);
        expect(last?.form?.['refresh_token'], trace).toEqual(['***']);
        expect(last?.form?.['service'], trace).toEqual(['berth']);
        expect(last?.form?.['client_id'], trace).toEqual(['docker']);
        const scopes = (last?.form?.['scope'] ?? []).flatMap((scope) => scope.split(' ')).map(sortActions);
        expect(scopes.sort(), trace).toEqual(['repository:team/app:pull', 'repository:team/copy:pull,push']);
      }
    } finally {
      await proxy?.stop();
    }
  });

  it('admin pushes public/base; the rules let anonymous callers pull it, not team/app', async () => {
    const publicRef = ref('public/base:1');
    await engine.dockerOk(['tag', dockerPublicImage, publicRef]);
    await engine.dockerOk(['push', publicRef], { configDir: dockerConfig.admin! });
    await engine.dockerOk(['rmi', publicRef]);
    // Plain HTTP without credentials: what the rules say, whatever the mode.
    const anonymousHeaders = async (repository: string): Promise<Record<string, string>> =>
      mode === 'basic'
        ? {}
        : { authorization: `Bearer ${((await (await fetch(`${berth.url}/token?service=berth&scope=repository:${repository}:pull`)).json()) as { token: string }).token}` };
    const accept = 'application/vnd.docker.distribution.manifest.v2+json';
    const mark = berth.mark();
    const publicManifest = await fetch(`${berth.url}/v2/public/base/manifests/1`, { headers: { accept, ...(await anonymousHeaders('public/base')) } });
    expect(publicManifest.status).toBe(200);
    // Read to the end, so that their request lines are written now and not during the next test.
    await publicManifest.arrayBuffer();
    const teamManifest = await fetch(`${berth.url}/v2/team/app/manifests/1`, { headers: { accept, ...(await anonymousHeaders('team/app')) } });
    expect(teamManifest.status).toBe(401);
    await teamManifest.arrayBuffer();
    // A request's line is written when the server has closed the response, which can come after the
    // client read the last byte: wait for both, so they are not taken for the next test's requests.
    const manifestLines = () => berth.requests.slice(mark).filter((line) => /^\/v2\/(public\/base|team\/app)\/manifests\/1$/.test(line.url));
    await expect.poll(() => manifestLines().length).toBe(2);
  });

  it('docker: anonymous pulls public/base but not team/app (token); with Basic the engine sends nothing anonymous', async () => {
    const publicRef = ref('public/base:1');
    const mark = berth.mark();
    const pulled = await engine.docker(['pull', publicRef], { configDir: dockerConfig.anonymous! });
    const pullLines = await berth.since(mark);

    const teamRef = ref('team/app:1');
    await engine.docker(['rmi', teamRef]);
    const mark2 = berth.mark();
    const refused = await engine.docker(['pull', teamRef], { configDir: dockerConfig.anonymous! });
    const refusedLines = await berth.since(mark2);
    expect(refused.code, output(refused)).not.toBe(0);
    for (const line of [...pullLines, ...refusedLines]) expect(line.user, describeRequests([line])).toBe('anonymous');

    if (mode === 'basic') {
      // The engine learns the Basic challenge at GET /v2/ and, without credentials, refuses to send
      // any request itself ("no basic auth credentials"): anonymous access through the rules is out
      // of docker's reach in Basic mode (a registry cannot help it: answering /v2/ without a
      // challenge would keep logged-in engines from ever sending their credentials).
      expect(pulled.code, output(pulled)).not.toBe(0);
      expect(output(pulled)).toMatch(/no basic auth credentials/);
      expect(output(refused)).toMatch(/no basic auth credentials/);
      expect(pullLines.filter((line) => line.url.startsWith('/v2/public/')), describeRequests(pullLines)).toEqual([]);
      return;
    }
    expect(pulled.code, output(pulled)).toBe(0);
    expect(await dockerImageId(publicRef)).toBe(publicImage.configDigest);
    expect(output(refused)).toMatch(/denied|unauthorized|authentication required|may require 'docker login'/i);
    // Anonymous token requests: no credentials, so no account; just the scope of the repository.
    const [publicToken] = tokenGets(pullLines);
    expect(publicToken, describeRequests(pullLines)).toBeDefined();
    expect(publicToken!.status).toBe(200);
    expect(queryOf(publicToken!).get('account')).toBeNull();
    expect(scopesOf(publicToken!)).toEqual(['repository:public/base:pull']);
    expect(pullLines.find((line) => line.url.startsWith('/v2/public/base/manifests/'))?.status, describeRequests(pullLines)).toBe(200);
    // The token for team/app is issued (granting nothing), and the manifest is refused with it.
    expect(tokenGets(refusedLines).map(scopesOf), describeRequests(refusedLines)).toContainEqual(['repository:team/app:pull']);
    expect(refusedLines.find((line) => line.url.startsWith('/v2/team/app/manifests/'))?.status, describeRequests(refusedLines)).toBe(401);
  });

  it('ctr: anonymous pulls public/base but not team/app', async () => {
    // containerd authenticates only after a 401, so its first, anonymous request is what the rules judge.
    const pulled = await containerd.pull(ref('public/base:1'));
    expect(pulled.code, output(pulled)).toBe(0);
    const refused = await containerd.pull(ref('team/app:1'));
    expect(refused.code, output(refused)).not.toBe(0);
    expect(output(refused)).toMatch(/401 Unauthorized|insufficient_scope/);
  });

  // Without credentials, containers/image (skopeo, podman) answers a Basic challenge with
  // `Authorization: Basic Og==` (an empty name and password); berth takes that as nobody, so the
  // anonymous rules apply. In token mode they ask for an anonymous token instead.
  it('skopeo: anonymous copies public/base out but not team/app', async () => {
    const mark = berth.mark();
    const copied = await skopeo.run(['copy', '--retry-times', '0', '--src-tls-verify=false', `docker://${berth.host}/public/base:1`, `oci:${scratch.child('oci-public')}:base`]);
    const lines = await berth.since(mark);
    expect(copied.code, `${output(copied)}\n${describeRequests(lines)}`).toBe(0);
    const refused = await skopeo.run(['copy', '--retry-times', '0', '--src-tls-verify=false', `docker://${berth.host}/team/app:1`, `oci:${scratch.child('oci-team')}:app`]);
    expect(refused.code, output(refused)).not.toBe(0);
  });

  it('skopeo: login and copy as writer; reader may not copy into team/, writer may with --dest-creds', async () => {
    const writerAuth = scratch.child('skopeo-writer.json');
    const readerAuth = scratch.child('skopeo-reader.json');
    const wrong = await skopeoLogin({ host: berth.host, username: WRITER.username, password: 'wrong-password', authFile: writerAuth });
    expect(wrong.code, wrong.stderr).not.toBe(0);
    const mark = berth.mark();
    for (const [user, authFile] of [
      [WRITER, writerAuth],
      [READER, readerAuth],
    ] as const) {
      const login = await skopeoLogin({ host: berth.host, ...user, authFile });
      expect(login.code, login.stderr).toBe(0);
    }
    const loginLines = await berth.since(mark);

    const source = `docker-archive:${image.path}`;
    const copy = (destination: string, args: readonly string[] = [], options: { authFile?: string; secrets?: string[] } = {}) =>
      skopeo.run(['copy', '--retry-times', '0', '--dest-tls-verify=false', ...args, source, `docker://${berth.host}/${destination}`], options);

    const mark2 = berth.mark();
    const asWriter = await copy('team/skopeo:1', [], { authFile: writerAuth });
    expect(asWriter.code, output(asWriter)).toBe(0);
    const writerLines = await berth.since(mark2);

    const asReader = await copy('team/skopeo:reader', [], { authFile: readerAuth });
    expect(asReader.code, output(asReader)).not.toBe(0);
    expect(output(asReader)).toMatch(REFUSED);

    const withCreds = await copy('team/skopeo:creds', ['--dest-creds', creds(WRITER)], { secrets: [WRITER.password] });
    expect(withCreds.code, output(withCreds)).toBe(0);
    expect(withCreds.command).not.toContain(WRITER.password);
    const readerCreds = await copy('team/skopeo:reader-creds', ['--dest-creds', creds(READER)], { secrets: [READER.password] });
    expect(readerCreds.code, output(readerCreds)).not.toBe(0);
    expect(output(readerCreds)).toMatch(REFUSED);
    // Nor with an anonymous push.
    const anonymous = await copy('team/skopeo:anonymous');
    expect(anonymous.code, output(anonymous)).not.toBe(0);

    expect((await listTags(berth, 'team/skopeo')).sort()).toEqual(['1', 'creds']);

    if (mode === 'token') {
      // skopeo login: a GET /token with Basic credentials and the account, no scope, no offline token.
      const logins = tokenGets(loginLines);
      expect(logins.map((line) => [line.status, queryOf(line).get('account')]), describeRequests(loginLines)).toEqual([
        [200, 'writer'],
        [200, 'reader'],
      ]);
      for (const line of logins) expect(scopesOf(line), line.url).toEqual([]);
      // skopeo copy: GET /token naming the repository's scope directly (the password from the auth file).
      const pushTokens = tokenGets(writerLines);
      expect(pushTokens.map(scopesOf), describeRequests(writerLines)).toContainEqual(['repository:team/skopeo:pull,push']);
      expect(tokenPosts(writerLines), describeRequests(writerLines)).toEqual([]);
      for (const line of pushTokens) expect(queryOf(line).get('account'), line.url).toBe('writer');
    }
  });

  it('skopeo: reader copies out of team/app with --src-creds and lists its tags with --creds', async () => {
    const mark = berth.mark();
    const copied = await skopeo.run(
      ['copy', '--retry-times', '0', '--src-tls-verify=false', '--src-creds', creds(READER), `docker://${berth.host}/team/app:1`, `oci:${scratch.child('oci')}:app`],
      { secrets: [READER.password] },
    );
    expect(copied.code, output(copied)).toBe(0);
    const listed = await skopeo.run(['list-tags', '--retry-times', '0', '--tls-verify=false', '--creds', creds(READER), `docker://${berth.host}/team/app`], {
      secrets: [READER.password],
    });
    expect(listed.code, output(listed)).toBe(0);
    expect((JSON.parse(listed.stdout) as { Tags: string[] }).Tags).toEqual(['1']);
    const noCreds = await skopeo.run(['list-tags', '--retry-times', '0', '--tls-verify=false', `docker://${berth.host}/team/app`]);
    expect(noCreds.code, output(noCreds)).not.toBe(0);
    const lines = await berth.since(mark);
    for (const line of lines.filter((line) => line.url.startsWith('/v2/team/app/') && line.status === 200)) {
      expect(line.user, describeRequests([line])).toBe('reader');
    }
    if (mode === 'token') {
      expect(tokenGets(lines).map(scopesOf), describeRequests(lines)).toEqual(
        expect.arrayContaining([['repository:team/app:pull']]),
      );
    }
  });

  it('podman: logs in, pushes and pulls; reader may not push', async () => {
    const writerAuth = await podman.newAuthFile();
    const readerAuth = await podman.newAuthFile();
    const wrong = await podman.login(berth.host, WRITER.username, 'wrong-password', { authFile: writerAuth });
    expect(wrong.code, output(wrong)).not.toBe(0);
    expect((await podman.login(berth.host, WRITER.username, WRITER.password, { authFile: writerAuth })).code).toBe(0);
    expect((await podman.login(berth.host, READER.username, READER.password, { authFile: readerAuth })).code).toBe(0);

    const target = ref('team/podman:1');
    await podman.podmanOk(['tag', podmanImage, target]);
    const mark = berth.mark();
    const pushed = await podman.push(target, { authFile: writerAuth });
    expect(pushed.code, output(pushed)).toBe(0);
    const pushLines = await berth.since(mark);
    await podman.podmanOk(['rmi', target]);
    const pulled = await podman.pull(target, { authFile: readerAuth });
    expect(pulled.code, output(pulled)).toBe(0);
    expect((await podman.podmanOk(['image', 'inspect', '--format', '{{.Id}}', target])).stdout.trim()).toBe(
      image.configDigest.slice('sha256:'.length),
    );

    const readerTarget = ref('team/podman:reader');
    await podman.podmanOk(['tag', podmanImage, readerTarget]);
    const refused = await podman.push(readerTarget, { authFile: readerAuth });
    expect(refused.code, output(refused)).not.toBe(0);
    expect(output(refused)).toMatch(REFUSED);
    expect(await listTags(berth, 'team/podman')).toEqual(['1']);

    if (mode === 'token') {
      const gets = tokenGets(pushLines);
      expect(gets.map(scopesOf), describeRequests(pushLines)).toContainEqual(['repository:team/podman:pull,push']);
      for (const line of gets) expect(queryOf(line).get('account'), line.url).toBe('writer');
      expect(tokenPosts(pushLines), describeRequests(pushLines)).toEqual([]);
    }
  });

  it('ctr: pulls as reader and pushes as writer with -u; reader may not push', async () => {
    const source = ref('team/app:1');
    const anonymous = await containerd.pull(source);
    expect(anonymous.code, output(anonymous)).not.toBe(0);

    const mark = berth.mark();
    const pulled = await containerd.pull(source, { credentials: READER });
    expect(pulled.code, output(pulled)).toBe(0);
    expect(pulled.command).not.toContain(READER.password);
    const pullLines = await berth.since(mark);

    const target = ref('team/ctr:1');
    await containerd.ctrOk(['images', 'tag', '--force', source, target]);
    const pushed = await containerd.push(target, { credentials: WRITER });
    expect(pushed.code, output(pushed)).toBe(0);

    const readerTarget = ref('team/ctr:reader');
    await containerd.ctrOk(['images', 'tag', '--force', source, readerTarget]);
    const mark2 = berth.mark();
    const refused = await containerd.push(readerTarget, { credentials: READER });
    const refusedLines = await berth.since(mark2);
    expect(refused.code, output(refused)).not.toBe(0);
    // 403 in Basic mode. In token mode the 401 insufficient_scope on the manifest PUT makes
    // containerd 1.6 retry with a body it has already sent: it reports "io: read/write on closed pipe".
    expect(output(refused)).toMatch(mode === 'basic' ? /403 Forbidden/ : /read\/write on closed pipe|insufficient_scope|401/);
    const manifestPuts = refusedLines.filter((line) => line.method === 'PUT' && line.url === '/v2/team/ctr/manifests/reader');
    expect(manifestPuts.length, describeRequests(refusedLines)).toBeGreaterThan(0);
    for (const put of manifestPuts) expect([put.status, put.user]).toEqual([mode === 'basic' ? 403 : 401, 'reader']);
    expect(await listTags(berth, 'team/ctr')).toEqual(['1']);

    const lines = await berth.since(mark);
    if (mode === 'token') {
      // containerd posts the OAuth2 password grant form; no GET with Basic.
      expect(tokenPosts(pullLines).map((line) => line.status), describeRequests(pullLines)).toContain(200);
      expect(tokenGets(pullLines).filter((line) => queryOf(line).get('account') !== null), describeRequests(pullLines)).toEqual([]);
      // The form, seen through the recording proxy.
      const proxy = await startRecordingProxy(berth.port);
      try {
        const viaProxy = await containerd.pull(`${proxy.host}/team/app:1`, { credentials: READER });
        expect(viaProxy.code, output(viaProxy)).toBe(0);
        const trace = JSON.stringify(proxy.records, null, 1);
        const post = proxy.records.find((record) => record.method === 'POST' && record.url === '/token');
        expect(post?.status, trace).toBe(200);
        expect(post?.form, trace).toEqual({
          client_id: ['containerd-client'],
          grant_type: ['password'],
          password: ['***'],
          scope: ['repository:team/app:pull'],
          service: ['berth'],
          username: ['reader'],
        });
      } finally {
        await proxy.stop();
      }
    } else {
      expect(lines.filter((line) => line.url.startsWith('/v2/team/ctr/manifests/') && line.method === 'PUT').map((line) => [line.status, line.user]), describeRequests(lines)).toEqual(
        expect.arrayContaining([[201, 'writer']]),
      );
    }
  });
});
