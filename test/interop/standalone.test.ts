// The standalone server's contract with operators: flags, the ready line, one log line per request,
// data under the data directory, and a SIGTERM that lets in-flight requests finish.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { BERTH_MAIN } from '../support/servers.js';
import { generateSchema2Image, pushSchema2Image } from '../support/schema2-images.js';
import { SCHEMA1_SIGNED, libtrustKeyId, parsePrettyJws } from '../support/schema1-jws.js';

interface Spawned {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stdout: () => string;
  exited: Promise<number | null>;
}

const running: Spawned[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const server of running.splice(0)) {
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
    await server.exited;
  }
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function spawnServer(args: string[], env: Record<string, string> = {}): Promise<Spawned> {
  if (!existsSync(BERTH_MAIN)) throw new Error(`${BERTH_MAIN} is missing: run \`pnpm exec tsc -b\` first`);
  const child = spawn(process.execPath, [BERTH_MAIN, ...args], { env: { ...process.env, ...env } });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line:\n${output}`)), 20_000);
    const check = () => {
      const match = /listening on (http:\/\/[^\s"']+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve(match[1]!);
      }
    };
    child.stdout.on('data', check);
    void exited.then(() => reject(new Error(`exited before ready:\n${output}`)));
  });
  const spawned = { child, url, stdout: () => output, exited };
  running.push(spawned);
  return spawned;
}

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-standalone-'));
  dirs.push(dir);
  return dir;
}

describe('standalone server', () => {
  it('takes host, port and data from flags and keeps its data there', async () => {
    const dir = await dataDir();
    const server = await spawnServer(['--host', '127.0.0.1', '--port', '0', '--data', dir]);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const blob = randomBytes(32);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const pushed = await fetch(`${server.url}/v2/app/blobs/uploads/?digest=${digest}`, { method: 'POST', body: blob });
    expect(pushed.status).toBe(201);
    expect(existsSync(join(dir, 'berth.sqlite'))).toBe(true);
    expect(existsSync(join(dir, 'blobs'))).toBe(true);
  });

  it('takes them from PORT, HOST and BERTH_DATA, flags winning', async () => {
    const dir = await dataDir();
    const server = await spawnServer(['--port', '0'], { PORT: '1', HOST: '127.0.0.1', BERTH_DATA: dir });
    expect((await fetch(`${server.url}/v2/`)).status).toBe(200);
    expect(existsSync(join(dir, 'berth.sqlite'))).toBe(true);
  });

  it('writes one structured log line per request', async () => {
    const server = await spawnServer(['--port', '0', '--data', await dataDir()]);
    await fetch(`${server.url}/v2/`);
    await fetch(`${server.url}/v2/app/manifests/missing`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const lines = server
      .stdout()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => typeof entry['method'] === 'string');
    expect(lines.map((entry) => [entry['method'], entry['url'], entry['status']])).toEqual([
      ['GET', '/v2/', 200],
      ['GET', '/v2/app/manifests/missing', 404],
    ]);
    expect(typeof lines[0]!['ms']).toBe('number');
  });

  it('finishes an in-flight upload on SIGTERM, then exits cleanly', async () => {
    const server = await spawnServer(['--port', '0', '--data', await dataDir()]);
    const started = await fetch(`${server.url}/v2/app/blobs/uploads/`, { method: 'POST' });
    const location = started.headers.get('location')!;
    const chunk = randomBytes(64 * 1024);

    // Send half the chunk, signal the server, then send the rest: the request must still complete.
    const response = new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}${location}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(chunk.length) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(chunk.subarray(0, chunk.length / 2), () => {
        setTimeout(() => {
          server.child.kill('SIGTERM');
          setTimeout(() => req.end(chunk.subarray(chunk.length / 2)), 300);
        }, 100);
      });
    });
    expect(await response).toBe(202);
    expect(await server.exited).toBe(0);
    await expect(fetch(`${server.url}/v2/`)).rejects.toThrow();
  });

  it('signs schema1 with the configured key file, and keeps a generated key across restarts', async () => {
    const dir = await dataDir();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyFile = join(dir, 'schema1-key.pem');
    await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const kidOf = async (url: string, tag: string) => {
      const response = await fetch(`${url}/v2/app/manifests/${tag}`, { headers: { Accept: SCHEMA1_SIGNED } });
      expect(response.headers.get('content-type')).toBe(SCHEMA1_SIGNED);
      const jws = parsePrettyJws(Buffer.from(await response.arrayBuffer()));
      expect(jws.signatures).toHaveLength(1);
      return jws.signatures[0]!.header.jwk!.kid;
    };

    const configured = await spawnServer(['--port', '0', '--data', dir, '--schema1-key', keyFile]);
    await pushSchema2Image(configured.url, generateSchema2Image(1, { repository: 'app', tag: 'one' }));
    expect(await kidOf(configured.url, 'one')).toBe(libtrustKeyId(publicKey));
    configured.child.kill('SIGTERM');
    await configured.exited;

    const generated = await spawnServer(['--port', '0', '--data', dir]);
    await pushSchema2Image(generated.url, generateSchema2Image(2, { repository: 'app', tag: 'two' }));
    const kid = await kidOf(generated.url, 'two');
    expect(kid).not.toBe(libtrustKeyId(publicKey));
    generated.child.kill('SIGTERM');
    await generated.exited;
    const restarted = await spawnServer(['--port', '0', '--data', dir]);
    expect(await kidOf(restarted.url, 'two')).toBe(kid);
  });

  it('refuses schema1 pushes with --no-schema1-push', async () => {
    const server = await spawnServer(['--port', '0', '--data', await dataDir(), '--no-schema1-push']);
    // A valid signed schema1 manifest whose layers the repository has: berth's own conversion of an image.
    await pushSchema2Image(server.url, generateSchema2Image(3, { repository: 'app', tag: 'v1' }));
    const converted = await fetch(`${server.url}/v2/app/manifests/v1`, { headers: { Accept: SCHEMA1_SIGNED } });
    expect(converted.status).toBe(200);
    const response = await fetch(`${server.url}/v2/app/manifests/again`, {
      method: 'PUT',
      headers: { 'Content-Type': SCHEMA1_SIGNED },
      body: Buffer.from(await converted.arrayBuffer()),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { errors: Array<{ code: string; message: string }> };
    expect(body.errors[0]!.code).toBe('UNSUPPORTED');
    expect(body.errors[0]!.message).toContain('schema1');
  });

  it('discards uploads nobody finished within --upload-ttl', async () => {
    const dir = await dataDir();
    // 0.0005 hours = 1.8 s; the sweep runs every quarter of that.
    const server = await spawnServer(['--port', '0', '--data', dir, '--upload-ttl', '0.0005']);
    const started = await fetch(`${server.url}/v2/app/blobs/uploads/`, { method: 'POST' });
    const location = started.headers.get('location')!;
    expect((await fetch(`${server.url}${location}`, { method: 'PATCH', body: randomBytes(100) })).status).toBe(202);
    expect((await fetch(`${server.url}${location}`)).status).toBe(204);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const gone = await fetch(`${server.url}${location}`);
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('BLOB_UPLOAD_UNKNOWN');
    expect(await readdir(join(dir, 'blobs', 'uploads'))).toEqual([]);
    expect(server.stdout()).toContain('discarded stale uploads');
  });

  it('refuses an invalid port', async () => {
    const child = spawn(process.execPath, [BERTH_MAIN, '--port', 'nope']);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).not.toBe(0);
  });
});
