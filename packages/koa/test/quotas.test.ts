import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, expectError, pushBlob, sha256 } from './support/content.js';
import { metadataFactories, openRegistry, type RegistryUnderTest } from './support/registry-under-test.js';

const KiB = 1024;

function deniedMessage(response: { text: string }): string {
  return (JSON.parse(response.text) as { errors: Array<{ message: string }> }).errors[0]!.message;
}

describe.each(Object.entries(metadataFactories))('quotas on %s', (_name, factory) => {
  let t: RegistryUnderTest;
  afterEach(async () => t.close());

  const open = async () => {
    t = await openRegistry(factory, { quotas: [{ repository: 'small/*', limit: 10 * KiB }] });
  };

  it('refuses a monolithic upload past the quota with DENIED naming it, and stores nothing', async () => {
    await open();
    const first = randomBytes(6 * KiB);
    await pushBlob(t.http, 'small/app', first);
    const second = randomBytes(6 * KiB);
    const refused = await t.http.post(`/v2/small/app/blobs/uploads/?digest=${sha256(second)}`).set('Content-Type', 'application/octet-stream').send(second);
    expectError(refused, 403, 'DENIED');
    expect(deniedMessage(refused)).toMatch(/quota "small\/\*".*10\.0 KiB|10\.0 KiB.*quota "small\/\*"/);
    expectError(await t.http.head(`/v2/small/app/blobs/${sha256(second)}`), 404, 'BLOB_UNKNOWN');
    expect(await t.metadata.repositoryUsage('small/app')).toMatchObject({ blobBytes: 6 * KiB, blobCount: 1 });
    // Pushing again a blob the repository links costs nothing; another repository has no quota.
    await pushBlob(t.http, 'small/app', first);
    await pushBlob(t.http, 'big/app', second);
  });

  it('refuses a chunked upload at its commit, discarding its bytes, and an upload POST once the repository is full', async () => {
    await open();
    const bytes = randomBytes(11 * KiB);
    const started = await t.http.post('/v2/small/app/blobs/uploads/').expect(202);
    const location = started.headers['location'] as string;
    await t.http.patch(location).set('Content-Type', 'application/octet-stream').send(bytes).expect(202);
    expectError(await t.http.put(`${location}?digest=${sha256(bytes)}`), 403, 'DENIED');
    expectError(await t.http.get(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    expect(await t.blobs.stat(sha256(bytes))).toBeUndefined();

    await pushBlob(t.http, 'small/app', randomBytes(10 * KiB));
    const full = await t.http.post('/v2/small/app/blobs/uploads/');
    expectError(full, 403, 'DENIED');
    expect(deniedMessage(full)).toContain('small/*');
  });

  it('refuses a manifest PUT past the quota (no manifest, no tag) and a mount past it', async () => {
    await open();
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const layer = randomBytes(10 * KiB - config.length);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: await pushBlob(t.http, 'small/app', config), size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: await pushBlob(t.http, 'small/app', layer), size: layer.length }],
    });
    const refused = await t.http.put('/v2/small/app/manifests/latest').set('Content-Type', OCI_MANIFEST).send(manifest);
    expectError(refused, 403, 'DENIED');
    expectError(await t.http.get('/v2/small/app/manifests/latest'), 404, 'MANIFEST_UNKNOWN');
    expectError(await t.http.get(`/v2/small/app/manifests/${sha256(manifest)}`), 404, 'MANIFEST_UNKNOWN');
    expect((await t.metadata.listTags('small/app', { limit: 10 })).length).toBe(0);

    const other = randomBytes(KiB);
    const digest = await pushBlob(t.http, 'big/app', other);
    expectError(await t.http.post(`/v2/small/app/blobs/uploads/?mount=${digest}&from=big/app`), 403, 'DENIED');
    expect(await t.metadata.blobLink('small/app', digest)).toBeUndefined();
    expect(await t.metadata.repositoryUsage('small/app')).toMatchObject({ blobBytes: 10 * KiB, manifestCount: 0 });
  });
});
