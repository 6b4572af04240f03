// The `gc` workload: berth alone. A registry is generated (see gc-registry.mjs), then one collection runs
// as an operator runs it, `berth gc --grace 0 --delete-untagged --json` in a process of its own, whose wall
// time and peak RSS are the figures; the summary it prints must match what the generator says is garbage.
// On SQLite at two sizes (memory must not grow with the number of blobs) and on PostgreSQL at the larger.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generateGcRegistry } from './gc-registry.mjs';
import { MiB } from './report.mjs';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const BERTH_CLI = join(REPO_ROOT, 'examples', 'standalone', 'dist', 'cli.js');
const PEAK_RSS_PRELOAD = fileURLToPath(new URL('./peak-rss.mjs', import.meta.url));
const dist = (name, file = 'index.js') => import(join(REPO_ROOT, 'packages', name, 'dist', file));

export const GC_TIME_GOAL_S = 60;
export const GC_MEMORY_GOAL_MIB = 200;

/**
 * @param {{ sizes: number[], postgres: boolean, rows: object[], log: (message: string) => void }} options
 *   sizes: blob counts, ascending; the last is the one the goals apply to (and PostgreSQL's)
 */
export async function benchGc({ sizes, postgres, rows, log }) {
  const peaks = [];
  for (const blobCount of sizes) {
    const run = await collectGenerated('SQLite', blobCount, log);
    peaks.push({ blobCount, peak: run.peakRss });
    pushRows(rows, 'SQLite', run, blobCount === sizes.at(-1));
  }
  if (peaks.length > 1) {
    const [smallest, largest] = [peaks[0], peaks.at(-1)];
    rows.push({
      workload: `gc peak RSS on SQLite, ${largest.blobCount.toLocaleString('en')} vs ${smallest.blobCount.toLocaleString('en')} blobs`,
      unit: 'MiB',
      berth: [largest.peak / MiB],
      baseline: [smallest.peak / MiB],
      baselineName: `${smallest.blobCount.toLocaleString('en')} blobs`,
      note: `${largest.blobCount / smallest.blobCount}x the blobs; memory must not follow`,
      goal: { max: 1.25, of: 'ratio' },
    });
  }
  if (postgres) pushRows(rows, 'PostgreSQL', await collectGenerated('PostgreSQL', sizes.at(-1), log), false);
}

function pushRows(rows, store, run, withGoals) {
  const label = `${run.generated.blobs.toLocaleString('en')} blobs / ${run.generated.manifests.toLocaleString('en')} manifests`;
  const checked = run.mismatches.length === 0 ? 'summary as expected' : `summary WRONG: ${run.mismatches.join('; ')}`;
  const removed = `removed ${run.summary.blobsDeleted} blobs, ${run.summary.linksDeleted} links, ${run.summary.manifestsDeleted} manifests; ${checked}`;
  rows.push({
    workload: `gc on ${store}, ${label}: time`,
    unit: 's',
    berth: [run.seconds],
    note: removed,
    ...(withGoals && { goal: { max: GC_TIME_GOAL_S, of: 'berth' } }),
    ...(run.mismatches.length > 0 && { status: checked }),
  });
  rows.push({
    workload: `gc on ${store}, ${label}: peak RSS of the collecting process`,
    unit: 'MiB',
    berth: [run.peakRss / MiB],
    ...(withGoals && { goal: { max: GC_MEMORY_GOAL_MIB, of: 'berth' } }),
  });
  if (run.mismatches.length > 0) process.exitCode = 1;
}

/** Generates a registry of `blobCount` blobs on the store, collects it with `berth gc`, and cleans up. */
export async function collectGenerated(store, blobCount, log) {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-gc-bench-'));
  let database;
  try {
    let metadata;
    let resetDatabase = async () => undefined;
    const args = ['--data', dataDir];
    if (store === 'SQLite') {
      const { openSqliteMetadataStore } = await dist('storage-sqlite');
      metadata = await openSqliteMetadataStore({ filename: join(dataDir, 'berth.sqlite') });
    } else {
      const { adminQuery, createScratchDatabase } = await dist('storage-postgres', 'testing.js');
      const { openPostgresMetadataStore } = await dist('storage-postgres');
      database = await createScratchDatabase();
      // Generating only: commits need not wait for the disk (reset before the collection is timed).
      await adminQuery(`alter database "${database.name}" set synchronous_commit = off`);
      resetDatabase = () => adminQuery(`alter database "${database.name}" reset synchronous_commit`);
      metadata = await openPostgresMetadataStore({ connection: database.url });
      args.push('--database', database.url);
    }
    const started = process.hrtime.bigint();
    let generated;
    try {
      // PostgreSQL takes writes from several connections at once; SQLite has one writer anyway.
      generated = await generateGcRegistry(metadata, { dataDir, blobCount, concurrency: store === 'SQLite' ? 1 : 8, log });
    } finally {
      await metadata.close();
    }
    await resetDatabase();
    log(`gc ${store}: generated ${generated.blobs} blobs, ${generated.links} links, ${generated.manifests} manifests in ${generated.repositories} repositories (${elapsed(started).toFixed(0)} s)`);

    const collected = await runBerthGc([...args, '--grace', '0', '--delete-untagged', '--json']);
    const mismatches = Object.entries(generated.expected)
      .filter(([key, value]) => collected.summary[key] !== value)
      .map(([key, value]) => `${key} ${collected.summary[key]}, expected ${value}`);
    log(
      `gc ${store} ${blobCount}: ${collected.seconds.toFixed(1)} s, peak RSS ${(collected.peakRss / MiB).toFixed(0)} MiB, ` +
        `${JSON.stringify(collected.summary)}${mismatches.length > 0 ? `; MISMATCH: ${mismatches.join('; ')}` : ''}`,
    );
    return { generated, ...collected, mismatches };
  } finally {
    await database?.drop().catch((error) => log(`could not drop ${database.name}: ${error}`));
    await rm(dataDir, { recursive: true, force: true });
  }
}

const elapsed = (started) => Number(process.hrtime.bigint() - started) / 1e9;

/**
 * Runs `berth gc` (what `pnpm berth gc` runs) and returns its JSON summary, wall time and peak RSS: the
 * kernel's ru_maxrss for the process, which peak-rss.mjs prints as the process exits.
 */
async function runBerthGc(args) {
  const child = spawn(process.execPath, ['--import', PEAK_RSS_PRELOAD, BERTH_CLI, 'gc', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started = process.hrtime.bigint();
  let stdout = '';
  let stderr = '';
  let peakRss;
  child.stdout.setEncoding('utf8').on('data', (text) => (stdout += text));
  createInterface({ input: child.stderr }).on('line', (line) => {
    const match = /^\[peak-rss\] (\d+)$/.exec(line);
    if (match) peakRss = Number(match[1]);
    else stderr += `${line}\n`;
  });
  const [code] = await new Promise((resolve) => child.once('close', (...exit) => resolve(exit)));
  const seconds = elapsed(started);
  if (code !== 0) throw new Error(`berth gc ${args.join(' ')} exited ${code}:\n${stderr}${stdout}`);
  if (peakRss === undefined) throw new Error(`berth gc printed no peak RSS:\n${stderr}`);
  return { summary: JSON.parse(stdout), seconds, peakRss };
}
