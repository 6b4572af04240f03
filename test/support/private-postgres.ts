// A PostgreSQL cluster of a test's own (initdb in a temp dir, on a free loopback port), so a test can
// stop and start a database server for real without touching the shared one other suites use.
// PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` user.
import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './servers.js';

const run = promisify(execFile);

export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication, loopback only). */
  readonly url: string;
  start(): Promise<void>;
  /** A fast shutdown: open connections are cut, as when a database server goes down. */
  stop(): Promise<void>;
  /** Stops the server when running and removes its directory. */
  dispose(): Promise<void>;
}

/** The newest installed PostgreSQL's bin directory, or undefined when none is installed. */
export function postgresBinDir(): string | undefined {
  try {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    return versions[0] === undefined ? undefined : join('/usr/lib/postgresql', versions[0], 'bin');
  } catch {
    return undefined;
  }
}

export async function createPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error('no PostgreSQL server under /usr/lib/postgresql (scripts/ensure-system-deps.sh installs it)');
  const dir = await mkdtemp(join(tmpdir(), 'berth-private-pg-'));
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  /** Runs a PostgreSQL program, as `postgres` when we are root. */
  const pg = (program: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, program), ...args], { cwd: dir }) : run(join(bin, program), args, { cwd: dir });

  await pg('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  let running = false;
  const cluster: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      // The socket directory is ours too, so nothing collides with the system cluster's.
      await pg('pg_ctl', ['-D', dataDir, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
      running = true;
    },
    async stop() {
      await pg('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']);
      running = false;
    },
    async dispose() {
      if (running) await cluster.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
