// Reads back what skopeo wrote to local destinations (an OCI image layout or a `dir:`
// directory) so tests can compare it byte for byte with what was pushed.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REF_NAME_ANNOTATION } from './oci-image.js';

export interface ReadBackImage {
  /** The top-level manifest (image manifest or index) bytes. */
  readonly manifest: Buffer;
  /** Every blob found, by digest (for an OCI layout this includes manifests). */
  readonly blobs: ReadonlyMap<string, Buffer>;
}

/** The entry `tag` of an OCI image layout, and every blob in the layout. */
export async function readOciLayout(dir: string, tag: string): Promise<ReadBackImage & { readonly digest: string }> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {
    manifests?: { digest: string; annotations?: Record<string, string> }[];
  };
  const entry = (index.manifests ?? []).find((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
  if (!entry) throw new Error(`OCI layout ${dir} has no entry tagged ${tag}`);
  const blobs = new Map<string, Buffer>();
  const blobDir = join(dir, 'blobs', 'sha256');
  for (const name of await readdir(blobDir)) {
    blobs.set(`sha256:${name}`, await readFile(join(blobDir, name)));
  }
  const manifest = blobs.get(entry.digest);
  if (!manifest) throw new Error(`OCI layout ${dir}: ${entry.digest} is referenced but missing`);
  return { digest: entry.digest, manifest, blobs };
}

/**
 * A `dir:` destination: `manifest.json` is the top-level manifest; blobs are files named by the
 * hex part of their sha256 digest; with --all, instance manifests are `<hex>.manifest.json`.
 */
export async function readDirImage(dir: string): Promise<ReadBackImage & { readonly manifests: ReadonlyMap<string, Buffer> }> {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, Buffer>();
  for (const name of await readdir(dir)) {
    const blob = /^([0-9a-f]{64})$/.exec(name);
    const instance = /^([0-9a-f]{64})\.manifest\.json$/.exec(name);
    if (blob?.[1]) blobs.set(`sha256:${blob[1]}`, await readFile(join(dir, name)));
    else if (instance?.[1]) manifests.set(`sha256:${instance[1]}`, await readFile(join(dir, name)));
  }
  return { manifest: await readFile(join(dir, 'manifest.json')), blobs, manifests };
}
