// What the access tests seed into a repository through the back door, and how to put it back after a
// request that was allowed to remove part of it.
import { randomBytes } from 'node:crypto';
import { OCI_MANIFEST, pushBlob, pushImage, sha256, type PushedImage } from './content.js';
import type { Http } from './access-registry.js';

export interface SeededRepository {
  repository: string;
  /** An OCI image tagged `latest` and `gone`. */
  image: PushedImage;
  /** Another manifest (tag `doomed`), for deletes by digest. */
  doomed: { digest: string; body: string };
  /** A blob linked to the repository that no manifest needs, for blob deletes. */
  spare: { digest: string; bytes: Buffer };
  /** An artifact whose subject is the image. */
  referrer: string;
}

export async function seedRepository(backdoor: Http, repository: string): Promise<SeededRepository> {
  const image = await pushImage(backdoor, repository, 'latest');
  await putManifest(backdoor, repository, 'gone', image.body);
  const doomedBody = JSON.stringify({ ...(JSON.parse(image.body) as object), annotations: { doomed: 'yes' } });
  await putManifest(backdoor, repository, 'doomed', doomedBody);
  const spareBytes = randomBytes(32);
  const spare = await pushBlob(backdoor, repository, spareBytes);
  const config = JSON.parse(image.body).config as { digest: string; size: number };
  const referrerBody = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: 'application/vnd.example.sbom',
    config,
    layers: [],
    subject: { mediaType: OCI_MANIFEST, digest: image.digest, size: Buffer.byteLength(image.body) },
  });
  await putManifest(backdoor, repository, sha256(referrerBody), referrerBody);
  return {
    repository,
    image,
    doomed: { digest: sha256(doomedBody), body: doomedBody },
    spare: { digest: spare, bytes: spareBytes },
    referrer: sha256(referrerBody),
  };
}

export async function putManifest(http: Http, repository: string, reference: string, body: string): Promise<void> {
  await http.put(`/v2/${repository}/manifests/${reference}`).set('Content-Type', OCI_MANIFEST).send(body).expect(201);
}

/** Starts an upload session in the repository (as someone allowed to) and returns its location. */
export async function startUpload(http: Http, repository: string): Promise<string> {
  const response = await http.post(`/v2/${repository}/blobs/uploads/`).expect(202);
  return response.headers['location'] as string;
}
