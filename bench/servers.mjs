// Starts berth's standalone server and the reference (docker/distribution 2.8) on free loopback ports,
// under the same conditions: data in a tmp dir on the same disk, no per-request access log.
// The logic follows test/support/servers.ts, plus the process id, needed to read the server's RSS.
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
export const BERTH_MAIN = join(REPO_ROOT, 'examples', 'standalone', 'dist', 'main.js');
export const REFERENCE_REGISTRY_BIN = '/usr/bin/docker-registry';
const STARTUP_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** Children still running and their tmp dirs: killed and removed if the bench exits without stopping them. */
const running = new Map();
process.once('exit', () => {
  for (const [child, directory] of running) {
    child.kill('SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  }
});

/**
 * @typedef {object} BenchServer
 * @property {string} name  'berth' or 'reference'
 * @property {string} url   base URL without a trailing slash
 * @property {number} pid
 * @property {string} [dataDir]  berth's data directory
 * @property {string} [databaseUrl]  berth's PostgreSQL database, when its metadata is there
 * @property {() => string} logs
 * @property {() => Promise<void>} stop
 */

/**
 * The node flags `pnpm start` runs berth with (package.json): a 2 MiB young generation instead of V8's 16 MiB,
 * so the socket buffers of many concurrent uploads are freed sooner, and an old generation allowed to grow by
 * half its live size between full collections, where V8 lets a small heap grow up to fourfold (see the
 * README's Benchmarks).
 */
const BERTH_NODE_FLAGS = ['--max-semi-space-size=2', '--heap-growing-percent=50'];

/**
 * @param {{ args?: string[], env?: Record<string, string> }} [options]  args: further command-line flags for berth; env: added to its environment
 * @returns {Promise<BenchServer>}
 */
export async function startBerth(options = {}) {
  if (!existsSync(BERTH_MAIN)) throw new Error(`${BERTH_MAIN} does not exist: run \`pnpm exec tsc -b\` first`);
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-bench-'));
  // The reference runs with its access log off; berth's request log is off too (warn and above only).
  // BERTH_BENCH_NODE_ARGS passes flags to berth's node, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it;
  // they come after the flags `pnpm start` uses, so they can override them (`--max-semi-space-size=16` is V8's default).
  const nodeArgs = [...BERTH_NODE_FLAGS, ...(process.env.BERTH_BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)];
  const child = spawn(process.execPath, [...nodeArgs, BERTH_MAIN, '--host', '127.0.0.1', '--port', '0', '--data', dataDir, ...(options.args ?? [])], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env, LOG_LEVEL: 'warn' },
  });
  running.set(child, dataDir);
  const watched = watch(child, 'berth', () => rm(dataDir, { recursive: true, force: true }));
  try {
    const url = await watched.until(
      new Promise((resolve) => {
        watched.onLine((line) => {
          const match = /listening on (https?:\/\/[^\s"']+)/.exec(line);
          if (match?.[1]) resolve(match[1].replace(/\/+$/, ''));
        });
      }),
    );
    return { name: 'berth', url, pid: /** @type {number} */ (child.pid), dataDir, logs: watched.logs, stop: watched.stop };
  } catch (error) {
    await watched.stop().catch(() => undefined);
    throw error;
  }
}

/**
 * @param {{ storage?: Record<string, unknown> }} [options]  storage: the config's storage driver section instead of a
 *   filesystem in the tmp dir (e.g. `{ s3: {...} }`)
 * @returns {Promise<BenchServer>}
 */
export async function startReference(options = {}) {
  if (!existsSync(REFERENCE_REGISTRY_BIN)) {
    throw new Error(`${REFERENCE_REGISTRY_BIN} is missing: run scripts/ensure-system-deps.sh (Debian package docker-registry)`);
  }
  const workDir = await mkdtemp(join(tmpdir(), 'reference-bench-'));
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const configPath = join(workDir, 'config.yml');
  await writeFile(
    configPath,
    `${JSON.stringify(
      {
        version: 0.1,
        log: { level: 'error', accesslog: { disabled: true } },
        storage: {
          ...(options.storage ?? { filesystem: { rootdirectory: join(workDir, 'storage') } }),
          delete: { enabled: true },
          maintenance: { uploadpurging: { enabled: false } },
        },
        http: { addr, secret: 'bench-only' },
        compatibility: { schema1: { enabled: true } },
      },
      null,
      2,
    )}\n`,
  );
  const child = spawn(REFERENCE_REGISTRY_BIN, ['serve', configPath], {
    cwd: workDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  running.set(child, workDir);
  const watched = watch(child, 'docker-registry', () => rm(workDir, { recursive: true, force: true }));
  const url = `http://${addr}`;
  try {
    await watched.until(waitForHttp200(`${url}/v2/`));
    return { name: 'reference', url, pid: /** @type {number} */ (child.pid), logs: watched.logs, stop: watched.stop };
  } catch (error) {
    await watched.stop().catch(() => undefined);
    throw error;
  }
}

/** Resident set size of a process in bytes: `VmRSS` now, or `VmHWM` (the peak since the last reset). */
export async function readMemory(pid, field = 'VmRSS') {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match?.[1]) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/**
 * Tracks the peak RSS of a process from now on: resets the kernel's high-water mark (clear_refs 5,
 * Linux 4.0+) and also samples VmRSS, in case the reset is not allowed. `stop()` gives the peak in bytes.
 */
export async function trackPeakRss(pid, intervalMs = 20) {
  let resetWorked = true;
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
  } catch {
    resetWorked = false;
  }
  let sampled = await readMemory(pid);
  const timer = setInterval(() => {
    readMemory(pid).then(
      (rss) => (sampled = Math.max(sampled, rss)),
      () => undefined,
    );
  }, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      const hwm = resetWorked ? await readMemory(pid, 'VmHWM').catch(() => 0) : 0;
      return Math.max(sampled, hwm);
    },
  };
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function waitForHttp200(url) {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} did not answer 200 within ${STARTUP_TIMEOUT_MS} ms (last: ${last})`);
}

/** Drains the child's output (keeping a tail for errors), races startup against an early exit, and stops it. */
function watch(child, name, cleanup) {
  let output = '';
  const remember = (text) => (output = (output + text).slice(-8_000));
  const listeners = new Set();
  createInterface({ input: child.stdout }).on('line', (line) => {
    remember(`${line}\n`);
    for (const listener of listeners) listener(line);
  });
  child.stderr.setEncoding('utf8').on('data', remember);
  const exited = new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(undefined);
    else child.once('exit', () => resolve(undefined));
  });
  const failed = new Promise((_, reject) => {
    child.once('error', (error) => reject(new Error(`${name} could not be started: ${error.message}`)));
    exited.then(() => reject(new Error(`${name} exited (code ${child.exitCode}) before it was ready:\n${output}`)));
  });
  failed.catch(() => undefined);
  let stopped;
  return {
    logs: () => output,
    onLine: (listener) => listeners.add(listener),
    until: (promise) => {
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${name} not ready in ${STARTUP_TIMEOUT_MS} ms:\n${output}`)), STARTUP_TIMEOUT_MS);
      });
      return Promise.race([promise, failed, timeout]).finally(() => clearTimeout(timer));
    },
    stop: () =>
      (stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          child.kill('SIGTERM');
          let timer;
          const gaveUp = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS)));
          const outcome = await Promise.race([exited, gaveUp]);
          clearTimeout(timer);
          if (outcome === 'timeout') {
            child.kill('SIGKILL');
            await exited;
          }
        }
        running.delete(child);
        await cleanup();
      })()),
  };
}
