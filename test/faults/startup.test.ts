// Start-up with a data path (or a setting) that cannot work: the built standalone server must print one
// line on stderr naming the path (or setting) and what to do, and exit non-zero within seconds; never
// hang (Node's recursive mkdir spins forever under /proc), never a stack trace.
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScratch, type Scratch } from '../support/scratch.js';
import { BERTH_MAIN } from '../support/servers.js';

/** More than enough for a start-up that gives up at once; a hang is killed and reported as one. */
const GIVE_UP_MS = 8_000;

interface Outcome {
  code: number | null;
  stderr: string;
  stdout: string;
  ms: number;
}

/** Runs the server with `args` (and `env`) until it exits; a server that starts is stopped and reported. */
function run(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [BERTH_MAIN, '--host', '127.0.0.1', '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      if (stdout.includes('listening on')) child.kill('SIGTERM');
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`still running after ${GIVE_UP_MS} ms (a hang): ${stderr}${stdout}`));
    }, GIVE_UP_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, stderr: signal ? `${stderr}(signal ${signal})` : stderr, stdout, ms: Date.now() - started });
    });
  });
}

/** Exit status 2, quickly, and exactly one line on stderr that matches every pattern. */
function expectOneLineRefusal(outcome: Outcome, ...patterns: RegExp[]): void {
  expect(outcome.stdout).not.toMatch(/listening on/);
  expect(outcome.code).toBe(2);
  expect(outcome.ms).toBeLessThan(5_000);
  const lines = outcome.stderr.split('\n').filter((line) => line !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^berth: /);
  for (const pattern of patterns) expect(lines[0]).toMatch(pattern);
}

const isRoot = process.getuid?.() === 0;

let scratch: Scratch;
beforeAll(async () => {
  scratch = await createScratch('berth-faults-startup-');
});
afterAll(async () => scratch?.dispose());

describe('a data path that cannot be used', () => {
  it('is a file', async () => {
    const file = scratch.child('a-file');
    await writeFile(file, 'not a directory');
    expectOneLineRefusal(await run(['--data', file]), new RegExp(`${file} is a file`), /--data/);
    // The same through the environment.
    expectOneLineRefusal(await run([], { BERTH_DATA: file }), new RegExp(`${file} is a file`));
  });

  it('lies below a file', async () => {
    const file = scratch.child('a-file');
    await writeFile(file, 'not a directory');
    const below = join(file, 'data', 'more');
    expectOneLineRefusal(await run(['--data', below]), new RegExp(below), new RegExp(`${file} is a file`));
  });

  it('is inside the kernel proc filesystem, existing or to be created', async () => {
    const missing = `/proc/berth-test-${process.pid}/data`;
    expectOneLineRefusal(await run(['--data', missing]), new RegExp(missing), /proc filesystem/, /on a disk/);
    expectOneLineRefusal(await run(['--data', '/proc/self']), /\/proc\/self/, /proc filesystem/);
    expectOneLineRefusal(await run(['--data', '/sys/berth-test']), /\/sys\/berth-test/, /sysfs/);
  });

  describe.skipIf(!isRoot)('on a read-only mount (a tmpfs mounted ro; needs root)', () => {
    let mountPoint: string;
    beforeAll(async () => {
      mountPoint = scratch.child('read-only');
      await mkdir(mountPoint);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mountPoint]);
    });
    afterAll(() => {
      if (mountPoint) execFileSync('umount', [mountPoint]);
    });

    it('is the mount itself, or a directory to create on it', async () => {
      expectOneLineRefusal(await run(['--data', mountPoint]), new RegExp(`${mountPoint} is not writable`), /read-only/, /--data/);
      const below = join(mountPoint, 'data');
      expectOneLineRefusal(await run(['--data', below]), new RegExp(`cannot create data directory ${below}`), /read-only/);
      expect(await readdir(mountPoint)).toEqual([]);
    });
  });

  it('is created, missing parents too, when it can be', async () => {
    const nested = join(scratch.child('fresh'), 'a', 'b', 'c');
    const outcome = await run(['--data', nested]);
    expect(outcome.stdout).toMatch(/listening on http:\/\//);
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(0);
    // The write probe is gone; the stores are there.
    expect((await readdir(nested)).sort()).toEqual(['berth.sqlite', 'blobs']);
  });
});

describe('a setting that cannot work', () => {
  let holder: Server;
  let heldPort: number;
  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    heldPort = (holder.address() as { port: number }).port;
  });
  afterAll(async () => new Promise<void>((resolve) => holder.close(() => resolve())));

  it('a port in use', async () => {
    expectOneLineRefusal(await run(['--data', scratch.child('data'), '--port', String(heldPort)]), new RegExp(`127.0.0.1:${heldPort}`), /in use/, /--port/);
  });

  it('a metrics port in use, out of range, or contradicting --no-metrics', async () => {
    const data = scratch.child('data');
    expectOneLineRefusal(await run(['--data', data, '--metrics-port', String(heldPort)]), new RegExp(`127.0.0.1:${heldPort}`), /in use/, /--metrics-port/);
    expectOneLineRefusal(await run(['--data', data, '--metrics-port', '70000']), /--metrics-port "70000"/);
    expectOneLineRefusal(await run(['--data', data], { BERTH_METRICS_PORT: 'nine' }), /BERTH_METRICS_PORT \(--metrics-port\) "nine"/);
    expectOneLineRefusal(await run(['--data', data, '--metrics-port', '9400', '--no-metrics']), /--metrics-port and metrics off \(--metrics\) contradict/);
  });

  it('connection bounds that are not numbers of seconds or connections', async () => {
    const data = scratch.child('data');
    expectOneLineRefusal(await run(['--data', data, '--headers-timeout', '0']), /--headers-timeout "0"/);
    expectOneLineRefusal(await run(['--data', data, '--idle-timeout', 'soon']), /--idle-timeout "soon"/, /seconds/);
    expectOneLineRefusal(await run(['--data', data], { BERTH_KEEP_ALIVE_TIMEOUT: '5 minutes' }), /BERTH_KEEP_ALIVE_TIMEOUT \(--keep-alive-timeout\) "5 minutes"/);
    expectOneLineRefusal(await run(['--data', data, '--max-connections=-3']), /--max-connections "-3"/);
    expectOneLineRefusal(await run(['--data', data, '--no-such-flag']), /no-such-flag/);
  });

  it('accepts plain seconds and the duration suffixes', async () => {
    const outcome = await run(['--data', scratch.child('data'), '--headers-timeout', '15s', '--idle-timeout', '0', '--keep-alive-timeout', '2.5', '--shutdown-timeout', '1m', '--max-connections', '0']);
    expect(outcome.stdout).toMatch(/listening on http:\/\//);
    expect(outcome.code).toBe(0);
  });
});
