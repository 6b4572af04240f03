// Schema1 with real clients: skopeo (containers/image) pushes signed schema1 with
// `--format v2s1` and pulls it back, and a Docker 1.9-era pull is replayed over plain HTTP
// (schema1 Accept or none at all, then every fsLayer), for a schema1 image and for a schema2
// image the registry converts on the fly.
//
// Two behaviours differ on purpose between the targets (issue 3, rules 5 and 7):
// distribution 2.8 stores only the canonical payload of a pushed schema1 manifest and re-signs it
// on every GET, and it forgets the manifests it converts; berth serves the pushed bytes exactly
// and remembers every conversion so that a pull by the digest it reported works.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDirImage } from '../support/image-readback.js';
import { exactRequest, type ExactAnswer } from '../support/exact-http.js';
import { sha256Digest, writeImageLayout, MediaType, type ImageLayout } from '../support/oci-image.js';
import {
  parsePrettyJws,
  SCHEMA1_SIGNED,
  signCompactPrettyJws,
  v1ChainProblems,
  verifyPrettyJws,
  type Schema1Payload,
} from '../support/schema1-jws.js';
import { EMPTY_LAYER_DIGEST } from '../support/schema2-images.js';
import { createScratch, type Scratch } from '../support/scratch.js';
import type { RunningRegistry } from '../support/servers.js';
import { createSkopeo, dockerRef, type Skopeo } from '../support/skopeo.js';
import { selectedTargets } from '../support/targets.js';

describe.each(selectedTargets())('schema1 with skopeo and a Docker 1.9-style client against $name', (target) => {
  const keepsPushedBytes = target.name !== 'reference';
  const remembersConversions = target.name !== 'reference';
  let registry: RunningRegistry;
  let skopeo: Skopeo;
  let scratch: Scratch;

  beforeAll(async () => {
    scratch = await createScratch();
    skopeo = await createSkopeo();
    registry = await target.start();
  });

  afterAll(async () => {
    await registry?.stop();
    await skopeo?.dispose();
    await scratch?.dispose();
  });

  const ref = (repository: string, reference?: string) => dockerRef(registry.host, repository, reference);
  const manifestUrl = (repository: string, reference: string) => `${registry.url}/v2/${repository}/manifests/${reference}`;

  /**
   * What Docker 1.9 does: GET by tag with the schema1 Accept (and, for older clients, none),
   * check the digest against the payload and the v1 id chain, then fetch every fsLayer.
   * Returns the digest and the parsed payload.
   */
  async function docker19Pull(repository: string, tag: string): Promise<{ digest: string; payload: Schema1Payload; body: Buffer }> {
    let first: { digest: string; payload: Schema1Payload; body: Buffer } | undefined;
    for (const accept of [SCHEMA1_SIGNED, undefined]) {
      const headers: Record<string, string> = accept === undefined ? {} : { accept };
      const label = `GET ${repository}:${tag} with ${accept === undefined ? 'no Accept' : 'the schema1 Accept'}`;
      const answer = await exactRequest(manifestUrl(repository, tag), { headers });
      expect(answer.status, `${label}: ${answer.body.toString('utf8').slice(0, 300)}`).toBe(200);
      expect(answer.headers['content-type'], label).toBe(SCHEMA1_SIGNED);
      const jws = parsePrettyJws(answer.body);
      const digest = sha256Digest(jws.payload);
      expect(answer.headers['docker-content-digest'], label).toBe(digest);
      expect(() => verifyPrettyJws(jws), label).not.toThrow();
      expect(v1ChainProblems(jws.payload), label).toEqual([]);
      const payload = JSON.parse(jws.payload.toString('utf8')) as Schema1Payload;
      expect(payload.name, label).toBe(repository);
      expect(payload.tag, label).toBe(tag);
      if (first === undefined) first = { digest, payload, body: answer.body };
      else expect(digest, `${label}: same digest as with the schema1 Accept`).toBe(first.digest);
    }
    for (const blobSum of new Set(first!.payload.fsLayers.map((layer) => layer.blobSum))) {
      const blob = await exactRequest(`${registry.url}/v2/${repository}/blobs/${blobSum}`);
      expect(blob.status, `blob ${blobSum}${blobSum === EMPTY_LAYER_DIGEST ? ' (empty layer)' : ''}`).toBe(200);
      expect(sha256Digest(blob.body)).toBe(blobSum);
    }
    return first!;
  }

  /** The filesystem layers named by a schema1 manifest, base first, without empty-layer entries. */
  function filesystemLayers(payload: Schema1Payload): string[] {
    return payload.history
      .map((entry, i) => ({ blobSum: payload.fsLayers[i]!.blobSum, throwaway: (JSON.parse(entry.v1Compatibility) as { throwaway?: boolean }).throwaway }))
      .filter((layer) => layer.throwaway !== true)
      .map((layer) => layer.blobSum)
      .reverse();
  }

  function expectLayersBack(layout: ImageLayout, blobs: ReadonlyMap<string, Buffer>) {
    for (const layer of layout.images[0]!.layers) {
      const back = blobs.get(layer.digest);
      expect(back, `layer ${layer.digest} came back`).toBeDefined();
      expect(back!.equals(layer.bytes), `layer ${layer.digest} bytes`).toBe(true);
    }
  }

  it('pushes with --format v2s1, serves the digest skopeo computed, and round-trips every layer', async () => {
    const layout = await writeImageLayout({ dir: scratch.child('src'), layers: 3, seed: 31, tag: 'v1' });
    const repository = 'schema1/skopeo-v2s1';
    const pushed = await skopeo.copy(layout.ref, ref(repository, 'v1'), { format: 'v2s1' });

    const pulled = await docker19Pull(repository, 'v1');
    expect(pulled.digest).toBe(pushed.digest);
    expect(filesystemLayers(pulled.payload)).toEqual(layout.images[0]!.layers.map((layer) => layer.digest));

    // skopeo reads it back by tag and by digest, checking the digest itself.
    for (const reference of ['v1', pushed.digest]) {
      const back = scratch.child('back');
      const copied = await skopeo.copy(ref(repository, reference), `dir:${back}`);
      expect(copied.digest, `skopeo copy of ${reference}`).toBe(pushed.digest);
      const image = await readDirImage(back);
      expect(sha256Digest(parsePrettyJws(image.manifest).payload)).toBe(pushed.digest);
      expectLayersBack(layout, image.blobs);
    }
  });

  it('serves a pushed signed schema1 manifest with the same payload (berth: the same bytes), by tag and by digest', async () => {
    // containers/image writes the schema1 payload (to a dir, so with an empty name and tag);
    // skopeo pushes its blobs under another tag; the test names the payload and signs it with two
    // keys of its own (P-256 and P-384), so it knows the exact bytes it PUTs.
    const layout = await writeImageLayout({ dir: scratch.child('src'), layers: 2, seed: 32, tag: 'v1' });
    const local = scratch.child('local');
    await skopeo.copy(layout.ref, `dir:${local}`, { format: 'v2s1' });
    const repository = 'schema1/verbatim';
    await skopeo.copy(`dir:${local}`, ref(repository, 'carrier'));
    const unnamed = parsePrettyJws((await readDirImage(local)).manifest).payload.toString('utf8');
    expect(unnamed).toContain('"name":"","tag":""');
    const payload = Buffer.from(unnamed.replace('"name":"","tag":""', `"name":"${repository}","tag":"verbatim"`));
    const keys = [generateKeyPairSync('ec', { namedCurve: 'P-256' }), generateKeyPairSync('ec', { namedCurve: 'P-384' })];
    const signed = signCompactPrettyJws(payload, keys.map((pair) => pair.privateKey));
    const digest = sha256Digest(payload);
    const ourKids = verifyPrettyJws(parsePrettyJws(signed));

    const put = await fetch(manifestUrl(repository, 'verbatim'), {
      method: 'PUT',
      headers: { 'content-type': SCHEMA1_SIGNED },
      body: signed,
    });
    expect(put.status, await put.text()).toBe(201);
    expect(put.headers.get('docker-content-digest')).toBe(digest);

    for (const reference of ['verbatim', digest]) {
      for (const accept of [SCHEMA1_SIGNED, undefined]) {
        const label = `${reference}, Accept ${accept ?? '(none)'}`;
        const served = await exactRequest(manifestUrl(repository, reference), { headers: accept === undefined ? {} : { accept } });
        expect(served.status, label).toBe(200);
        expect(served.headers['content-type'], label).toBe(SCHEMA1_SIGNED);
        expect(served.headers['docker-content-digest'], label).toBe(digest);
        const servedJws = parsePrettyJws(served.body);
        expect(servedJws.payload.equals(payload), label).toBe(true);
        const kids = verifyPrettyJws(servedJws);
        if (keepsPushedBytes) {
          expect(served.body.equals(signed), `${label}: the pushed bytes`).toBe(true);
          expect(kids, label).toEqual(ourKids);
        } else {
          // distribution 2.8 drops the pusher's signatures and signs with its own key.
          expect(kids, label).toHaveLength(1);
          expect(ourKids, label).not.toContain(kids[0]);
        }
        await expectHeadMatches(manifestUrl(repository, reference), accept, served);
      }
    }
    const back = scratch.child('back');
    const copied = await skopeo.copy(ref(repository, 'verbatim'), `dir:${back}`);
    expect(copied.digest).toBe(digest);
    expectLayersBack(layout, (await readDirImage(back)).blobs);
  });

  it('converts a skopeo --format v2s2 push for a Docker 1.9 pull, which skopeo can then read by that digest', async () => {
    const layout = await writeImageLayout({ dir: scratch.child('src'), layers: 3, seed: 33, tag: 'v1' });
    const repository = 'schema1/converted';
    const pushed = await skopeo.copy(layout.ref, ref(repository, 'v1'), { format: 'v2s2' });

    const pulled = await docker19Pull(repository, 'v1');
    expect(pulled.digest).not.toBe(pushed.digest);
    expect(pulled.payload.architecture).toBe('amd64');
    expect(filesystemLayers(pulled.payload)).toEqual(layout.images[0]!.layers.map((layer) => layer.digest));
    await expectHeadMatches(manifestUrl(repository, 'v1'), SCHEMA1_SIGNED, await exactRequest(manifestUrl(repository, 'v1'), { headers: { accept: SCHEMA1_SIGNED } }));

    // A modern client by tag still gets the schema2 bytes skopeo pushed.
    const modern = await exactRequest(manifestUrl(repository, 'v1'), { headers: { accept: MediaType.dockerManifest } });
    expect(modern.headers['docker-content-digest']).toBe(pushed.digest);
    expect(sha256Digest(modern.body)).toBe(pushed.digest);

    const byConvertedDigest = await exactRequest(manifestUrl(repository, pulled.digest), { headers: { accept: SCHEMA1_SIGNED } });
    if (!remembersConversions) {
      expect(byConvertedDigest.status).toBe(404);
      return;
    }
    expect(byConvertedDigest.status, byConvertedDigest.body.toString('utf8').slice(0, 300)).toBe(200);
    expect(sha256Digest(parsePrettyJws(byConvertedDigest.body).payload)).toBe(pulled.digest);
    // skopeo asks with modern Accept headers; by digest it must get the schema1 bytes, and checks them.
    const back = scratch.child('back');
    const copied = await skopeo.copy(ref(repository, pulled.digest), `dir:${back}`);
    expect(copied.digest).toBe(pulled.digest);
    const image = await readDirImage(back);
    expect(sha256Digest(parsePrettyJws(image.manifest).payload)).toBe(pulled.digest);
    expectLayersBack(layout, image.blobs);
  });
});

/** HEAD answers the headers GET answered: status, type, digest and length. */
async function expectHeadMatches(url: string, accept: string | undefined, get: ExactAnswer): Promise<void> {
  const head = await exactRequest(url, { method: 'HEAD', headers: accept === undefined ? {} : { accept } });
  expect(head.status, `HEAD ${url}`).toBe(get.status);
  expect(head.body.length).toBe(0);
  expect(head.headers['content-type']).toBe(get.headers['content-type']);
  expect(head.headers['docker-content-digest']).toBe(get.headers['docker-content-digest']);
  expect(head.headers['content-length']).toBe(String(get.body.length));
  expect(get.headers['content-length']).toBe(String(get.body.length));
}
