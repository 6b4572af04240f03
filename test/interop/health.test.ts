// The standalone server's health endpoints against real failures: a PostgreSQL server of the test's
// own (never the shared one) stopped and started again under a running berth, and a blob directory
// taken away. /readyz says which store failed and recovers without a restart of berth.
import { createHash } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPrivatePostgres, type PrivatePostgres } from '../support/private-postgres.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { startBerth, type RunningRegistry } from '../support/servers.js';

let scratch: Scratch;
const servers: RunningRegistry[] = [];
let postgres: PrivatePostgres | undefined;

beforeEach(async () => {
  scratch = await createScratch('berth-health-');
});

afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
  await postgres?.dispose();
  postgres = undefined;
  await scratch.dispose();
});

async function readiness(url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, body: await response.json() };
}

/** Asks /readyz until it gives `status` (bounded): a pool notices a server coming back on its next connection. */
async function untilReadiness(url: string, status: number): Promise<{ status: number; body: unknown }> {
  let last = await readiness(url);
  for (let attempt = 0; attempt < 150 && last.status !== status; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await readiness(url);
  }
  return last;
}

describe('health endpoints of the standalone server', () => {
  it('follows PostgreSQL going down and coming back, without a restart of berth', async () => {
    postgres = await createPrivatePostgres();
    await postgres.start();
    const htpasswd = scratch.child('users.htpasswd');
    await writeFile(htpasswd, '');
    const server = await startBerth({ dataDir: scratch.child('data'), args: ['--database', postgres.url, '--auth', 'basic', '--htpasswd', htpasswd] });
    servers.push(server);

    // Never behind sign-in: the registry itself asks for credentials.
    expect((await fetch(`${server.url}/v2/`)).status).toBe(401);
    expect(await readiness(server.url)).toEqual({ status: 200, body: { status: 'ready', checks: { metadata: 'ok', blobs: 'ok' } } });

    await postgres.stop();
    const down = await readiness(server.url);
    expect(down.status).toBe(503);
    expect(down.body).toEqual({ status: 'unavailable', checks: { metadata: 'the metadata database is unavailable', blobs: 'ok' } });
    const head = await fetch(`${server.url}/readyz`, { method: 'HEAD' });
    expect(head.status).toBe(503);
    // The process itself is alive all along.
    const live = await fetch(`${server.url}/healthz`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'ok' });

    await postgres.start();
    expect(await untilReadiness(server.url, 200)).toEqual({ status: 200, body: { status: 'ready', checks: { metadata: 'ok', blobs: 'ok' } } });
  });

  it('names the blob store when its directory is gone, and recovers when it is back', async () => {
    const dataDir = scratch.child('data');
    const server = await startBerth({ dataDir });
    servers.push(server);
    expect((await readiness(server.url)).status).toBe(200);

    await rename(join(dataDir, 'blobs'), join(dataDir, 'blobs-away'));
    expect(await readiness(server.url)).toEqual({
      status: 503,
      body: { status: 'unavailable', checks: { metadata: 'ok', blobs: 'unreachable: ENOENT' } },
    });

    await rename(join(dataDir, 'blobs-away'), join(dataDir, 'blobs'));
    expect((await readiness(server.url)).status).toBe(200);
  });

  it('logs one error line for a blob the metadata links but the blob store lacks, and answers BLOB_UNKNOWN', async () => {
    const dataDir = scratch.child('data');
    const server = await startBerth({ dataDir });
    servers.push(server);
    const bytes = Buffer.from('a blob lost behind the registry\'s back');
    const hex = createHash('sha256').update(bytes).digest('hex');
    const pushed = await fetch(`${server.url}/v2/app/blobs/uploads/?digest=sha256:${hex}`, { method: 'POST', body: bytes });
    expect(pushed.status).toBe(201);
    await rm(join(dataDir, 'blobs', 'blobs', 'sha256', hex.slice(0, 2), hex));

    const response = await fetch(`${server.url}/v2/app/blobs/sha256:${hex}`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ errors: [{ code: 'BLOB_UNKNOWN' }] });
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f]{16}$/);
    // The log line is written as the request finishes; wait for it (bounded).
    let lines: Array<Record<string, unknown>> = [];
    for (let attempt = 0; attempt < 50 && lines.length === 0; attempt++) {
      lines = server
        .logs()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => (line['err'] as { type?: string } | undefined)?.type === 'MissingBlobError');
      if (lines.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, url: `/v2/app/blobs/sha256:${hex}`, err: { repository: 'app', digest: `sha256:${hex}`, use: 'blob-read' } });
  });
});
