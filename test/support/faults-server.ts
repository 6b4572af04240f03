// The built standalone server as the fault suites need it: every log line kept and parsed (not just
// a tail), killed with SIGKILL at a moment of the test's choosing, restarted on the same data directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { BERTH_MAIN } from './servers.js';

const STARTUP_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

/** One JSON log line of the server (pino: `level` 30 info, 40 warn, 50 error). */
export interface LogLine {
  readonly level: number;
  readonly msg?: string;
  readonly [field: string]: unknown;
}

export interface FaultServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** Every JSON line the server wrote so far, in order. */
  lines(): LogLine[];
  /** Everything it wrote, for failure messages. */
  output(): string;
  /** Resolves with the first line (already written or still to come) that matches. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** kill -9, then waits for the process to be gone. */
  kill9(): Promise<void>;
  /** SIGTERM; resolves with the exit code once it has exited (SIGKILL after a timeout, and a rejection). */
  stop(): Promise<number | null>;
}

/** Starts `examples/standalone/dist/main.js` on a free port with `--data dataDir`. */
export async function startFaultServer(dataDir: string, args: readonly string[] = []): Promise<FaultServer> {
  if (!existsSync(BERTH_MAIN)) throw new Error(`${BERTH_MAIN} does not exist: build it first with \`pnpm exec tsc -b\``);
  const child = spawn(process.execPath, [BERTH_MAIN, '--host', '127.0.0.1', '--port', '0', '--data', dataDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const parsed: LogLine[] = [];
  let output = '';
  const waiters = new Set<() => void>();
  let listening: ((url: string) => void) | undefined;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    output += `${line}\n`;
    const url = /listening on (http:\/\/[^\s"']+)/.exec(line)?.[1];
    if (url !== undefined) listening?.(url);
    try {
      parsed.push(JSON.parse(line) as LogLine);
    } catch {
      return;
    }
    for (const waiter of waiters) waiter();
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    output += text;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`berth did not start within ${STARTUP_TIMEOUT_MS} ms:\n${output}`)), STARTUP_TIMEOUT_MS);
    listening = (found) => {
      clearTimeout(timer);
      resolve(found);
    };
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`berth exited (code ${code}) before it was ready:\n${output}`));
    });
  }).catch(async (error: unknown) => {
    await forceKill(child, exited);
    throw error;
  });

  return {
    url,
    port: Number(new URL(url).port),
    dataDir,
    lines: () => [...parsed],
    output: () => output,
    waitForLine: (match, timeoutMs = 10_000) =>
      new Promise<LogLine>((resolve, reject) => {
        const check = () => {
          const found = parsed.find(match);
          if (found === undefined) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching log line within ${timeoutMs} ms:\n${output.slice(-4000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    kill9: () => forceKill(child, exited),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
      });
      const outcome = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        await forceKill(child, exited);
        throw new Error(`berth did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM:\n${output.slice(-4000)}`);
      }
      return outcome;
    },
  };
}

async function forceKill(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await exited;
}

/** Lines at error level or above (pino 50 error, 60 fatal). */
export function errorLines(lines: readonly LogLine[]): LogLine[] {
  return lines.filter((line) => line.level >= 50);
}

/** The request lines (one per request) of the log. */
export function requestLines(lines: readonly LogLine[]): LogLine[] {
  return lines.filter((line) => typeof line['method'] === 'string' && 'status' in line && 'ms' in line);
}
