// The pull-through cache against the reference: Debian's docker-registry (distribution 2.8) with htpasswd
// auth on loopback is the upstream, holding a multi-arch OCI index, a schema2 image and an OCI image pushed
// with skopeo. berth mirrors it under `hub/` (credentials in the URL's user-info, every tag revalidated):
// skopeo pulls through berth by tag and by digest, a push into the prefix is refused, a retagged upstream
// tag is followed, and once the upstream is stopped what was pulled still pulls completely.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, systemPath } from '../support/client-image.js';
import { writeImageLayout, writeMultiArchLayout, type ImageLayout } from '../support/oci-image.js';
import { startReferenceRegistryWithHtpasswd } from '../support/reference-auth.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import { startBerth, type RunningRegistry } from '../support/servers.js';

const UPSTREAM_USER = { username: 'mirror', password: 'mirror-pw' };

describe('berth as a pull-through cache of distribution 2.8 with htpasswd', () => {
  let scratch: Scratch;
  let upstream: RunningRegistry;
  let berth: RunningRegistry;
  let multi: ImageLayout;
  const pulled: string[] = [];

  /** skopeo with its own empty auth file, so no credentials leak in from the machine. */
  const skopeo = async (args: string[]) => {
    const authFile = join(scratch.path, 'skopeo-auth.json');
    await writeFile(authFile, '{"auths":{}}');
    return runCommand('skopeo', ['--insecure-policy', ...args], {
      env: { PATH: systemPath(), HOME: scratch.path, REGISTRY_AUTH_FILE: authFile },
      secrets: [UPSTREAM_USER.password],
      timeoutMs: 100_000,
    });
  };
  const pushUpstream = async (layout: ImageLayout, repository: string, format?: 'v2s2') => {
    const args = ['copy', '--all', '--dest-tls-verify=false', '--dest-creds', `${UPSTREAM_USER.username}:${UPSTREAM_USER.password}`];
    if (format) args.push('--format', format);
    const result = await skopeo([...args, layout.ref, `docker://${upstream.host}/${repository}`]);
    expect(result.code, result.stderr).toBe(0);
  };
  /** Copies every image of the reference out of berth into a fresh directory; returns the manifest digest skopeo saw. */
  const pullThrough = async (reference: string) => {
    const dir = scratch.child(`pull-${pulled.length}`);
    const digestFile = `${dir}.digest`;
    const result = await skopeo(['copy', '--all', '--src-tls-verify=false', '--digestfile', digestFile, `docker://${berth.host}/${reference}`, `dir:${dir}`]);
    expect(result.code, result.stderr).toBe(0);
    pulled.push(reference);
    return (await readFile(digestFile, 'utf8')).trim();
  };

  beforeAll(async () => {
    scratch = await createScratch();
    upstream = await startReferenceRegistryWithHtpasswd([UPSTREAM_USER]);
    multi = await writeMultiArchLayout({ dir: scratch.child('multi'), layers: 2, seed: 161, tag: 'v1' });
    await pushUpstream(multi, 'library/multi:v1');
    await pushUpstream(await writeImageLayout({ dir: scratch.child('schema2'), layers: 2, seed: 162, tag: 'v1' }), 'library/schema2:v1', 'v2s2');
    await pushUpstream(await writeImageLayout({ dir: scratch.child('oci'), layers: 3, seed: 163, tag: 'v1' }), 'library/oci:v1');
    const config = join(scratch.path, 'berth.yml');
    const url = `http://${UPSTREAM_USER.username}:${UPSTREAM_USER.password}@${upstream.host}`;
    // tagTtl 0: every pull by tag asks the upstream whether the tag moved.
    await writeFile(config, JSON.stringify({ mirrors: [{ prefix: 'hub', url, tagTtl: 0 }] }));
    berth = await startBerth({ args: ['--config', config] });
  });

  afterAll(async () => {
    await berth?.stop();
    await upstream?.stop();
    await scratch?.dispose();
  });

  it('lets skopeo pull a multi-arch index, a schema2 and an OCI image through berth, by tag and by digest', async () => {
    const multiDigest = await pullThrough('hub/library/multi:v1');
    expect(multiDigest).toBe(multi.root.digest);
    await pullThrough(`hub/library/multi@${multiDigest}`);
    const schema2 = await pullThrough('hub/library/schema2:v1');
    await pullThrough(`hub/library/schema2@${schema2}`);
    const oci = await pullThrough('hub/library/oci:v1');
    await pullThrough(`hub/library/oci@${oci}`);
    // The upstream's own answer for the same tag: berth served its bytes as they are.
    const direct = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', `${UPSTREAM_USER.username}:${UPSTREAM_USER.password}`, `docker://${upstream.host}/library/schema2:v1`]);
    const through = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${berth.host}/hub/library/schema2:v1`]);
    expect(through.stdout).toBe(direct.stdout);
  });

  it('refuses a push into the mirrored prefix with 405 UNSUPPORTED and takes one elsewhere', async () => {
    const start = await fetch(`${berth.url}/v2/hub/library/oci/blobs/uploads/`, { method: 'POST' });
    expect(start.status).toBe(405);
    expect(((await start.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('UNSUPPORTED');
    const refused = await skopeo(['copy', '--dest-tls-verify=false', multi.ref, `docker://${berth.host}/hub/library/pushed:v1`]);
    expect(refused.code).not.toBe(0);
    const local = await skopeo(['copy', '--all', '--dest-tls-verify=false', multi.ref, `docker://${berth.host}/local/pushed:v1`]);
    expect(local.code, local.stderr).toBe(0);
  });

  it('follows a tag the upstream moved', async () => {
    const moved = await writeImageLayout({ dir: scratch.child('moved'), layers: 1, seed: 164, tag: 'v1' });
    await pushUpstream(moved, 'library/oci:v1');
    expect(await pullThrough('hub/library/oci:v1')).toBe(moved.root.digest);
  });

  it('serves everything pulled before once the upstream is stopped, and answers 503 at once for the rest', async () => {
    await upstream.stop();
    for (const reference of [...pulled]) await pullThrough(reference);
    const stale = await fetch(`${berth.url}/v2/hub/library/oci/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    expect(stale.status).toBe(200);
    expect(stale.headers.get('warning')).toBe('110 - "Response is Stale"');
    const uncached = await fetch(`${berth.url}/v2/hub/library/never/manifests/v1`, { signal: AbortSignal.timeout(10_000) });
    expect(uncached.status).toBe(503);
    expect(((await uncached.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('UNAVAILABLE');
    // The password of the upstream URL never reaches the log.
    expect(berth.logs()).not.toContain(UPSTREAM_USER.password);
  });
});
