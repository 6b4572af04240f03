import { digestOf, parseDigest } from '../digest.js';
import { RegistryError } from '../errors.js';
import type { Descriptor, ParsedManifest } from '../manifest/types.js';
import { MediaType } from '../media-types.js';
import { parseJsonBytes, parsePrettyJws, verifyPrettyJws } from './pretty-jws.js';

/** The fields of a schema1 payload (the manifest without its signatures). */
export interface Schema1Payload {
  schemaVersion: 1;
  name: string;
  tag: string;
  architecture: string;
  /** Newest first, as in the document. */
  fsLayers: Array<{ blobSum: string }>;
  /** Newest first; each entry is a v1 image JSON string. */
  history: Array<{ v1Compatibility: string }>;
}

export interface ParseSchema1Options {
  /** Check every JWS signature (default true). Off only for bytes the registry itself stored or signed. */
  verifySignatures?: boolean;
  /**
   * Accept a document without `signatures` (`…manifest.v1+json`); its digest is then the sha256 of
   * the whole document. Default false: distribution 2.8 refuses unsigned schema1 (MANIFEST_INVALID).
   */
  allowUnsigned?: boolean;
}

const V1_ID = /^[a-f0-9]{64}$/;

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message, detail === undefined ? {} : { detail });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(document: Record<string, unknown>, name: string): string {
  const value = document[name];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw invalid(`schema1 "${name}" must be a string`);
  return value;
}

function listOf<T>(document: Record<string, unknown>, name: string, read: (entry: Record<string, unknown>) => T): T[] {
  const value = document[name];
  if (!Array.isArray(value)) throw invalid(`schema1 "${name}" must be an array`);
  return value.map((entry) => {
    if (!isObject(entry)) throw invalid(`schema1 "${name}" entries must be objects`);
    return read(entry);
  });
}

/**
 * The v1 image chain, checked as Docker and containers/image check it before using a schema1
 * manifest: as many history entries as layers and at least one, every v1Compatibility a JSON object
 * with a 64-hex `id`, ids unique, each entry's `parent` the next (older) entry's id, the base entry
 * without a parent.
 */
function checkV1Chain(payload: Schema1Payload): void {
  const { fsLayers, history } = payload;
  if (history.length !== fsLayers.length) {
    throw invalid(`schema1 has ${fsLayers.length} fsLayers but ${history.length} history entries`);
  }
  if (history.length === 0) throw invalid('schema1 manifest has no layers');
  const images = history.map(({ v1Compatibility }, index) => {
    let image: unknown;
    try {
      image = JSON.parse(v1Compatibility);
    } catch {
      throw invalid(`history[${index}].v1Compatibility is not JSON`);
    }
    if (!isObject(image)) throw invalid(`history[${index}].v1Compatibility must be a JSON object`);
    const { id, parent } = image;
    if (typeof id !== 'string' || !V1_ID.test(id)) throw invalid(`history[${index}] has an invalid v1 id`);
    if (parent !== undefined && parent !== null && typeof parent !== 'string') {
      throw invalid(`history[${index}] has an invalid parent`);
    }
    return { id, parent: typeof parent === 'string' ? parent : '' };
  });
  const seen = new Set<string>();
  images.forEach((image, index) => {
    if (seen.has(image.id)) throw invalid(`v1 id ${image.id} appears more than once`);
    seen.add(image.id);
    const older = images[index + 1];
    const expected = older === undefined ? '' : older.id;
    if (image.parent !== expected) {
      throw invalid(
        older === undefined
          ? 'invalid parent ID in the base layer of the image'
          : `invalid parent ID in history[${index}]: expected ${expected}, got ${image.parent || 'none'}`,
      );
    }
  });
}

/** Reads and checks a schema1 payload (no signatures): structure, blobSum digests and the v1 chain. */
export function readSchema1Payload(payload: Uint8Array): Schema1Payload {
  const document = parseJsonBytes(payload);
  if (!isObject(document)) throw invalid('schema1 payload must be a JSON object');
  if (document['schemaVersion'] !== 1) throw invalid('schema1 payload must have schemaVersion 1');
  const fsLayers = listOf(document, 'fsLayers', (entry) => {
    const blobSum = entry['blobSum'];
    if (typeof blobSum !== 'string') throw invalid('fsLayers[].blobSum must be a string');
    try {
      return { blobSum: parseDigest(blobSum).value };
    } catch {
      throw invalid(`invalid blobSum ${JSON.stringify(blobSum.slice(0, 200))}`, { blobSum: blobSum.slice(0, 200) });
    }
  });
  const history = listOf(document, 'history', (entry) => {
    const v1Compatibility = entry['v1Compatibility'];
    if (typeof v1Compatibility !== 'string') throw invalid('history[].v1Compatibility must be a string');
    return { v1Compatibility };
  });
  const parsed: Schema1Payload = {
    schemaVersion: 1,
    name: optionalString(document, 'name'),
    tag: optionalString(document, 'tag'),
    architecture: optionalString(document, 'architecture'),
    fsLayers,
    history,
  };
  checkV1Chain(parsed);
  return parsed;
}

function describePayload(payload: Uint8Array): ParsedManifest {
  const { fsLayers } = readSchema1Payload(payload);
  const layers: Descriptor[] = [...fsLayers]
    .reverse()
    .map(({ blobSum }) => ({ mediaType: MediaType.DockerLayerGzip, digest: blobSum, size: -1 }));
  return {
    kind: 'schema1',
    mediaType: MediaType.DockerSchema1Signed,
    digest: digestOf(payload),
    layers,
    manifests: [],
    blobReferences: [...new Set(layers.map((layer) => layer.digest))],
    manifestReferences: [],
  };
}

/**
 * A schema1 payload without signatures (what the registry stores and re-signs on every read) as a
 * ParsedManifest; the digest is the sha256 of these bytes.
 */
export function parseSchema1Payload(payload: Uint8Array): ParsedManifest {
  return describePayload(payload);
}

/**
 * Parses a signed schema1 manifest (`…manifest.v1+prettyjws`). The digest is the sha256 of the payload
 * recovered from the signatures' formatLength/formatTail; layers are the fsLayers base first (size -1).
 * Malformed JSON, structure, JWS or v1 chain → MANIFEST_INVALID; a signature that does not verify →
 * MANIFEST_UNVERIFIED.
 */
export function parseSchema1Manifest(bytes: Uint8Array, options: ParseSchema1Options = {}): ParsedManifest {
  const document = parseJsonBytes(bytes);
  if (!isObject(document)) throw invalid('schema1 manifest must be a JSON object');
  if (document['signatures'] === undefined && options.allowUnsigned === true) return describePayload(bytes);
  const jws = parsePrettyJws(bytes, document);
  const parsed = describePayload(jws.payload);
  if (options.verifySignatures !== false) verifyPrettyJws(jws);
  return parsed;
}

/** The canonical payload (signatures removed) of a signed schema1 document; MANIFEST_INVALID if malformed. */
export function schema1PayloadOf(bytes: Uint8Array): Uint8Array {
  return parsePrettyJws(bytes).payload;
}
