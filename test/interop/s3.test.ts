// The standalone server with its blobs in S3 (a real Swift s3api): skopeo pushes and pulls through it
// byte for byte, the bytes are in the bucket and not under --data, /readyz pings the bucket, and with
// --s3-redirect whole-blob downloads are 307s to presigned URLs that skopeo follows.
import { readdir } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BucketView } from '../../packages/blobs-s3/test/support/bucket.js';
import { sharedSwift, type SwiftS3 } from '../../packages/blobs-s3/test/support/swift.js';
import { readOciLayout } from '../support/image-readback.js';
import { sha256Digest, writeImageLayout } from '../support/oci-image.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { startBerth, type RunningBerth } from '../support/servers.js';
import { createSkopeo, dockerRef, type Skopeo } from '../support/skopeo.js';

describe('standalone on S3 (Swift)', () => {
  let swift: SwiftS3;
  let skopeo: Skopeo;
  let scratch: Scratch;
  let view: BucketView;
  const servers: RunningBerth[] = [];
  const dataDirs: string[] = [];

  beforeAll(async () => {
    swift = await sharedSwift();
    scratch = await createScratch();
    skopeo = await createSkopeo();
    view = new BucketView(swift, `interop-${randomUUID()}/`);
  });

  afterAll(async () => {
    for (const server of servers) await server.stop();
    await view?.empty();
    view?.close();
    await skopeo?.dispose();
    await scratch?.dispose();
  });

  async function berthOnS3(extra: string[] = [], dataDir = scratch.child('data')): Promise<RunningBerth> {
    dataDirs.push(dataDir);
    const server = await startBerth({
      dataDir,
      args: ['--s3-bucket', swift.bucket, '--s3-prefix', view.prefix, '--s3-endpoint', swift.endpoint, '--s3-region', swift.region, '--s3-force-path-style', ...extra],
      env: { AWS_ACCESS_KEY_ID: swift.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: swift.credentials.secretAccessKey },
    });
    servers.push(server);
    return server;
  }

  it('pushes and pulls an image through S3, redirected or not, and keeps no blob under --data', async () => {
    const server = await berthOnS3();
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const layout = await writeImageLayout({ dir: scratch.child('src'), layers: 3, seed: 31, tag: 'v1' });
    const image = layout.images[0]!;
    const pushed = await skopeo.copy(layout.ref, dockerRef(server.host, 'interop/s3', 'v1'), { format: 'oci' });
    expect(pushed.digest).toBe(layout.root.digest);

    const digests = [image.config.digest, ...image.layers.map((layer) => layer.digest)];
    const inBucket = await view.keys('blobs/');
    for (const digest of digests) expect(inBucket).toContain(`blobs/${digest.replace(':', '/')}`);
    expect(await view.keys('uploads/')).toEqual([]);
    expect(await view.multipartUploads()).toEqual([]);
    expect((await readdir(dataDirs[0]!)).filter((name) => name === 'blobs')).toEqual([]);

    const pull = async (from: RunningBerth) => {
      const back = scratch.child('back');
      await skopeo.copy(dockerRef(from.host, 'interop/s3', 'v1'), `oci:${back}:v1`);
      const pulled = await readOciLayout(back, 'v1');
      expect(pulled.manifest.equals(layout.root.bytes)).toBe(true);
      for (const digest of digests) expect(sha256Digest(pulled.blobs.get(digest)!)).toBe(digest);
    };
    await pull(server);

    // The same registry (its SQLite metadata under --data), restarted with redirects on.
    await server.stop();
    const redirecting = await berthOnS3(['--s3-redirect'], dataDirs[0]);
    const layer = image.layers[0]!.digest;
    const answer = await fetch(`${redirecting.url}/v2/interop/s3/blobs/${layer}`, { redirect: 'manual' });
    expect(answer.status).toBe(307);
    expect(answer.headers.get('location')).toMatch(/X-Amz-Signature=/);
    await pull(redirecting);
  });
});
