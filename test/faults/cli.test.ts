// The `berth` command line through the real built binary (examples/standalone/dist/cli.js): exit
// codes, help, one-line errors naming the flag or the config file's path, precedence (flags, then
// environment, then the config file, then defaults) seen in `config print` and in what the server
// does, htpasswd files that Apache's htpasswd verifies, and keys that the server signs with.
import { execFileSync, spawn } from 'node:child_process';
import { readFile, stat, writeFile, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEMA1_SIGNED } from '../support/schema1-jws.js';
import { generateSchema2Image, pushSchema2Image } from '../support/schema2-images.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { BERTH_CLI, freePort, watch } from '../support/servers.js';

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the binary to its end (a command, or a serve that fails to start). */
function berth(args: readonly string[], options: { env?: Record<string, string>; input?: string; cwd?: string } = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BERTH_CLI, ...args], {
      cwd: options.cwd ?? scratch.path,
      env: { ...cleanEnv(), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth ${args.join(' ')} still running after 30 s:\n${stderr}${stdout}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** The caller's environment without any BERTH_ or legacy setting that would change what is tested. */
function cleanEnv(): Record<string, string> {
  const legacy = new Set(['PORT', 'HOST', 'LOG_LEVEL']);
  return Object.fromEntries(Object.entries(process.env).filter(([name, value]) => value !== undefined && !name.startsWith('BERTH_') && !legacy.has(name))) as Record<
    string,
    string
  >;
}

/** Exit status 2 and exactly one `berth: ` line on stderr, no stack trace, matching every pattern. */
function expectUsageError(outcome: Outcome, ...patterns: RegExp[]): void {
  expect(outcome.code, outcome.stderr).toBe(2);
  const lines = outcome.stderr.split('\n').filter((line) => line !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^berth: /);
  expect(outcome.stderr).not.toMatch(/\n\s+at /);
  for (const pattern of patterns) expect(lines[0]).toMatch(pattern);
}

/** Starts `berth serve` and waits for its listening line; the caller stops it. */
async function serve(args: readonly string[], env: Record<string, string> = {}, cwd = scratch.path) {
  const child = spawn(process.execPath, [BERTH_CLI, 'serve', ...args], { cwd, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const watched = watch(child, 'berth');
  const url = await watched.waitForLine((line) => /listening on (http:\/\/[^\s"']+)/.exec(line)?.[1]);
  running.push(watched);
  return { url, logs: watched.logs, stop: watched.stop };
}

let scratch: Scratch;
const running: Array<{ stop(): Promise<void> }> = [];
beforeAll(async () => {
  scratch = await createScratch('berth-cli-');
});
afterAll(async () => {
  for (const server of running.splice(0)) await server.stop();
  await scratch?.dispose();
});

describe('help, version and mistakes on the command line', () => {
  it('prints the version from package.json', async () => {
    const manifest = JSON.parse(await readFile(new URL('../../examples/standalone/package.json', import.meta.url), 'utf8')) as { version: string };
    const outcome = await berth(['--version']);
    expect(outcome).toMatchObject({ code: 0, stdout: `berth ${manifest.version}\n`, stderr: '' });
  });

  it('prints help on the top level and for every command, exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['serve', '--help'], ['--port', '1', '-h'], ['keygen', '--help'], ['user', '-h'], ['config', '--help'], ['config', 'check', '--help']]) {
      const outcome = await berth(args);
      expect(outcome.code, args.join(' ')).toBe(0);
      expect(outcome.stdout).toMatch(/^Usage: berth/);
      expect(outcome.stderr).toBe('');
    }
    const serveHelp = (await berth(['serve', '--help'])).stdout;
    // Every flag with its variable, its config key and its default.
    expect(serveHelp).toMatch(/--port N .*\n.*BERTH_PORT, PORT; file: listen\.port; default: 5000/);
    expect(serveHelp).toMatch(/--upload-ttl DURATION .*\n.*BERTH_UPLOAD_TTL, BERTH_UPLOAD_TTL_HOURS; file: storage\.uploadTtl; default: 7d/);
  });

  it('refuses unknown flags, missing and bad values, unknown commands and missing arguments with one line, exit 2', async () => {
    expectUsageError(await berth(['--no-such-flag']), /unknown flag --no-such-flag/);
    expectUsageError(await berth(['serve', '--port']), /--port needs a value/);
    expectUsageError(await berth(['--port', 'nope']), /invalid --port "nope": expected an integer 0-65535/);
    expectUsageError(await berth(['--log-level', 'verbose']), /invalid --log-level "verbose": expected one of fatal, error, warn, info, debug, trace, silent/);
    expectUsageError(await berth(['--upload-ttl', 'soon']), /invalid --upload-ttl "soon": expected a duration .* bare number is hours/);
    expectUsageError(await berth([], { env: { BERTH_TRUST_PROXY: 'yes' } }), /BERTH_TRUST_PROXY \(--trust-proxy\) "yes": expected true, false, 1 or 0/);
    expectUsageError(await berth(['--http2']), /--http2 needs TLS/);
    expectUsageError(await berth(['frobnicate']), /unknown command "frobnicate"/);
    expectUsageError(await berth(['keygen']), /keygen needs the kind of key/);
    expectUsageError(await berth(['user', 'add', '--htpasswd', 'x']), /user add needs a user NAME/);
    expectUsageError(await berth(['user', 'add', 'alice']), /user add needs --htpasswd FILE/);
    expectUsageError(await berth(['config', 'check']), /config check needs a FILE/);
  });
});

describe('a config file', () => {
  it('is checked whole: every problem named by its path, exit 2', async () => {
    const file = join(scratch.path, 'bad.yml');
    await writeFile(
      file,
      ['listen:', '  port: 70000', '  colour: blue', 'storage:', '  uploadTtl: soon', 'auth:', '  mode: basic', '  htpasswd: missing.htpasswd', 'ui:', '  theme: dark', ''].join('\n'),
    );
    const outcome = await berth(['config', 'check', file]);
    expect(outcome.code).toBe(2);
    const lines = outcome.stderr.split('\n').filter((line) => line !== '');
    expect(lines).toEqual([
      `berth: ${file}: listen.port: expected an integer 0-65535`,
      `berth: ${file}: listen.colour: unknown key (see berth config print for the keys)`,
      expect.stringMatching(new RegExp(`^berth: ${file}: storage\\.uploadTtl: expected a duration`)),
      `berth: ${file}: auth.htpasswd: file not found (${join(scratch.path, 'missing.htpasswd')})`,
      `berth: ${file}: ui.theme: unknown key (see berth config print for the keys)`,
    ]);
    // serve refuses it the same way, before anything is written.
    const data = join(scratch.path, 'bad-data');
    const served = await berth(['--config', file, '--data', data, '--port', '0']);
    expect(served.code).toBe(2);
    expect(served.stderr).toContain('listen.port: expected an integer 0-65535');
    await expect(stat(data)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('passes a good YAML or JSON file, and refuses what needs a setting it lacks', async () => {
    const htpasswd = join(scratch.path, 'empty.htpasswd');
    await writeFile(htpasswd, '');
    const yaml = join(scratch.path, 'good.yaml');
    await writeFile(yaml, `listen:\n  port: 5820\n  idleTimeout: 2m\nauth:\n  mode: basic\n  htpasswd: empty.htpasswd\nwebhooks: []\n`);
    expect(await berth(['config', 'check', yaml])).toMatchObject({ code: 0, stdout: `${yaml}: ok\n` });
    const json = join(scratch.path, 'good.json');
    await writeFile(json, JSON.stringify({ storage: { uploadTtl: 48, databaseWait: '1m' }, log: { level: 'debug' } }));
    expect(await berth(['config', 'check', json])).toMatchObject({ code: 0 });
    const lacking = join(scratch.path, 'lacking.yml');
    await writeFile(lacking, 'auth:\n  mode: basic\n');
    expectUsageError(await berth(['config', 'check', lacking]), /--auth basic needs --htpasswd FILE \(auth\.htpasswd in a config file\)/);
    expectUsageError(await berth(['config', 'check', join(scratch.path, 'absent.yml')]), /absent\.yml: file not found/);
  });
});

describe('precedence: flags, then environment, then the config file, then defaults', () => {
  let file: string;
  beforeAll(async () => {
    file = join(scratch.path, 'precedence.yml');
    await writeFile(file, 'listen:\n  port: 1111\nstorage:\n  uploadTtl: 2d\n  database: postgres://berth:fIle-s3cret@db.example:5432/berth\n');
  });

  /** The YAML line of a key in `config print`'s output, e.g. `port: 3333 # --port`. */
  async function printed(args: string[], env: Record<string, string> = {}): Promise<string> {
    const outcome = await berth(['config', 'print', ...args], { env });
    expect(outcome.code, outcome.stderr).toBe(0);
    return outcome.stdout;
  }

  it('in config print, each value with its source', async () => {
    expect(await printed([])).toMatch(/^  port: 5000 # default$/m);
    expect(await printed(['--config', file])).toMatch(/^  port: 1111 # config file$/m);
    expect(await printed([], { BERTH_CONFIG: file })).toMatch(/^  port: 1111 # config file$/m);
    expect(await printed(['--config', file], { PORT: '2222' })).toMatch(/^  port: 2222 # PORT$/m);
    // The BERTH_ name wins over the name kept from before.
    expect(await printed(['--config', file], { PORT: '2222', BERTH_PORT: '2223' })).toMatch(/^  port: 2223 # BERTH_PORT$/m);
    expect(await printed(['--config', file, '--port', '3333'], { BERTH_PORT: '2223' })).toMatch(/^  port: 3333 # --port$/m);
    expect(await printed(['--config', file])).toMatch(/^  uploadTtl: 2d # config file$/m);
    expect(await printed(['--config', file], { BERTH_UPLOAD_TTL_HOURS: '36' })).toMatch(/^  uploadTtl: 36h # BERTH_UPLOAD_TTL_HOURS$/m);
    expect(await printed([], { BERTH_SCHEMA1_PUSH: 'false' })).toMatch(/^    push: false # BERTH_SCHEMA1_PUSH$/m);
    expect(await printed(['--no-schema1-push'])).toMatch(/^    push: false # --schema1-push$/m);
    expect(await printed(['--idle-timeout', '90'])).toMatch(/^  idleTimeout: 90s # --idle-timeout$/m);
  });

  it('prints a database password masked', async () => {
    const fromFile = await printed(['--config', file]);
    expect(fromFile).toContain('database: postgres://berth:***@db.example:5432/berth # config file');
    expect(fromFile).not.toContain('fIle-s3cret');
    const fromEnv = await printed([], { BERTH_DATABASE_URL: 'postgres://u:eNv-s3cret@h/db' });
    expect(fromEnv).toContain('postgres://u:***@h/db # BERTH_DATABASE_URL');
    expect(fromEnv).not.toContain('eNv-s3cret');
  });

  it('in what the server does: the port it listens on and the data directory it fills', async () => {
    const [filePort, envPort, flagPort] = [await freePort(), await freePort(), await freePort()];
    const dir = join(scratch.path, 'served');
    await mkdir(dir);
    // Relative paths in the file are relative to the file.
    await writeFile(join(dir, 'berth.yml'), `listen:\n  port: ${filePort}\nstorage:\n  data: ./from-file\n`);
    const elsewhere = scratch.path;
    const fromFile = await serve(['--config', join(dir, 'berth.yml')], {}, elsewhere);
    expect(fromFile.url).toBe(`http://127.0.0.1:${filePort}`);
    expect((await fetch(`${fromFile.url}/v2/`)).status).toBe(200);
    expect(await readdir(join(dir, 'from-file'))).toEqual(expect.arrayContaining(['berth.sqlite', 'blobs']));
    await fromFile.stop();
    const fromEnv = await serve(['--config', join(dir, 'berth.yml')], { BERTH_PORT: String(envPort) });
    expect(fromEnv.url).toBe(`http://127.0.0.1:${envPort}`);
    await fromEnv.stop();
    const fromFlag = await serve(['--config', join(dir, 'berth.yml'), '--port', String(flagPort)], { BERTH_PORT: String(envPort) });
    expect(fromFlag.url).toBe(`http://127.0.0.1:${flagPort}`);
    await fromFlag.stop();
  });
});

describe('berth user', () => {
  it('writes bcrypt entries htpasswd verifies, replaces and removes users, keeps other lines, mode 0600', async () => {
    const file = join(scratch.path, 'users.htpasswd');
    const add = (name: string, password: string) => berth(['user', 'add', name, '--htpasswd', file, '--password-stdin'], { input: `${password}\n` });
    expect((await add('alice', 'first-s3cret')).code).toBe(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toMatch(/^alice:\$2y\$10\$[./A-Za-z0-9]{53}\n$/);
    const verify = (name: string, password: string) => {
      try {
        execFileSync('htpasswd', ['-vb', file, name, password], { stdio: 'pipe' });
        return true;
      } catch {
        return false;
      }
    };
    expect(verify('alice', 'first-s3cret')).toBe(true);
    expect(verify('alice', 'wrong')).toBe(false);

    await writeFile(file, `# team\n${await readFile(file, 'utf8')}`);
    expect((await add('bob', 'bobs-s3cret')).code).toBe(0);
    expect((await add('alice', 'second-s3cret')).code).toBe(0);
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    expect(lines.map((line) => line.split(':')[0])).toEqual(['# team', 'alice', 'bob']);
    expect(verify('alice', 'second-s3cret')).toBe(true);
    expect(verify('alice', 'first-s3cret')).toBe(false);
    expect(verify('bob', 'bobs-s3cret')).toBe(true);

    expect(await berth(['user', 'remove', 'bob', '--htpasswd', file])).toMatchObject({ code: 0 });
    expect((await readFile(file, 'utf8')).trimEnd().split('\n').map((line) => line.split(':')[0])).toEqual(['# team', 'alice']);
    expect(await berth(['user', 'remove', 'bob', '--htpasswd', file])).toMatchObject({ code: 1, stderr: `berth: no user "bob" in ${file}\n` });
    expectUsageError(await berth(['user', 'add', 'carol', '--htpasswd', file]), /--password-stdin/);
    expectUsageError(await berth(['user', 'add', 'anonymous', '--htpasswd', file, '--password-stdin'], { input: 'x\n' }), /cannot be a user name/);
  });

  it('makes a file --auth basic accepts, and no password or Authorization reaches the log', async () => {
    const file = join(scratch.path, 'served.htpasswd');
    expect((await berth(['user', 'add', 'carol', '--htpasswd', file, '--password-stdin'], { input: 'carols-s3cret\n' })).code).toBe(0);
    const server = await serve(['--port', '0', '--data', join(scratch.path, 'basic-data'), '--auth', 'basic', '--htpasswd', file]);
    const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`, 'user-agent': 'berth-cli-test/1' });
    const good = await fetch(`${server.url}/v2/`, { headers: basic('carol', 'carols-s3cret') });
    expect(good.status).toBe(200);
    const requestId = good.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f]{16}$/);
    expect((await fetch(`${server.url}/v2/`, { headers: basic('carol', 'wrong-s3cret') })).status).toBe(401);
    const bearer = await fetch(`${server.url}/v2/`, { headers: { authorization: 'Bearer not-a-real-t0ken' } });
    expect(bearer.status).toBe(401);
    await server.stop();
    const logLines = server
      .logs()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const line = logLines.find((entry) => entry['requestId'] === requestId);
    expect(line).toMatchObject({ method: 'GET', url: '/v2/', status: 200, user: 'carol', remote: '127.0.0.1', userAgent: 'berth-cli-test/1' });
    expect(logLines.filter((entry) => entry['url'] === '/v2/').map((entry) => entry['user'])).toEqual(['carol', 'anonymous', 'anonymous']);
    for (const secret of ['carols-s3cret', 'wrong-s3cret', 'not-a-real-t0ken', Buffer.from('carol:carols-s3cret').toString('base64'), 'Basic ', 'Bearer ']) {
      expect(server.logs()).not.toContain(secret);
    }
    // Start-up and shutdown lines are JSON too.
    expect(logLines.map((entry) => entry['msg'])).toEqual(expect.arrayContaining([expect.stringMatching(/^listening on http:\/\//), 'finishing in-flight requests', 'stopped']));
  });
});

describe('berth keygen', () => {
  it('writes a key file 0600, refuses to overwrite it without --force, or prints the key', async () => {
    const file = join(scratch.path, 'schema1.pem');
    const first = await berth(['keygen', 'schema1', '--out', file]);
    expect(first.code, first.stderr).toBe(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const pem = await readFile(file, 'utf8');
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expectUsageError(await berth(['keygen', 'schema1', '--out', file]), /exists: .*--force/);
    expect(await readFile(file, 'utf8')).toBe(pem);
    expect((await berth(['keygen', 'schema1', '--out', file, '--force'])).code).toBe(0);
    expect(await readFile(file, 'utf8')).not.toBe(pem);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const printed = await berth(['keygen', 'token']);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/);
  });

  it('makes keys the server signs with: the token key is the one the token service publishes', async () => {
    const key = join(scratch.path, 'token.pem');
    const generated = await berth(['keygen', 'token', '--out', key]);
    const kid = /key ID ([A-Z0-9:]+)/.exec(generated.stderr)?.[1];
    expect(kid).toMatch(/^([A-Z0-9]{4}:){11}[A-Z0-9]{4}$/);
    const htpasswd = join(scratch.path, 'token.htpasswd');
    await berth(['user', 'add', 'dave', '--htpasswd', htpasswd, '--password-stdin'], { input: 'daves-s3cret\n' });
    const server = await serve(['--port', '0', '--data', join(scratch.path, 'token-data'), '--auth', 'token', '--htpasswd', htpasswd, '--token-signing-key', key]);
    const jwks = (await (await fetch(`${server.url}/token/jwks.json`)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((entry) => entry.kid)).toEqual([kid]);
    await server.stop();
  });

  it('makes a schema1 key the server signs converted manifests with', async () => {
    const key = join(scratch.path, 'signing.pem');
    const kid = /key ID ([A-Z0-9:]+)/.exec((await berth(['keygen', 'schema1', '--out', key])).stderr)?.[1];
    const server = await serve(['--port', '0', '--data', join(scratch.path, 'schema1-data'), '--schema1-key', key]);
    // A schema2 image, then pulled as schema1: the signature's key is the generated one.
    const image = generateSchema2Image(1, { repository: 'keyed', tag: 'latest' });
    await pushSchema2Image(server.url, image);
    const pulled = await fetch(`${server.url}/v2/keyed/manifests/latest`, { headers: { accept: SCHEMA1_SIGNED } });
    expect(pulled.status).toBe(200);
    const body = (await pulled.json()) as { signatures: Array<{ header: { jwk: { kid: string } } }> };
    expect(body.signatures[0]!.header.jwk.kid).toBe(kid);
    await server.stop();
  });
});
