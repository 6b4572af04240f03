// Differential test of schema2 -> signed schema1 conversion: the same generated schema2 images
// are pushed to berth and to distribution 2.8 (Debian's docker-registry), then pulled by tag
// the way a Docker 1.9-era client does. The canonical payloads must be byte-identical, so the
// Docker-Content-Digest is the same; signatures differ (each registry has its own key) but must
// verify, and the signed body must have the same layout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactRequest, type ExactAnswer } from '../support/exact-http.js';
import { MediaType, sha256Digest } from '../support/oci-image.js';
import { ACCEPT_ALL_MANIFESTS } from '../support/registry-http.js';
import {
  expectedFormatLength,
  firstDifference,
  maskSignatureValues,
  parsePrettyJws,
  SCHEMA1_SIGNED,
  SCHEMA1_UNSIGNED,
  v1ChainProblems,
  verifyPrettyJws,
  type Schema1Payload,
} from '../support/schema1-jws.js';
import {
  EMPTY_LAYER_DIGEST,
  generateSchema2Image,
  pushSchema2Image,
  type Schema2Defect,
  type Schema2Image,
} from '../support/schema2-images.js';
import { startBerth, startReferenceRegistry, type RunningRegistry } from '../support/servers.js';

const IMAGE_COUNT = 60;
const PUSH_CONCURRENCY = 6;

const IMAGES: readonly Schema2Image[] = Array.from({ length: IMAGE_COUNT }, (_, i) => generateSchema2Image(i + 1));
const DEFECTS: readonly Schema2Defect[] = ['no-history', 'empty-history', 'fewer-diff-ids', 'more-diff-ids', 'too-many-non-empty-history'];
const DEFECTIVE: readonly Schema2Image[] = DEFECTS.map((defect, i) =>
  generateSchema2Image(1000 + i, { defect, repository: 'schema1/defects', tag: defect }),
);

/** Accept headers on which berth and distribution 2.8 agree by design (see the README's table). */
const SCHEMA2_AND_SCHEMA1 = [MediaType.dockerManifest, SCHEMA1_SIGNED, 'application/json'].join(', ');
const AGREED_ACCEPTS: readonly { name: string; accept: string | readonly string[] | undefined }[] = [
  { name: 'no Accept', accept: undefined },
  { name: '*/*', accept: '*/*' },
  { name: 'application/*', accept: 'application/*' },
  { name: 'schema1 signed', accept: SCHEMA1_SIGNED },
  { name: 'schema1 unsigned', accept: SCHEMA1_UNSIGNED },
  { name: 'schema1 both, two headers', accept: [SCHEMA1_SIGNED, SCHEMA1_UNSIGNED] },
  { name: 'schema2 only', accept: MediaType.dockerManifest },
  { name: 'Docker 1.10 (schema2, schema1, json)', accept: SCHEMA2_AND_SCHEMA1 },
  { name: 'schema1 and schema2 in two headers', accept: [SCHEMA1_SIGNED, MediaType.dockerManifest] },
  { name: 'every modern type', accept: ACCEPT_ALL_MANIFESTS },
];

describe('schema2 -> schema1 conversion: berth against distribution 2.8', () => {
  let reference: RunningRegistry | undefined;
  let berth: RunningRegistry | undefined;
  /** Push failures per server, keyed by `repository:tag`, reported by the test of that image. */
  const pushErrors = new Map<string, string>();

  beforeAll(async () => {
    const started = await Promise.allSettled([startReferenceRegistry(), startBerth()]);
    if (started[0].status === 'fulfilled') reference = started[0].value;
    if (started[1].status === 'fulfilled') berth = started[1].value;
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    await Promise.all(
      [reference!, berth!].map((registry) => pushAll(registry, [...IMAGES, ...DEFECTIVE], pushErrors)),
    );
  });

  afterAll(async () => {
    await Promise.allSettled([reference?.stop(), berth?.stop()]);
  });

  const servers = () => ({ reference: reference!, berth: berth! });

  function expectPushed(image: Schema2Image) {
    for (const [name, registry] of Object.entries(servers())) {
      expect(pushErrors.get(`${registry.url} ${image.repository}:${image.tag}`), `push to ${name}`).toBeUndefined();
    }
  }

  it.each(IMAGES.map((image) => [image.seed, image.summary, image] as const))(
    'image %i (%s): same status, digest, content type and canonical payload by tag',
    async (_seed, _summary, image) => {
      expectPushed(image);
      const { reference: ref, berth: ours } = servers();
      const [theirs, mine] = await Promise.all([
        getManifest(ref, image.repository, image.tag, SCHEMA1_SIGNED),
        getManifest(ours, image.repository, image.tag, SCHEMA1_SIGNED),
      ]);
      // The reference must convert every generated image; if not, the generator is at fault.
      expect(theirs.status, `reference: ${theirs.body.toString('utf8')}`).toBe(200);
      expect(mine.status, `berth: ${mine.body.toString('utf8').slice(0, 500)}`).toBe(theirs.status);
      expect(mine.headers['content-type']).toBe(theirs.headers['content-type']);
      expect(theirs.headers['content-type']).toBe(SCHEMA1_SIGNED);

      const theirJws = parsePrettyJws(theirs.body);
      const myJws = parsePrettyJws(mine.body);
      const difference = firstDifference(myJws.payload, theirJws.payload, ['berth', 'reference']);
      expect(difference, `canonical payloads differ:\n${difference}`).toBeUndefined();
      expect(mine.headers['docker-content-digest']).toBe(theirs.headers['docker-content-digest']);

      for (const [name, answer, jws] of [['reference', theirs, theirJws], ['berth', mine, myJws]] as const) {
        expect(answer.headers['docker-content-digest'], `${name}: digest of the payload`).toBe(sha256Digest(jws.payload));
        expect(jws.signatures, `${name}: one signature, the registry's`).toHaveLength(1);
        expect(() => verifyPrettyJws(jws), `${name}: signature`).not.toThrow();
        expect(jws.formatLength, `${name}: formatLength`).toBe(expectedFormatLength(jws.payload));
        expect(jws.signatures[0]!.protectedHeader.time, `${name}: protected time`).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        expect(v1ChainProblems(jws.payload), `${name}: v1 id chain`).toEqual([]);
      }
      // Signatures differ, but the signed body has the same layout around them.
      expect(maskSignatureValues(mine.body, myJws.formatLength)).toBe(maskSignatureValues(theirs.body, theirJws.formatLength));
      expect(mine.headers['etag']).toBe(theirs.headers['etag']);
    },
  );

  it.each(IMAGES.map((image) => [image.seed, image] as const))(
    'image %i: no Accept gives the same digest; HEAD matches GET; every fsLayer is pullable',
    async (_seed, image) => {
      expectPushed(image);
      const digests: Record<string, string | undefined> = {};
      for (const [name, registry] of Object.entries(servers())) {
        const signed = await getManifest(registry, image.repository, image.tag, SCHEMA1_SIGNED);
        expect(signed.status, `${name}: ${signed.body.toString('utf8').slice(0, 300)}`).toBe(200);
        const digest = signed.headers['docker-content-digest'];
        digests[name] = digest;

        const bare = await getManifest(registry, image.repository, image.tag, undefined);
        expect(bare.status, `${name} without Accept`).toBe(200);
        expect(bare.headers['content-type'], `${name} without Accept`).toBe(SCHEMA1_SIGNED);
        expect(bare.headers['docker-content-digest'], `${name} without Accept`).toBe(digest);
        expect(sha256Digest(parsePrettyJws(bare.body).payload), `${name} without Accept`).toBe(digest);

        const head = await getManifest(registry, image.repository, image.tag, SCHEMA1_SIGNED, 'HEAD');
        expect(head.status, `${name} HEAD`).toBe(200);
        expect(head.body.length, `${name} HEAD has no body`).toBe(0);
        expect(head.headers['docker-content-digest'], `${name} HEAD`).toBe(digest);
        expect(head.headers['content-type'], `${name} HEAD`).toBe(SCHEMA1_SIGNED);
        expect(signed.headers['content-length'], `${name} GET Content-Length`).toBe(String(signed.body.length));
        expect(head.headers['content-length'], `${name} HEAD Content-Length`).toBe(String(signed.body.length));

        // What a Docker 1.9 client does next: fetch every fsLayer, including the empty tar.
        const payload = JSON.parse(parsePrettyJws(signed.body).payload.toString('utf8')) as Schema1Payload;
        for (const blobSum of new Set(payload.fsLayers.map((layer) => layer.blobSum))) {
          const blob = await exactRequest(`${registry.url}/v2/${image.repository}/blobs/${blobSum}`);
          expect(blob.status, `${name}: blob ${blobSum}${blobSum === EMPTY_LAYER_DIGEST ? ' (empty layer)' : ''}`).toBe(200);
          expect(sha256Digest(blob.body), `${name}: blob ${blobSum}`).toBe(blobSum);
        }
      }
      expect(digests.berth).toBe(digests.reference);
    },
  );

  it.each(IMAGES.map((image) => [image.seed, image] as const))(
    'image %i: berth serves the converted manifest again by the digest it reported, whatever the Accept',
    async (_seed, image) => {
      expectPushed(image);
      const registry = servers().berth;
      const byTag = await getManifest(registry, image.repository, image.tag, SCHEMA1_SIGNED);
      expect(byTag.status, byTag.body.toString('utf8').slice(0, 300)).toBe(200);
      const digest = byTag.headers['docker-content-digest']!;
      expect(digest).toBe(sha256Digest(parsePrettyJws(byTag.body).payload));
      for (const accept of [SCHEMA1_SIGNED, undefined, ACCEPT_ALL_MANIFESTS, MediaType.dockerManifest]) {
        const label = `by digest, Accept ${accept ?? '(none)'}`;
        const byDigest = await getManifest(registry, image.repository, digest, accept);
        expect(byDigest.status, `${label}: ${byDigest.body.toString('utf8').slice(0, 300)}`).toBe(200);
        expect(byDigest.headers['docker-content-digest'], label).toBe(digest);
        expect(byDigest.headers['content-type'], label).toBe(SCHEMA1_SIGNED);
        const jws = parsePrettyJws(byDigest.body);
        expect(sha256Digest(jws.payload), label).toBe(digest);
        expect(() => verifyPrettyJws(jws), label).not.toThrow();
      }
      // The schema2 original is still there under its own digest.
      const original = await getManifest(registry, image.repository, image.manifest.digest, SCHEMA1_SIGNED);
      expect(original.status).toBe(200);
      expect(original.headers['content-type']).toBe(MediaType.dockerManifest);
      expect(original.body.equals(image.manifest.bytes)).toBe(true);
    },
  );

  it.each(DEFECTIVE.map((image) => [image.tag, image] as const))(
    'a config distribution cannot convert (%s): same status and error codes',
    async (_defect, image) => {
      expectPushed(image);
      for (const accept of [SCHEMA1_SIGNED, undefined]) {
        const { reference: ref, berth: ours } = servers();
        const [theirs, mine] = await Promise.all([
          getManifest(ref, image.repository, image.tag, accept),
          getManifest(ours, image.repository, image.tag, accept),
        ]);
        const label = `Accept ${accept ?? '(none)'}`;
        expect(theirs.status, `reference, ${label}: ${theirs.body.toString('utf8')}`).toBe(400);
        expect(errorCodes(theirs), `reference, ${label}`).toEqual(['MANIFEST_INVALID']);
        expect(mine.status, `berth, ${label}: ${mine.body.toString('utf8')}`).toBe(theirs.status);
        expect(errorCodes(mine), `berth, ${label}`).toEqual(errorCodes(theirs));
      }
      // A client that reads schema2 is not affected.
      for (const [name, registry] of Object.entries(servers())) {
        const schema2 = await getManifest(registry, image.repository, image.tag, MediaType.dockerManifest);
        expect(schema2.status, name).toBe(200);
        expect(schema2.body.equals(image.manifest.bytes), name).toBe(true);
      }
    },
  );

  it.each(AGREED_ACCEPTS.map((c) => [c.name, c.accept] as const))(
    'Accept %s: same status, content type and digest, by tag and by digest',
    async (_name, accept) => {
      for (const image of IMAGES.slice(0, 4)) {
        expectPushed(image);
        for (const reference of [image.tag, image.manifest.digest]) {
          const { reference: ref, berth: ours } = servers();
          const [theirs, mine] = await Promise.all([
            getManifest(ref, image.repository, reference, accept),
            getManifest(ours, image.repository, reference, accept),
          ]);
          const label = `${image.repository}:${reference}`;
          expect(theirs.status, `reference ${label}`).toBe(200);
          expect(mine.status, `berth ${label}: ${mine.body.toString('utf8').slice(0, 300)}`).toBe(theirs.status);
          expect(mine.headers['content-type'], label).toBe(theirs.headers['content-type']);
          expect(mine.headers['docker-content-digest'], label).toBe(theirs.headers['docker-content-digest']);
          if (theirs.headers['content-type'] === MediaType.dockerManifest) {
            expect(mine.body.equals(image.manifest.bytes), label).toBe(true);
          }
        }
      }
    },
  );
});

async function getManifest(
  registry: RunningRegistry,
  repository: string,
  reference: string,
  accept: string | readonly string[] | undefined,
  method: 'GET' | 'HEAD' = 'GET',
): Promise<ExactAnswer> {
  return exactRequest(`${registry.url}/v2/${repository}/manifests/${reference}`, {
    method,
    headers: accept === undefined ? {} : { accept },
  });
}

function errorCodes(answer: ExactAnswer): string[] {
  try {
    const parsed = JSON.parse(answer.body.toString('utf8')) as { errors?: { code?: unknown }[] };
    return (parsed.errors ?? []).map((e) => String(e.code));
  } catch {
    return [];
  }
}

async function pushAll(registry: RunningRegistry, images: readonly Schema2Image[], errors: Map<string, string>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < images.length) {
      const image = images[next++]!;
      try {
        await pushSchema2Image(registry.url, image);
      } catch (error) {
        errors.set(`${registry.url} ${image.repository}:${image.tag}`, error instanceof Error ? error.message : String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: PUSH_CONCURRENCY }, worker));
}
