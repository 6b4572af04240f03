// The `s3` workload: berth with its blobs in S3 against the reference (docker/distribution 2.8) with its `s3`
// storage driver, both on one Swift (the all-in-one Swift the tests use, started here in a tmp dir, its
// rings and data on the same disk). Monolithic pushes and a pull, alternating the servers round by round,
// and berth's peak RSS while it pushes the largest blob. Both stream blob downloads (distribution's
// redirect to S3 is turned off, as berth's is by default).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlobSource } from './blob-data.mjs';
import { MiB } from './report.mjs';
import { pullBlob, pushMonolithic } from './registry-client.mjs';
import { startBerth, startReference, trackPeakRss } from './servers.mjs';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const S3_PACKAGE = join(REPO_ROOT, 'packages', 'blobs-s3');
const MEMORY_GOAL_MIB = 200;

/**
 * The tests' Swift launcher (packages/blobs-s3/test/support/swift.ts), compiled to JavaScript with the repo's
 * TypeScript into that package's node_modules/.cache, where its `@aws-sdk/client-s3` import resolves.
 */
export async function loadSwiftLauncher() {
  const { default: ts } = await import('typescript');
  const source = await readFile(join(S3_PACKAGE, 'test', 'support', 'swift.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  const dir = join(S3_PACKAGE, 'node_modules', '.cache', 'berth-bench');
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'swift.mjs');
  await writeFile(file, outputText);
  return import(file);
}

/**
 * @param {object} bench
 * @param {{ quick: boolean, rounds: number }} bench.config
 * @param {object[]} bench.rows  the table's rows, appended to
 * @param {(message: string) => void} bench.log
 * @param {(servers: object, rounds: number, measure: Function) => Promise<{ berth: number[], reference: number[] }>} bench.alternate
 */
export async function benchS3({ config, rows, log, alternate }) {
  const sizes = config.quick ? [32 * MiB, 128 * MiB] : [256 * MiB, 1024 * MiB];
  const { startSwift } = await loadSwiftLauncher();
  const swift = await startSwift();
  const started = [];
  try {
    log(`Swift's S3 layer at ${swift.endpoint}, bucket ${swift.bucket}`);
    const berth = await startBerth({
      args: ['--s3-bucket', swift.bucket, '--s3-prefix', 'bench-berth', '--s3-endpoint', swift.endpoint, '--s3-region', swift.region, '--s3-force-path-style'],
      env: { AWS_ACCESS_KEY_ID: swift.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: swift.credentials.secretAccessKey },
    });
    started.push(berth);
    // startReference passes only PATH: no AWS_CA_BUNDLE, which makes the Go S3 driver panic.
    const reference = await startReference({
      storage: {
        s3: {
          region: swift.region,
          regionendpoint: swift.endpoint,
          forcepathstyle: true,
          secure: false,
          v4auth: true,
          bucket: swift.bucket,
          rootdirectory: '/bench-reference',
          accesskey: swift.credentials.accessKeyId,
          secretkey: swift.credentials.secretAccessKey,
        },
        redirect: { disable: true },
      },
    });
    started.push(reference);
    const servers = { berth, reference };
    log(`berth on S3 ${berth.url} (pid ${berth.pid}), reference on S3 ${reference.url} (pid ${reference.pid})`);

    let pullBlobOf;
    for (const [index, size] of sizes.entries()) {
      const label = size >= 1024 * MiB ? `${size / 1024 / MiB} GiB` : `${size / MiB} MiB`;
      const isLargest = index === sizes.length - 1;
      let peakRss = 0;
      let round = -1;
      let source;
      let digest;
      const samples = await alternate(servers, config.rounds, async (server, r) => {
        if (r !== round) {
          round = r;
          source = new BlobSource(300 + index * 10 + r, size);
          digest = source.digest().digest;
          if (isLargest && r === 0) pullBlobOf = { source, digest };
        }
        const memory = isLargest && server === berth ? await trackPeakRss(server.pid) : undefined;
        const began = process.hrtime.bigint();
        await pushMonolithic(server, 'bench/s3-push', source, digest);
        const elapsed = Number(process.hrtime.bigint() - began) / 1e9;
        if (memory) peakRss = Math.max(peakRss, await memory.stop());
        log(`s3 push ${label} ${server.name}: ${(size / MiB / elapsed).toFixed(0)} MiB/s`);
        return size / MiB / elapsed;
      });
      rows.push({ workload: `S3 (Swift): monolithic push ${label}`, unit: 'MiB/s', berth: samples.berth, baseline: samples.reference, goal: { min: 1.0, of: 'ratio' } });
      if (isLargest) {
        rows.push({
          workload: `S3 (Swift): berth's peak RSS pushing ${label}`,
          unit: 'MiB',
          berth: [peakRss / MiB],
          ratio: Number.NaN,
          goal: { max: MEMORY_GOAL_MIB, of: 'berth' },
        });
      }
    }

    const { source, digest } = pullBlobOf;
    const label = `${source.size / MiB} MiB`;
    // One untimed pull each first, as in the filesystem pull workload.
    for (const server of [berth, reference]) await pullBlob(server, 'bench/s3-push', digest, source.size);
    const pulls = await alternate(servers, config.rounds, async (server) => {
      const began = process.hrtime.bigint();
      await pullBlob(server, 'bench/s3-push', digest, source.size);
      const rate = source.size / MiB / (Number(process.hrtime.bigint() - began) / 1e9);
      log(`s3 pull ${label} ${server.name}: ${rate.toFixed(0)} MiB/s`);
      return rate;
    });
    rows.push({ workload: `S3 (Swift): blob pull ${label}, 1 client`, unit: 'MiB/s', berth: pulls.berth, baseline: pulls.reference, goal: { min: 1.0, of: 'ratio' } });
  } finally {
    await Promise.allSettled(started.map((server) => server.stop()));
    await swift.stop();
  }
}
