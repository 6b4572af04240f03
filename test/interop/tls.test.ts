// berth over HTTPS with a throwaway CA: skopeo (--cert-dir, --tls-verify=true) and a Docker engine
// (the CA under /etc/docker/certs.d, no insecure-registries entry for the address) push and pull;
// without the CA both refuse the certificate. SIGHUP re-reads the certificate; a bad replacement
// keeps the old one serving; bad files stop the start with one line.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, runEveryStep, systemPath, writeClientImage } from '../support/client-image.js';
import { startDockerEngine, type DockerEngine } from '../support/docker-engine.js';
import { readOciLayout } from '../support/image-readback.js';
import { writeImageLayout } from '../support/oci-image.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { BERTH_MAIN, startBerth, type RunningBerth } from '../support/servers.js';
import { createSkopeo, dockerRef, SkopeoError, type Skopeo } from '../support/skopeo.js';
import { createTestCa, type IssuedCertificate, type TestCa } from '../support/test-ca.js';

let scratch: Scratch;
let ca: TestCa;
/** Holds only ca.crt: what `--cert-dir` and certs.d expect. */
let trustDir: string;

beforeAll(async () => {
  scratch = await createScratch('berth-tls-');
  ca = await createTestCa(scratch.child('ca'));
  trustDir = scratch.child('trust');
  await mkdir(trustDir);
  await copyFile(ca.certPath, join(trustDir, 'ca.crt'));
});

afterAll(async () => {
  await scratch?.dispose();
});

/** The serial number of the certificate a new TLS connection to `url` is shown (verified against the CA). */
function servedSerial(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca: ca.certPem, servername: 'localhost' }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial.toUpperCase());
    });
    socket.once('error', reject);
  });
}

/** Resolves once `pattern` has appeared `count` times in the server's output (the tail kept by the harness). */
async function logLine(server: RunningBerth, pattern: RegExp, count = 1): Promise<void> {
  const global = new RegExp(pattern.source, 'g');
  while ((server.logs().match(global)?.length ?? 0) < count) {
    const exit = await Promise.race([server.exited, new Promise((resolve) => setTimeout(resolve, 50, undefined))]);
    if (exit !== undefined) throw new Error(`berth exited while waiting for ${pattern}:\n${server.logs()}`);
  }
}

/** Copies an issued pair over the files the server was started with (as a renewal does). */
async function install(files: { certPath: string; keyPath: string }, served: { certPath: string; keyPath: string }): Promise<void> {
  await copyFile(files.certPath, served.certPath);
  await copyFile(files.keyPath, served.keyPath);
}

describe('berth with --tls-cert and --tls-key', () => {
  let berth: RunningBerth;
  let skopeo: Skopeo;
  let first: IssuedCertificate;
  let served: { certPath: string; keyPath: string };

  beforeAll(async () => {
    first = await ca.issue('first', 0x1001);
    const dir = scratch.child('served');
    await mkdir(dir);
    served = { certPath: join(dir, 'server.crt'), keyPath: join(dir, 'server.key') };
    await install(first, served);
    skopeo = await createSkopeo({ certDir: trustDir });
    berth = await startBerth({ args: ['--tls-cert', served.certPath, '--tls-key', served.keyPath] });
  });

  afterAll(async () => {
    await runEveryStep([() => berth?.stop(), () => skopeo?.dispose()]);
  });

  it('announces an https:// address and serves the certificate it was given', async () => {
    expect(berth.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await servedSerial(berth.url)).toBe(first.serialNumber);
  });

  it('skopeo with --cert-dir and --tls-verify=true pushes and pulls an image byte for byte', async () => {
    const layout = await writeImageLayout({ dir: scratch.child('src'), layers: 2, seed: 31, tag: 'v1' });
    const pushed = await skopeo.copy(layout.ref, dockerRef(berth.host, 'tls/app', 'v1'), { format: 'oci' });
    expect(pushed.digest).toBe(layout.root.digest);
    const back = scratch.child('back');
    await skopeo.copy(dockerRef(berth.host, 'tls/app', 'v1'), `oci:${back}:v1`);
    const pulled = await readOciLayout(back, 'v1');
    expect(pulled.manifest.equals(layout.root.bytes)).toBe(true);
    for (const [digest, bytes] of layout.blobs) {
      if (digest === layout.root.digest) continue;
      expect(pulled.blobs.get(digest)?.equals(bytes), `blob ${digest}`).toBe(true);
    }
  });

  it('skopeo without the CA refuses the certificate', async () => {
    const emptyDir = scratch.child('no-ca');
    await mkdir(emptyDir);
    const untrusting = await createSkopeo({ certDir: emptyDir });
    try {
      const error = await untrusting.inspectRaw(dockerRef(berth.host, 'tls/app', 'v1')).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toBeInstanceOf(SkopeoError);
      expect((error as SkopeoError).stderr).toMatch(/x509: certificate signed by unknown authority/);
    } finally {
      await untrusting.dispose();
    }
  });

  it('re-reads the certificate on SIGHUP, and keeps the old one when the new files are bad', async () => {
    const renewed = await ca.issue('renewed', 0x2002);
    await install(renewed, served);
    process.kill(berth.pid, 'SIGHUP');
    await logLine(berth, /reloaded TLS certificate/);
    expect(await servedSerial(berth.url)).toBe(renewed.serialNumber);

    // A certificate whose key is not the one in the key file: refused, the renewed pair keeps serving.
    const mismatched = await ca.issue('mismatched', 0x3003);
    await copyFile(mismatched.certPath, served.certPath);
    process.kill(berth.pid, 'SIGHUP');
    await logLine(berth, /TLS certificate not reloaded, still serving the previous one: --tls-key .* is not the key of the certificate/);
    expect(await servedSerial(berth.url)).toBe(renewed.serialNumber);

    // A truncated file (a renewal caught half-written): refused as well.
    await writeFile(served.certPath, '-----BEGIN CERTIFICATE-----\nMIIB\n');
    process.kill(berth.pid, 'SIGHUP');
    await logLine(berth, /TLS certificate not reloaded/, 2);
    expect(await servedSerial(berth.url)).toBe(renewed.serialNumber);
    // Still a working registry over the kept certificate.
    expect((await skopeo.inspectRaw(dockerRef(berth.host, 'tls/app', 'v1'))).length).toBeGreaterThan(0);
    await install(renewed, served);
  });
});

describe('connection bounds over HTTPS', () => {
  let berth: RunningBerth;

  beforeAll(async () => {
    const pair = await ca.issue('bounds', 0x8008);
    berth = await startBerth({ args: ['--tls-cert', pair.certPath, '--tls-key', pair.keyPath, '--idle-timeout', '1', '--headers-timeout', '1'] });
  });

  afterAll(async () => {
    await berth?.stop();
  });

  /** Resolves when the server closes the socket (or it errors), with the bytes it sent before. */
  const closedBy = (socket: NodeJS.ReadWriteStream & { once(event: 'close', listener: () => void): unknown }) =>
    new Promise<string>((resolve) => {
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      socket.once('close', () => resolve(received));
    });

  it('closes a TCP connection that never starts the TLS handshake after the headers timeout', async () => {
    const { hostname, port } = new URL(berth.url);
    const socket = connectTcp(Number(port), hostname);
    expect(await closedBy(socket)).toBe('');
  });

  it('cuts a PATCH whose body stops arriving after the idle timeout; the upload keeps its offset', async () => {
    const { hostname, port } = new URL(berth.url);
    const started = await fetchOverTls(berth.url, 'POST', '/v2/tls/stall/blobs/uploads/');
    expect(started.status).toBe(202);
    const location = new URL(started.headers.location!, berth.url);
    const socket = connect({ host: hostname, port: Number(port), ca: ca.certPem, servername: 'localhost' });
    const closed = closedBy(socket);
    socket.write(`PATCH ${location.pathname}${location.search} HTTP/1.1\r\nHost: ${berth.host}\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(10)}`);
    expect(await closed).toBe('');
    await logLine(berth, /closing a connection whose request body stopped arriving/);
    const status = await fetchOverTls(berth.url, 'GET', `${location.pathname}${location.search}`);
    expect(status.status).toBe(204);
    expect(status.headers.range).toBe('0-0');
  });
});

/** One HTTP/1.1 request over TLS trusting the CA. */
function fetchOverTls(base: string, method: string, path: string): Promise<{ status: number; headers: Record<string, string | undefined> }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(new URL(path, base), { method, ca: ca.certPem, servername: 'localhost', agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers as Record<string, string | undefined> }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('start-up checks of the certificate files', () => {
  let pair: IssuedCertificate;
  let other: IssuedCertificate;

  beforeAll(async () => {
    [pair, other] = await Promise.all([ca.issue('startup', 0x4004), ca.issue('startup-other', 0x5005)]);
  });

  /** Runs the server with these flags; it must refuse to start with exit 2 and one line on stderr. */
  async function refusal(args: string[]): Promise<string> {
    const dataDir = scratch.child('data');
    const result = await runCommand(process.execPath, [BERTH_MAIN, '--host', '127.0.0.1', '--port', '0', '--data', dataDir, ...args], {
      env: { PATH: systemPath() },
      timeoutMs: 30_000,
    });
    expect(result.code, result.stdout + result.stderr).toBe(2);
    expect(result.stdout).not.toMatch(/listening on/);
    // Checked before anything is written: not even the data directory was made.
    expect(existsSync(dataDir)).toBe(false);
    const lines = result.stderr.trim().split('\n');
    expect(lines, result.stderr).toHaveLength(1);
    return lines[0]!;
  }

  it('names a missing file', async () => {
    const missing = join(scratch.path, 'missing.crt');
    expect(await refusal(['--tls-cert', missing, '--tls-key', pair.keyPath])).toBe(`berth: --tls-cert: file not found (${missing})`);
  });

  it('names a key that is not the certificate\'s', async () => {
    expect(await refusal(['--tls-cert', pair.certPath, '--tls-key', other.keyPath])).toBe(
      `berth: --tls-key ${other.keyPath} is not the key of the certificate in --tls-cert ${pair.certPath}; give the matching pair`,
    );
  });

  it('names a file that is not PEM', async () => {
    const notPem = join(scratch.path, 'not-pem.crt');
    await writeFile(notPem, 'hello\n');
    expect(await refusal(['--tls-cert', notPem, '--tls-key', pair.keyPath])).toMatch(/^berth: --tls-cert .*not-pem\.crt: not a PEM certificate/);
    expect(await refusal(['--tls-cert', pair.certPath, '--tls-key', notPem])).toMatch(/^berth: --tls-key .*not-pem\.crt: not an unencrypted PEM private key/);
  });

  it('wants both files, and TLS for --http2', async () => {
    expect(await refusal(['--tls-cert', pair.certPath])).toMatch(/--tls-cert and --tls-key go together/);
    expect(await refusal(['--http2'])).toMatch(/--http2 needs TLS/);
  });
});

/**
 * This machine's first IPv4 address outside loopback: Docker treats every 127.0.0.0/8 registry as
 * insecure (it would skip verification and never read certs.d), so the engine must reach berth on
 * an address that is not loopback to show that the CA is what makes it trust the certificate.
 */
function outsideAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return undefined;
}

const dockerAddress = outsideAddress();
/** Where dockerd (run as root) looks for a registry's CA: `<dir>/<host:port>/ca.crt`. */
const CERTS_D = '/etc/docker/certs.d';

describe.skipIf(dockerAddress === undefined)('a Docker engine trusting the CA through certs.d', () => {
  let engine: DockerEngine;
  let berth: RunningBerth;
  let certsDir: string | undefined;
  let dockerImage: string;
  let configDigest: string;

  beforeAll(async () => {
    const pair = await ca.issue('docker', 0x6006, [dockerAddress!]);
    const image = await writeClientImage({ path: scratch.child('tiny.tar'), seed: 41 });
    configDigest = image.configDigest;
    // No insecure registries beyond Docker's built-in 127.0.0.0/8, which the address is outside of.
    [engine, berth] = await Promise.all([
      startDockerEngine({ insecureRegistries: [] }),
      startBerth({ args: ['--host', dockerAddress!, '--tls-cert', pair.certPath, '--tls-key', pair.keyPath] }),
    ]);
    dockerImage = await engine.load(image.path);
  });

  afterAll(async () => {
    await runEveryStep([
      () => engine?.stop(),
      () => berth?.stop(),
      async () => {
        if (certsDir === undefined) return;
        await rm(certsDir, { recursive: true, force: true });
        // certs.d itself too, when this test was what created it.
        await rmdir(CERTS_D).catch(() => undefined);
      },
    ]);
  });

  it('refuses the registry without the CA, then pushes and pulls with it in /etc/docker/certs.d', async () => {
    const ref = `${berth.host}/tls/docker:1`;
    await engine.dockerOk(['tag', dockerImage, ref]);
    const refused = await engine.docker(['push', ref]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/x509: certificate signed by unknown authority/);

    certsDir = join(CERTS_D, berth.host);
    await mkdir(certsDir, { recursive: true });
    await copyFile(ca.certPath, join(certsDir, 'ca.crt'));
    await engine.dockerOk(['push', ref]);
    await engine.dockerOk(['rmi', ref]);
    await engine.dockerOk(['pull', ref]);
    expect((await engine.dockerOk(['image', 'inspect', '--format', '{{.Id}}', ref])).stdout.trim()).toBe(configDigest);
  });
});
