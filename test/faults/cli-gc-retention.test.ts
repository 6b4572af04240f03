// `berth gc` with the config file's retention rules, through the real binary beside a running server on
// the same SQLite file: `--dry-run --json` reports what each rule would remove and removes nothing, the
// text summary names rule and tag, and the real run removes those tags with everything only they reached.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobFile, exists, imageBlobs } from '../support/blob-files.js';
import { readOciLayout } from '../support/image-readback.js';
import { writeImageLayout, type ImageLayout } from '../support/oci-image.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { BERTH_CLI, startBerth, type RunningBerth } from '../support/servers.js';
import { createSkopeo, dockerRef, type Skopeo } from '../support/skopeo.js';

const run = promisify(execFile);

interface RetentionSummaryJson {
  dryRun: boolean;
  manifestsDeleted: number;
  blobsDeleted: number;
  retention: { tagsRemoved: number; removals: Array<{ repository: string; tag: string; digest: string; rule: number; reason: string }> };
}

let scratch: Scratch;
let skopeo: Skopeo;
let server: RunningBerth | undefined;
beforeAll(async () => {
  scratch = await createScratch('berth-gc-retention-');
  skopeo = await createSkopeo();
});
afterAll(async () => {
  await server?.stop();
  await skopeo?.dispose();
  await scratch?.dispose();
});

async function push(target: RunningBerth, repository: string, tag: string, seed: number): Promise<ImageLayout> {
  const layout = await writeImageLayout({ dir: scratch.child(`image-${seed}`), layers: 2, seed, tag });
  await skopeo.copy(layout.ref, dockerRef(target.host, repository, tag), { format: 'oci' });
  return layout;
}

async function berthGc(dataDir: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [BERTH_CLI, 'gc', '--data', dataDir, '--grace', '0', ...args], { cwd: scratch.path });
  return stdout;
}

describe('berth gc with retention rules', () => {
  it('reports what each rule would remove on a dry run (--json and text), then removes exactly that', async () => {
    const dataDir = scratch.child('data');
    server = await startBerth({ dataDir });
    // Pushed one after the other: each tag has a later push time than the one before.
    const ci1 = await push(server, 'ci/app', 'build-1', 11);
    const ci2 = await push(server, 'ci/app', 'build-2', 12);
    const ci3 = await push(server, 'ci/app', 'build-3', 13);
    const prod = await push(server, 'prod/app', 'v1', 21);
    const config = join(scratch.path, 'berth.yml');
    await writeFile(
      config,
      ['retention:', '  rules:', '    - repositories: prod/**', '    - repositories: ["**"]', '      keepNewest: 1', '      keepTags: [release-*]', ''].join('\n'),
    );

    const dry = JSON.parse(await berthGc(dataDir, ['--config', config, '--dry-run', '--json'])) as RetentionSummaryJson;
    expect(dry.dryRun).toBe(true);
    const removal = (tag: string, layout: ImageLayout) => ({ repository: 'ci/app', tag, digest: layout.root.digest, rule: 1, reason: 'not-newest' });
    expect(dry.retention).toEqual({ tagsRemoved: 2, removals: [removal('build-2', ci2), removal('build-1', ci1)] });
    for (const digest of [...imageBlobs(ci1), ...imageBlobs(ci2)]) expect(await exists(blobFile(dataDir, digest)), digest).toBe(true);

    const text = await berthGc(dataDir, ['--config', config, '--dry-run']);
    expect(text).toContain('tags retention would remove: 2');
    expect(text).toContain('rule 1 (**): 2');
    expect(text).toContain(`ci/app:build-1  ${ci1.root.digest}  not among the newest keepNewest`);

    const summary = JSON.parse(await berthGc(dataDir, ['--config', config, '--json'])) as RetentionSummaryJson;
    expect(summary.retention.removals.map((entry) => entry.tag).sort()).toEqual(['build-1', 'build-2']);
    expect(summary.manifestsDeleted).toBe(2);
    for (const digest of [...imageBlobs(ci1), ...imageBlobs(ci2)]) expect(await exists(blobFile(dataDir, digest)), digest).toBe(false);
    for (const digest of [...imageBlobs(ci3), ...imageBlobs(prod)]) expect(await exists(blobFile(dataDir, digest)), digest).toBe(true);
    for (const [repository, tag, layout] of [['ci/app', 'build-3', ci3], ['prod/app', 'v1', prod]] as const) {
      const back = scratch.child('back');
      await skopeo.copy(dockerRef(server.host, repository, tag), `oci:${back}:${tag}`);
      const pulled = await readOciLayout(back, tag);
      expect(pulled.manifest.equals(layout.root.bytes)).toBe(true);
      for (const digest of imageBlobs(layout)) expect(pulled.blobs.get(digest)?.equals(layout.blobs.get(digest)!), digest).toBe(true);
    }
    const gone = await fetch(`${server.url}/v2/ci/app/manifests/build-1`, { method: 'HEAD' });
    expect(gone.status).toBe(404);
  });

  it('refuses a config file whose rule cannot be meant, naming it (config check, exit 2)', async () => {
    const config = join(scratch.path, 'bad.yml');
    await writeFile(config, ['retention:', '  rules:', '    - repositories: ci/**', '      keepTags: [v*]', ''].join('\n'));
    const refused = await run(process.execPath, [BERTH_CLI, 'config', 'check', config], { cwd: scratch.path }).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused).toMatchObject({ code: 2 });
    expect((refused as { stderr: string }).stderr).toContain('retention: rules.0: keepTags alone removes nothing: add olderThan or keepNewest');
  });
});

describe('serve --gc-interval with retention rules', () => {
  it('applies the rules at each scheduled collection and logs how many tags went', async () => {
    const dataDir = scratch.child('data');
    const config = join(scratch.path, 'schedule.yml');
    await writeFile(config, ['retention:', '  rules:', '    - repositories: sched/*', '      keepNewest: 1', ''].join('\n'));
    const scheduled = await startBerth({ dataDir, args: ['--config', config, '--gc-interval', '1s', '--gc-grace', '0', '--log-format', 'json'] });
    try {
      const older = await push(scheduled, 'sched/app', 'one', 31);
      const newer = await push(scheduled, 'sched/app', 'two', 32);
      // Polled until a scheduled run has removed the older tag's bytes (the test's timeout bounds the wait).
      const layer = blobFile(dataDir, older.images[0]!.layers[0]!.digest);
      while (await exists(layer)) await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await fetch(`${scheduled.url}/v2/sched/app/manifests/one`, { method: 'HEAD' })).status).toBe(404);
      for (const digest of imageBlobs(newer)) expect(await exists(blobFile(dataDir, digest)), digest).toBe(true);
      const runs = scheduled
        .logs()
        .split('\n')
        .filter((line) => line.includes('"tagsRemoved"'))
        .map((line) => JSON.parse(line) as { tagsRemoved: number });
      expect(runs.some((entry) => entry.tagsRemoved === 1)).toBe(true);
    } finally {
      await scheduled.stop();
    }
  });
});
