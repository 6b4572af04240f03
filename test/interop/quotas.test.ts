// Quotas with a real client: skopeo pushes into a repository whose quota is too small and gets the
// registry's message, with nothing left behind; into one with room, the push succeeds. `berth usage`
// then reports both from the counters, beside the running server.
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImageLayout } from '../support/oci-image.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { BERTH_CLI, REPO_ROOT, startBerth, type RunningBerth } from '../support/servers.js';
import { createSkopeo, dockerRef, SkopeoError, type Skopeo } from '../support/skopeo.js';

const run = promisify(execFile);

interface UsageReport {
  repositories: Array<{ repository: string; bytes: number; blobCount: number; manifestCount: number; quota?: { repository: string; limit: number } }>;
  registry: { bytes: number; blobCount: number; manifestCount: number };
}

describe('quotas with skopeo and berth usage', () => {
  let scratch: Scratch;
  let skopeo: Skopeo;
  let berth: RunningBerth;
  let dataDir: string;
  let configFile: string;

  beforeAll(async () => {
    scratch = await createScratch();
    skopeo = await createSkopeo();
    dataDir = scratch.child('data');
    configFile = join(scratch.child('config'), 'berth.yml');
    await mkdir(dirname(configFile), { recursive: true });
    // Every blob skopeo sends is larger than 100 bytes: the tiny repository cannot take even one.
    await writeFile(configFile, 'quotas:\n  - repositories: tiny/*\n    limit: 100B\n  - repositories: [roomy/**]\n    limit: 10MiB\n');
    berth = await startBerth({ dataDir, args: ['--config', configFile] });
  });

  afterAll(async () => {
    await berth?.stop();
    await skopeo?.dispose();
    await scratch?.dispose();
  });

  const usage = async (...args: string[]): Promise<UsageReport> => {
    const { stdout } = await run(process.execPath, [BERTH_CLI, 'usage', '--json', '--data', dataDir, '--config', configFile, ...args], { cwd: REPO_ROOT });
    return JSON.parse(stdout) as UsageReport;
  };

  it('refuses a push past the quota with a message naming it and leaves nothing; a push with room succeeds', async () => {
    const layout = await writeImageLayout({ dir: scratch.child('image'), layers: 2, seed: 41, tag: 'v1' });

    const refused = await skopeo.copy(layout.ref, dockerRef(berth.host, 'tiny/app', 'v1'), { format: 'oci' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(SkopeoError);
    expect((refused as SkopeoError).stderr).toMatch(/denied: quota exceeded: repository tiny\/app may hold 100 B \(quota \\?"tiny\/\*\\?"\)/);
    const tags = await fetch(`${berth.url}/v2/tiny/app/tags/list`);
    expect((await tags.json()) as unknown).toMatchObject({ errors: [{ code: 'NAME_UNKNOWN' }] });

    await skopeo.copy(layout.ref, dockerRef(berth.host, 'roomy/team/app', 'v1'), { format: 'oci' });
    expect(await skopeo.listTags(dockerRef(berth.host, 'roomy/team/app'))).toEqual(['v1']);

    const report = await usage();
    expect(report.repositories.map((entry) => entry.repository)).toEqual(['roomy/team/app']);
    const roomy = report.repositories[0]!;
    expect(roomy.blobCount).toBe(3);
    expect(roomy.manifestCount).toBe(1);
    expect(roomy.quota).toEqual({ repository: 'roomy/**', limit: 10 * 1024 * 1024 });
    const image = layout.images[0]!;
    const pushedBytes = [image.config, ...image.layers].reduce((sum, blob) => sum + blob.size, 0) + layout.root.bytes.length;
    expect(roomy.bytes).toBe(pushedBytes);
    expect(report.registry).toMatchObject({ bytes: pushedBytes, blobCount: 3, manifestCount: 1 });
    expect((await usage('tiny/app')).repositories).toEqual([{ repository: 'tiny/app', blobBytes: 0, blobCount: 0, manifestBytes: 0, manifestCount: 0, bytes: 0, quota: { repository: 'tiny/*', limit: 100 } }]);
  });

  it('prints a table with the quota and a registry total', async () => {
    const { stdout } = await run(process.execPath, [BERTH_CLI, 'usage', '--data', dataDir, '--config', configFile], { cwd: REPO_ROOT });
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REPOSITORY\s+SIZE\s+BLOBS\s+MANIFESTS\s+QUOTA$/);
    expect(lines[1]).toMatch(/^roomy\/team\/app\s+\d+\.\d KiB\s+3\s+1\s+10\.0 MiB \(0%, roomy\/\*\*\)$/);
    expect(lines.at(-1)).toMatch(/^registry \(each blob once\)\s+\d+\.\d KiB\s+3\s+1$/);
  });
});
