import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

/*
 * A real S3-compatible server for tests: OpenStack Swift 2.30 all-in-one (proxy with s3api and tempauth,
 * account, container and object servers, memcached), from Debian's packages, which
 * scripts/ensure-system-deps.sh installs. Nothing is installed here. Everything lives in one temp dir
 * (configs, rings, data; /tmp is ext4, which has the user xattrs the object server needs), each server in
 * one process (`workers = 0`). A watchdog ends the servers and removes the dir when the process that owns
 * them (the vitest run) exits, even if no test stops them.
 */

/** Where a Swift's S3 layer answers, with tempauth's test credentials, and a bucket made for the tests. */
export interface SwiftS3 {
  endpoint: string;
  region: string;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface SwiftServer extends SwiftS3 {
  dir: string;
  /** Kills the proxy (SIGKILL): S3 requests then fail to connect. */
  killProxy(): Promise<void>;
  /** Starts the proxy again on the same port and waits until it answers. */
  startProxy(): Promise<void>;
  /** Stops every server and removes the dir. */
  stop(): Promise<void>;
}

const CREDENTIALS = { accessKeyId: 'test:tester', secretAccessKey: 'testing' };
const REGION = 'us-east-1';
const BUCKET = 'berth-tests';
const SERVERS = ['account', 'container', 'object'] as const;

/**
 * The Swift this test run shares: the first test file to ask starts it (under a lock dir named after the
 * vitest process, so parallel runs on one machine get their own), the others wait for and reuse it.
 */
export async function sharedSwift(): Promise<SwiftS3> {
  const named = s3FromEnvironment();
  if (named !== undefined) {
    await createBucket(named);
    return named;
  }
  const runDir = join(tmpdir(), `berth-swift-run-${runOwnerPid()}`);
  const ready = join(runDir, 'endpoint.json');
  let starter = false;
  try {
    await mkdir(runDir);
    starter = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (starter) {
    try {
      const server = await startSwift({ dir: join(runDir, 'swift') });
      const { endpoint, region, bucket, credentials } = server;
      await writeFile(`${ready}.tmp`, JSON.stringify({ endpoint, region, bucket, credentials }));
      await rename(`${ready}.tmp`, ready);
    } catch (error) {
      await writeFile(join(runDir, 'failed'), String(error));
      throw error;
    }
  }
  const deadline = Date.now() + 90_000;
  for (;;) {
    const text = await readFile(ready, 'utf8').catch(() => undefined);
    if (text !== undefined) return JSON.parse(text) as SwiftS3;
    const failure = await readFile(join(runDir, 'failed'), 'utf8').catch(() => undefined);
    if (failure !== undefined) throw new Error(`the shared Swift did not start: ${failure}`);
    if (Date.now() > deadline) throw new Error(`the shared Swift in ${runDir} is not ready after 90 s`);
    await sleep(100);
  }
}

/**
 * Another S3 server instead of the tests' Swift, named by the environment, to run the suites that share one
 * against it by hand (scripts/radosgw.sh prints these for Ceph's radosgw): BERTH_TEST_S3_ENDPOINT,
 * BERTH_TEST_S3_BUCKET (made if missing; default berth-tests), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_REGION (default us-east-1).
 */
function s3FromEnvironment(): SwiftS3 | undefined {
  const endpoint = process.env.BERTH_TEST_S3_ENDPOINT;
  if (!endpoint) return undefined;
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) throw new Error('BERTH_TEST_S3_ENDPOINT needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  return { endpoint, region: process.env.AWS_REGION || REGION, bucket: process.env.BERTH_TEST_S3_BUCKET || BUCKET, credentials: { accessKeyId, secretAccessKey } };
}

/** Starts a Swift of its own (in `dir`, or a new temp dir), with the test bucket made. */
export async function startSwift(options: { dir?: string } = {}): Promise<SwiftServer> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'berth-swift-')));
  const etc = join(dir, 'etc');
  const devices = join(dir, 'srv');
  await mkdir(etc, { recursive: true });
  await mkdir(join(devices, 'd1'), { recursive: true });
  const [memcachePort, proxyPort, ...serverPorts] = await freePorts(2 + SERVERS.length);
  const ports = Object.fromEntries(SERVERS.map((name, index) => [name, serverPorts[index]!])) as Record<(typeof SERVERS)[number], number>;

  buildRings(etc, ports);
  const user = userInfo().username;
  const common = [`bind_ip = 127.0.0.1`, `workers = 0`, `user = ${user}`, `swift_dir = ${etc}`, `log_level = WARNING`];
  for (const name of SERVERS) {
    await writeFile(
      join(etc, `${name}-server.conf`),
      [
        '[DEFAULT]',
        ...common,
        `bind_port = ${ports[name]}`,
        `devices = ${devices}`,
        'mount_check = false',
        '',
        '[pipeline:main]',
        `pipeline = ${name}-server`,
        '',
        `[app:${name}-server]`,
        `use = egg:swift#${name}`,
        '',
      ].join('\n'),
    );
  }
  await writeFile(join(etc, 'proxy-server.conf'), proxyConfig(common, proxyPort!, memcachePort!));

  const children: ChildProcess[] = [];
  const log = openSync(join(dir, 'servers.log'), 'a');
  const launch = (command: string, args: string[]): ChildProcess => {
    // Detached, so a test worker that exits does not take the shared servers with it; the watchdog ends them.
    const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    children.push(child);
    return child;
  };
  launch('/usr/bin/memcached', ['-l', '127.0.0.1', '-p', String(memcachePort), '-U', '0', '-m', '64', '-u', user]);
  for (const name of SERVERS) launch(`/usr/bin/swift-${name}-server`, [join(etc, `${name}-server.conf`)]);
  let proxy = launch('/usr/bin/swift-proxy-server', [join(etc, 'proxy-server.conf')]);
  closeSync(log);
  // A private Swift's dir goes with it; the shared one's whole run dir does.
  startWatchdog(children.map((child) => child.pid!), options.dir === undefined ? dir : join(dir, '..'));

  const endpoint = `http://127.0.0.1:${proxyPort}`;
  const waitForProxy = async () => {
    const deadline = Date.now() + 60_000;
    while (!(await answers(`${endpoint}/healthcheck`))) {
      if (Date.now() > deadline) throw new Error(`Swift's proxy did not answer within 60 s; see ${join(dir, 'servers.log')}`);
      await sleep(100);
    }
  };
  await waitForProxy();
  await createBucket({ endpoint, region: REGION, bucket: BUCKET, credentials: CREDENTIALS });

  return {
    dir,
    endpoint,
    region: REGION,
    bucket: BUCKET,
    credentials: CREDENTIALS,
    async killProxy() {
      const exited = new Promise((resolve) => proxy.once('exit', resolve));
      proxy.kill('SIGKILL');
      await exited;
    },
    async startProxy() {
      const log = openSync(join(dir, 'servers.log'), 'a');
      proxy = spawn('/usr/bin/swift-proxy-server', [join(etc, 'proxy-server.conf')], { detached: true, stdio: ['ignore', log, log] });
      proxy.unref();
      closeSync(log);
      children.push(proxy);
      startWatchdog([proxy.pid!]);
      await waitForProxy();
    },
    async stop() {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await sleep(200);
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The vitest process this worker belongs to: a forked worker's parent, a worker thread's own process. */
function runOwnerPid(): number {
  return process.env.VITEST_POOL_ID !== undefined && process.ppid > 1 ? process.ppid : process.pid;
}

function proxyConfig(common: string[], port: number, memcachePort: number): string {
  return [
    '[DEFAULT]',
    ...common,
    `bind_port = ${port}`,
    '',
    '[pipeline:main]',
    // s3api needs slo (its multipart uploads are SLOs) and copy; tempauth needs the memcache filter.
    'pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server',
    '',
    '[app:proxy-server]',
    'use = egg:swift#proxy',
    'account_autocreate = true',
    'allow_account_management = true',
    '',
    '[filter:s3api]',
    'use = egg:swift#s3api',
    `location = ${REGION}`,
    // As on AWS (Swift's default is 1000 parts).
    'max_upload_part_num = 10000',
    '',
    '[filter:slo]',
    'use = egg:swift#slo',
    'max_manifest_segments = 10000',
    '',
    '[filter:tempauth]',
    'use = egg:swift#tempauth',
    'user_test_tester = testing .admin',
    '',
    '[filter:cache]',
    'use = egg:swift#memcache',
    `memcache_servers = 127.0.0.1:${memcachePort}`,
    '',
    ...['catch_errors', 'gatekeeper', 'healthcheck', 'proxy-logging', 'listing_formats', 'copy', 'dlo'].flatMap((name) => [
      `[filter:${name}]`,
      `use = egg:swift#${name.replace('-', '_')}`,
      '',
    ]),
  ].join('\n');
}

/** One-replica rings with one device each, built with Swift's own RingBuilder. */
function buildRings(etc: string, ports: Record<(typeof SERVERS)[number], number>): void {
  const script = [
    'import json, sys',
    'from swift.common.ring import RingBuilder',
    'etc, ports = sys.argv[1], json.loads(sys.argv[2])',
    'for name, port in ports.items():',
    '    builder = RingBuilder(6, 1, 1)',
    "    builder.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port, 'device': 'd1', 'weight': 100})",
    '    builder.rebalance()',
    "    builder.get_ring().save(f'{etc}/{name}.ring.gz')",
  ].join('\n');
  const result = spawnSync('/usr/bin/python3', ['-c', script, etc, JSON.stringify(ports)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`building Swift's rings failed: ${result.stderr || result.error}`);
}

/** Ends the servers (and removes `removeDir`) once this run's owning process is gone. */
function startWatchdog(pids: number[], removeDir?: string): void {
  const cleanup = removeDir === undefined ? '' : `; rm -rf '${removeDir}'`;
  const script = `while kill -0 ${runOwnerPid()} 2>/dev/null; do sleep 1; done; kill -9 ${pids.join(' ')} 2>/dev/null${cleanup}`;
  spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' }).unref();
}

async function createBucket({ endpoint, region, bucket, credentials }: SwiftS3): Promise<void> {
  const client = new S3Client({ endpoint, region, forcePathStyle: true, credentials, maxAttempts: 1 });
  const deadline = Date.now() + 60_000;
  try {
    for (;;) {
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
        return;
      } catch (error) {
        if ((error as { name?: string }).name === 'BucketAlreadyOwnedByYou') return;
        // The backend servers may still be starting.
        if (Date.now() > deadline) throw error;
        await sleep(200);
      }
    }
  } finally {
    client.destroy();
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
