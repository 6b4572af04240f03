// Starts registries on free loopback ports for the interop suites and stops them cleanly:
// berth's standalone example (built by `tsc -b`) and the reference, docker/distribution 2.8.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface RunningRegistry {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:5000`. */
  readonly url: string;
  /** `host:port` as it appears in image references, e.g. `127.0.0.1:5000`. */
  readonly host: string;
  /** The tail of the server's stdout and stderr, for failure messages. */
  logs(): string;
  /** Sends SIGTERM, waits for the process to exit and removes any data directory it created. */
  stop(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BERTH_MAIN = join(REPO_ROOT, 'examples', 'standalone', 'dist', 'main.js');
/** The `berth` command line (its bin), built by `tsc -b`. */
export const BERTH_CLI = join(REPO_ROOT, 'examples', 'standalone', 'dist', 'cli.js');
export { REPO_ROOT };
export const REFERENCE_REGISTRY_BIN = '/usr/bin/docker-registry';

const STARTUP_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
/** Keep the tail of a server's output so a failed start or test can say why. */
const OUTPUT_TAIL_CHARS = 8_000;

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the port of a probe socket'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A berth process: also its pid (to send it signals) and how it ended. */
export interface RunningBerth extends RunningRegistry {
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
}

export interface StartBerthOptions {
  dataDir?: string;
  /** Replaces the built main.js (another build of the same CLI contract). */
  entry?: string;
  /** Further command-line arguments, for example `['--database', 'postgres://...']`. */
  args?: readonly string[];
  /** Environment variables added to (or replacing) the caller's. */
  env?: Readonly<Record<string, string>>;
}

/**
 * Spawns `node examples/standalone/dist/main.js --host 127.0.0.1 --port 0 --data <dir> [args]` and
 * waits for its `listening on http://HOST:PORT` (or `https://`) line. Without `dataDir`, a tmp dir is used and
 * removed on stop.
 */
export async function startBerth(options: StartBerthOptions = {}): Promise<RunningBerth> {
  const entry = options.entry ?? BERTH_MAIN;
  if (!existsSync(entry)) {
    throw new Error(`${entry} does not exist: build it first with \`pnpm exec tsc -b\` (pnpm test does)`);
  }
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'berth-data-')));
  const child = spawn(process.execPath, [entry, '--host', '127.0.0.1', '--port', '0', '--data', dataDir, ...(options.args ?? [])], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
  });
  const process_ = watch(child, 'berth');
  const exited = new Promise<ProcessExit>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  try {
    const url = await process_.waitForLine((line) => /listening on (https?:\/\/[^\s"']+)/.exec(line)?.[1]);
    const base = url.replace(/\/+$/, '');
    return {
      url: base,
      host: new URL(base).host,
      pid: child.pid!,
      exited,
      logs: process_.logs,
      stop: async () => {
        await process_.stop();
        if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await process_.stop();
    if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

export interface StartReferenceOptions {
  /** The config's `auth` section (htpasswd or token; see reference-auth.ts). Without it, no auth. */
  auth?: Record<string, unknown>;
  /** The config's `notifications` section (webhook endpoints). */
  notifications?: Record<string, unknown>;
}

/**
 * Spawns docker/distribution (`docker-registry serve <config>`) with filesystem storage in a tmp
 * dir, deletes enabled, schema1 accepted and the given auth (none by default); resolves once GET /v2/
 * answers (200 without auth, 401 with it).
 */
export async function startReferenceRegistry(options: StartReferenceOptions = {}): Promise<RunningRegistry> {
  const workDir = await mkdtemp(join(tmpdir(), 'reference-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const configPath = join(workDir, 'config.yml');
  await writeFile(configPath, referenceConfig(join(workDir, 'storage'), host, options.auth, options.notifications));

  const child = spawn(REFERENCE_REGISTRY_BIN, ['serve', configPath], {
    cwd: workDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Only PATH: no REGISTRY_* overrides from the caller's environment, and no AWS_CA_BUNDLE (its s3 driver panics on it).
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  const process_ = watch(child, 'docker-registry');
  const stopAll = async () => {
    await process_.stop();
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    const url = `http://${host}`;
    await process_.race(waitForStatus(`${url}/v2/`, options.auth === undefined ? 200 : 401, STARTUP_TIMEOUT_MS));
    return { url, host, logs: process_.logs, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function referenceConfig(rootDirectory: string, addr: string, auth?: Record<string, unknown>, notifications?: Record<string, unknown>): string {
  // JSON is valid YAML, and it spares us quoting rules.
  return `${JSON.stringify(
    {
      version: 0.1,
      log: { level: 'error', accesslog: { disabled: true } },
      storage: {
        filesystem: { rootdirectory: rootDirectory },
        delete: { enabled: true },
        maintenance: { uploadpurging: { enabled: false } },
      },
      // A fixed secret silences the "no http secret" warning; it only signs upload state.
      http: { addr, secret: 'interop-tests-only' },
      compatibility: { schema1: { enabled: true } },
      ...(auth !== undefined && { auth }),
      ...(notifications !== undefined && { notifications }),
    },
    null,
    2,
  )}\n`;
}

/** Asks `url` until it answers `status` (bounded by `timeoutMs`): a server starting up. */
export async function waitForStatus(url: string, status: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === status) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
}

export interface WatchedProcess {
  /** Resolves with the first non-undefined result of `match` over stdout lines. */
  waitForLine(match: (line: string) => string | undefined): Promise<string>;
  /** Settles like `promise`, or rejects if the process exits first or startup times out. */
  race<T>(promise: Promise<T>): Promise<T>;
  logs(): string;
  stop(): Promise<void>;
}

export function watch(child: ChildProcess, name: string): WatchedProcess {
  let output = '';
  const remember = (text: string) => {
    output = (output + text).slice(-OUTPUT_TAIL_CHARS);
  };
  // Both pipes are drained for the whole life of the process, so it never blocks on a full pipe.
  const lineListeners = new Set<(line: string) => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    remember(`${line}\n`);
    for (const listener of lineListeners) listener(line);
  });
  child.stderr!.setEncoding('utf8').on('data', remember);

  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new Error(`${name} could not be started: ${error.message}`)));
  });
  spawnError.catch(() => undefined);
  const exitedEarly = (async (): Promise<never> => {
    await exited;
    throw new Error(`${name} exited (code ${child.exitCode}, signal ${child.signalCode}) before it was ready:\n${output}`);
  })();
  exitedEarly.catch(() => undefined);

  const race = <T>(promise: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${name} was not ready within ${STARTUP_TIMEOUT_MS} ms:\n${output}`)),
        STARTUP_TIMEOUT_MS,
      );
    });
    return Promise.race([promise, exitedEarly, spawnError, timeout]).finally(() => clearTimeout(timer));
  };

  return {
    race,
    logs: () => output,
    waitForLine: (match) => {
      let listener: ((line: string) => void) | undefined;
      const found = new Promise<string>((resolve) => {
        listener = (line) => {
          const result = match(line);
          if (result !== undefined) resolve(result);
        };
        lineListeners.add(listener);
      });
      return race(found).finally(() => {
        if (listener) lineListeners.delete(listener);
      });
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
      });
      const outcome = await Promise.race([exited, gaveUp]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        // Not a clean stop, but a test run must never leave a server behind.
        child.kill('SIGKILL');
        await exited;
        throw new Error(`${name} did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM:\n${output}`);
      }
    },
  };
}
