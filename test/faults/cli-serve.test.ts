// `berth serve` as operators run it: through `pnpm start` (signals must reach the server, which drains
// and exits 0), against a PostgreSQL that is not there yet (retried, then one line), with a port in
// use (refused before the database is migrated), and stopped while a request never finishes (the
// shutdown timeout closes it, exit 1).
import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery, createScratchDatabase, type ScratchDatabase } from '../../packages/storage-postgres/src/testing.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { BERTH_CLI, REPO_ROOT, freePort } from '../support/servers.js';

interface Spawned {
  child: ChildProcess;
  /** Every stdout line parsed as JSON (others are kept as `{ text }`). */
  lines: Array<Record<string, unknown>>;
  output(): string;
  exited: Promise<number | null>;
  waitFor(match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

const WAIT_MS = 60_000;

function start(command: string, args: readonly string[], cwd = REPO_ROOT): Spawned {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: '', PORT: '', HOST: '' } });
  const lines: Array<Record<string, unknown>> = [];
  let output = '';
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    output += `${line}\n`;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      lines.push({ text: line });
    }
    for (const waiter of waiters) waiter();
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  spawned.push(child);
  return {
    child,
    lines,
    output: () => output,
    exited,
    waitFor: (match) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(match);
          if (found === undefined) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no such line within ${WAIT_MS} ms:\n${output}`));
        }, WAIT_MS);
        waiters.add(check);
        void exited.then(() => {
          check();
          if (waiters.has(check)) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`exited before such a line:\n${output}`));
          }
        });
        check();
      }),
  };
}

const isListening = (line: Record<string, unknown>) => typeof line['msg'] === 'string' && line['msg'].startsWith('listening on http://');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let scratch: Scratch;
const spawned: ChildProcess[] = [];
beforeAll(async () => {
  scratch = await createScratch('berth-cli-serve-');
});
afterAll(async () => {
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await scratch?.dispose();
});

describe('pnpm start', () => {
  it.each([
    ['SIGTERM', ['start', '--port', '0']],
    ['SIGINT', ['start', '--', '--port', '0']],
  ] as const)('passes %s to the server, which drains and exits 0 (pnpm %j)', async (signal, args) => {
    const pnpm = start('pnpm', [...args, '--data', scratch.child('pnpm-data')]);
    const listening = await pnpm.waitFor(isListening);
    const serverPid = listening['pid'] as number;
    expect(serverPid).not.toBe(pnpm.child.pid);
    pnpm.child.kill(signal);
    expect(await pnpm.exited).toBe(0);
    expect(pnpm.lines).toContainEqual(expect.objectContaining({ msg: 'finishing in-flight requests', signal }));
    expect(pnpm.lines).toContainEqual(expect.objectContaining({ msg: 'stopped', drained: true }));
    // No orphan: the node process that served is gone with pnpm.
    expect(isAlive(serverPid)).toBe(false);
  });
});

describe('PostgreSQL at start-up', () => {
  let database: ScratchDatabase;
  beforeAll(async () => {
    database = await createScratchDatabase();
  });
  afterAll(async () => database?.drop());

  it('is retried while unreachable, then one line naming it, without the password', async () => {
    const closedPort = await freePort();
    const berth = start(process.execPath, [
      BERTH_CLI,
      '--port',
      '0',
      '--data',
      scratch.child('unreachable'),
      '--database',
      `postgres://berth:pg-s3cret@127.0.0.1:${closedPort}/berth`,
      '--database-wait',
      '2s',
    ]);
    expect(await berth.exited).toBe(1);
    const retries = berth.lines.filter((line) => line['msg'] === 'PostgreSQL is unreachable; retrying');
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(retries.map((line) => line['level'])).toEqual(retries.map(() => 40));
    expect(retries.map((line) => line['attempt'])).toEqual(retries.map((_, index) => index + 1));
    expect(retries[0]).toMatchObject({ database: `127.0.0.1:${closedPort}/berth`, reason: 'ECONNREFUSED' });
    const errors = berth.output().split('\n').filter((line) => line.startsWith('berth: '));
    expect(errors).toEqual([
      `berth: cannot start: PostgreSQL at 127.0.0.1:${closedPort}/berth is unreachable (ECONNREFUSED) after 2s of retries: start it or check --database (BERTH_DATABASE), or wait longer with --database-wait`,
    ]);
    expect(berth.output()).not.toContain('pg-s3cret');
    expect(berth.lines.some(isListening)).toBe(false);
  });

  it('starts once the database becomes reachable within the wait', async () => {
    // A TCP relay to the real PostgreSQL that opens only after berth has been refused once.
    const relayPort = await freePort();
    const target = new URL(database.url);
    const url = new URL(database.url);
    url.port = String(relayPort);
    const berth = start(process.execPath, [BERTH_CLI, '--port', '0', '--data', scratch.child('late-db'), '--database', url.href, '--database-wait', '1m']);
    await berth.waitFor((line) => line['msg'] === 'PostgreSQL is unreachable; retrying');
    const relay: Server = createServer((socket) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      socket.pipe(upstream).pipe(socket);
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(relayPort, '127.0.0.1', resolve));
    try {
      const listening = await berth.waitFor(isListening);
      const base = /listening on (\S+)/.exec(listening['msg'] as string)![1]!;
      expect((await fetch(`${base}/v2/_catalog`)).status).toBe(200);
      berth.child.kill('SIGTERM');
      expect(await berth.exited).toBe(0);
    } finally {
      await new Promise<void>((resolve) => {
        relay.close(() => resolve());
        // Connections the pool may still hold.
        relay.unref();
      });
    }
  });

  it('is not touched when the port is in use: the port is refused before migrations run', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const heldPort = (holder.address() as { port: number }).port;
    try {
      const fresh = await createScratchDatabase();
      try {
        const data = scratch.child('held');
        const berth = start(process.execPath, [BERTH_CLI, '--port', String(heldPort), '--data', data, '--database', fresh.url]);
        expect(await berth.exited).toBe(2);
        expect(berth.output()).toMatch(new RegExp(`berth: cannot listen on 127.0.0.1:${heldPort}: the port is in use`));
        // Nothing written: no data directory either.
        await expect(stat(data)).rejects.toMatchObject({ code: 'ENOENT' });
        const tables = await adminQuery<{ name: string }>(`select table_name as name from information_schema.tables where table_schema = 'public'`, [], fresh.url);
        expect(tables).toEqual([]);
      } finally {
        await fresh.drop();
      }
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  });
});

describe('shutdown', () => {
  it('closes a request that does not finish within --shutdown-timeout, then exits 1', async () => {
    const berth = start(process.execPath, [BERTH_CLI, '--port', '0', '--data', scratch.child('shutdown'), '--shutdown-timeout', '1s']);
    const base = /listening on (\S+)/.exec((await berth.waitFor(isListening))['msg'] as string)![1]!;
    const begun = await fetch(`${base}/v2/slow/blobs/uploads/`, { method: 'POST' });
    expect(begun.status).toBe(202);
    const location = new URL(begun.headers.get('location')!, base);
    // A chunk whose body starts and never ends: in flight until the server gives up on it.
    // `Expect: 100-continue`: the 100 says the server has the request in hand before the signal is sent.
    const upload = request(location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', expect: '100-continue' } });
    const cut = new Promise<string>((resolve) => {
      upload.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      upload.on('response', (response) => resolve(`HTTP ${response.statusCode}`));
    });
    upload.flushHeaders();
    await new Promise((resolve) => upload.once('continue', resolve));
    upload.write(Buffer.alloc(1024, 1));
    berth.child.kill('SIGTERM');
    expect(await berth.exited).toBe(1);
    expect(await cut).toMatch(/ECONNRESET|socket hang up|EPIPE/);
    expect(berth.lines).toContainEqual(expect.objectContaining({ msg: 'shutdown timeout reached: closing the connections still open', level: 40 }));
    expect(berth.lines).toContainEqual(expect.objectContaining({ msg: 'stopped; connections were closed under running requests', drained: false }));
  });
});
