import { createHash } from 'node:crypto';
import { parseDigest } from '../digest.js';
import { RegistryError } from '../errors.js';
import { EMPTY_LAYER_DIGEST } from './empty-layer.js';
import {
  compactGoJson,
  compareGoKeys,
  goArrayBytes,
  goObjectBytes,
  indentGoJson,
  parseGoJson,
  quoteGoBytes,
  quoteGoString,
  utf8Bytes,
  type GoJsonNode,
} from './go-json.js';
import { GO_ZERO_TIME, GoTimeError, reformatGoJsonTime } from './go-time.js';

/**
 * Schema2 → schema1 conversion, byte for byte as distribution 2.8's ConfigManifestBuilder: the result
 * is the canonical payload (MarshalIndent, 3 spaces, no signatures) whose sha256 is the digest of the
 * converted manifest. Sign it with signSchema1Payload to serve it.
 */

export interface Schema1ConversionInput {
  /** The raw bytes of the image config blob; the top v1 id hashes them exactly. */
  configBytes: Uint8Array;
  /** The schema2 layers in manifest order (base first); only `digest` is used. */
  layers: ReadonlyArray<{ digest: string }>;
  /** Repository name as in the URL, without a registry host (`library/demo`). */
  repository: string;
  /** The requested tag; `''` (the default) when converting by something else. */
  tag?: string;
  /**
   * Overrides the manifest's top-level `architecture`. Without it (reference behaviour) the config's
   * `architecture` is used, `''` when absent.
   */
  architecture?: string;
}

// --- Decoding the config as Go decodes it into distribution's private imageConfig struct. ---

class GoDecodeError extends Error {}

function typeError(node: GoJsonNode, into: string): GoDecodeError {
  const kind = node.kind === 'true' || node.kind === 'false' ? 'bool' : node.kind;
  return new GoDecodeError(`json: cannot unmarshal ${kind} into Go value of type ${into}`);
}

/**
 * Go matches JSON keys to struct fields ignoring ASCII case, and also lets `ſ` (U+017F) stand for `s`
 * and the Kelvin sign (U+212A) for `k`.
 */
function fieldNameMatches(field: string, key: string): boolean {
  const keyChars = Array.from(key);
  if (keyChars.length !== field.length) return false;
  return keyChars.every((char, index) => {
    const expected = field[index]!;
    if (char === expected || (/[A-Z]/.test(char) && char.toLowerCase() === expected)) return true;
    return (expected === 's' && char === '\u017f') || (expected === 'k' && char === '\u212a');
  });
}

type FieldDecoders<T> = Record<string, (node: GoJsonNode, target: T) => void>;

/** Decodes an object into a struct in place: matching fields are overwritten, others kept (Go semantics). */
function decodeStruct<T>(node: GoJsonNode, target: T, fields: FieldDecoders<T>, typeName: string): T {
  if (node.kind === 'null') return target;
  if (node.kind !== 'object') throw typeError(node, typeName);
  const names = Object.keys(fields);
  for (const member of node.members) {
    const name = names.find((candidate) => candidate === member.key) ?? names.find((candidate) => fieldNameMatches(candidate, member.key));
    if (name !== undefined) fields[name]!(member.value, target);
  }
  return target;
}

function decodeString(node: GoJsonNode, current: string, typeName = 'string'): string {
  if (node.kind === 'null') return current;
  if (node.kind !== 'string') throw typeError(node, typeName);
  return node.value;
}

function decodeBool(node: GoJsonNode, current: boolean): boolean {
  if (node.kind === 'null') return current;
  if (node.kind === 'true' || node.kind === 'false') return node.kind === 'true';
  throw typeError(node, 'bool');
}

/** A Go slice: a backing array (its capacity) and a length. Go decodes arrays into the existing backing. */
interface GoSlice<T> {
  backing: T[];
  length: number;
}

function sliceItems<T>(slice: GoSlice<T> | null): T[] {
  return slice === null ? [] : slice.backing.slice(0, slice.length);
}

/**
 * Go's decoding of a JSON array into a slice, reusing (and merging into) the elements of an existing
 * backing array, growing capacity by half (at least 4), an empty array giving an empty slice and null
 * a nil one. Only a key repeated in the config makes the reuse visible, but then it matters.
 */
function decodeSlice<T>(
  node: GoJsonNode,
  current: GoSlice<T> | null,
  zero: () => T,
  decodeElement: (item: GoJsonNode, existing: T) => T,
  typeName: string,
): GoSlice<T> | null {
  if (node.kind === 'null') return null;
  if (node.kind !== 'array') throw typeError(node, typeName);
  let slice = current ?? { backing: [], length: 0 };
  let index = 0;
  for (const item of node.items) {
    if (index >= slice.backing.length) {
      const capacity = slice.backing.length;
      const grown = Math.max(capacity + Math.floor(capacity / 2), 4);
      const length = slice.length;
      const backing = Array.from({ length: grown }, (_, k) => (k < length ? slice.backing[k]! : zero()));
      slice = { backing, length };
    }
    if (index >= slice.length) slice.length = index + 1;
    slice.backing[index] = decodeElement(item, slice.backing[index]!);
    index++;
  }
  if (index < slice.length) slice.length = index;
  return index === 0 ? { backing: [], length: 0 } : slice;
}

interface HistoryEntry {
  /** Already in Go's output form. */
  created: string;
  author: string;
  createdBy: string;
  comment: string;
  emptyLayer: boolean;
}

interface RootFs {
  type: string;
  diffIds: GoSlice<string> | null;
  baseLayer: string;
}

interface ImageConfig {
  rootfs: RootFs | null;
  history: GoSlice<HistoryEntry> | null;
  architecture: string;
}

function decodeTime(configBytes: Uint8Array) {
  return (node: GoJsonNode, entry: HistoryEntry): void => {
    if (node.kind === 'null') return;
    const raw = Buffer.from(configBytes.subarray(node.start, node.end)).toString('latin1');
    entry.created = reformatGoJsonTime(raw);
  };
}

function decodeImageConfig(root: GoJsonNode, configBytes: Uint8Array): ImageConfig {
  const historyFields: FieldDecoders<HistoryEntry> = {
    created: decodeTime(configBytes),
    author: (node, entry) => void (entry.author = decodeString(node, entry.author)),
    created_by: (node, entry) => void (entry.createdBy = decodeString(node, entry.createdBy)),
    comment: (node, entry) => void (entry.comment = decodeString(node, entry.comment)),
    empty_layer: (node, entry) => void (entry.emptyLayer = decodeBool(node, entry.emptyLayer)),
  };
  const zeroHistory = (): HistoryEntry => ({ created: GO_ZERO_TIME, author: '', createdBy: '', comment: '', emptyLayer: false });
  const rootFsFields: FieldDecoders<RootFs> = {
    type: (node, rootfs) => void (rootfs.type = decodeString(node, rootfs.type)),
    diff_ids: (node, rootfs) =>
      void (rootfs.diffIds = decodeSlice(node, rootfs.diffIds, () => '', (item, existing) => decodeString(item, existing, 'digest.Digest'), '[]digest.Digest')),
    base_layer: (node, rootfs) => void (rootfs.baseLayer = decodeString(node, rootfs.baseLayer)),
  };
  const configFields: FieldDecoders<ImageConfig> = {
    rootfs: (node, config) => {
      if (node.kind === 'null') config.rootfs = null;
      else config.rootfs = decodeStruct(node, config.rootfs ?? { type: '', diffIds: null, baseLayer: '' }, rootFsFields, 'imageRootFS');
    },
    history: (node, config) =>
      void (config.history = decodeSlice(
        node,
        config.history,
        zeroHistory,
        (item, existing) => decodeStruct(item, existing, historyFields, 'imageHistory'),
        '[]imageHistory',
      )),
    architecture: (node, config) => void (config.architecture = decodeString(node, config.architecture)),
  };
  return decodeStruct(root, { rootfs: null, history: null, architecture: '' }, configFields, 'imageConfig');
}

// --- Building the schema1 payload. ---

function invalid(message: string): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message);
}

function sha256Hex(...parts: Array<Uint8Array | string>): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** The v1Compatibility of an older history entry: a fixed struct, compact, keys in this order. */
function historyV1Compatibility(id: string, parent: string, entry: HistoryEntry): Uint8Array {
  const members: Array<[string, Uint8Array]> = [['id', quoteGoString(id)]];
  if (parent !== '') members.push(['parent', quoteGoString(parent)]);
  if (entry.comment !== '') members.push(['comment', quoteGoString(entry.comment)]);
  members.push(['created', quoteGoString(entry.created)]);
  members.push(['container_config', goObjectBytes([['Cmd', goArrayBytes([quoteGoString(entry.createdBy)])]])]);
  if (entry.author !== '') members.push(['author', quoteGoString(entry.author)]);
  if (entry.emptyLayer) members.push(['throwaway', utf8Bytes('true')]);
  return goObjectBytes(members);
}

/**
 * The top v1Compatibility: the config itself as a map of raw values (last duplicate key wins), without
 * `rootfs` and `history`, with `id` (and `parent`, `throwaway`) set, keys sorted by bytes, values compacted.
 */
function topV1Compatibility(root: GoJsonNode, configBytes: Uint8Array, id: string, parent: string, throwaway: boolean): Uint8Array {
  if (root.kind !== 'object') throw invalid('image config must be a JSON object');
  const members = new Map<string, Uint8Array>();
  for (const member of root.members) members.set(member.key, compactGoJson(configBytes, member.value.start, member.value.end));
  members.delete('rootfs');
  members.delete('history');
  members.set('id', quoteGoString(id));
  if (parent !== '') members.set('parent', quoteGoString(parent));
  if (throwaway) members.set('throwaway', utf8Bytes('true'));
  const keys = [...members.keys()].sort(compareGoKeys);
  return goObjectBytes(keys.map((key) => [key, members.get(key)!] as const));
}

function decodeConfig(configBytes: Uint8Array): { root: GoJsonNode; config: ImageConfig } {
  let root: GoJsonNode;
  try {
    root = parseGoJson(configBytes);
  } catch (error) {
    throw invalid(`image config is not valid JSON: ${(error as Error).message}`);
  }
  try {
    return { root, config: decodeImageConfig(root, configBytes) };
  } catch (error) {
    if (error instanceof GoDecodeError || error instanceof GoTimeError) throw invalid(error.message);
    throw error;
  }
}

/**
 * Converts a schema2 image (its config bytes and layers) into the canonical schema1 payload that
 * distribution 2.8 serves to clients that do not accept schema2. Errors are MANIFEST_INVALID, with
 * the reference's messages where it has them. Empty-layer entries use EMPTY_LAYER_DIGEST, a blob the
 * registry must then hold.
 */
export function convertToSchema1(input: Schema1ConversionInput): Uint8Array {
  const { configBytes, repository, tag = '' } = input;
  const layerDigests = input.layers.map(({ digest }) => {
    try {
      return parseDigest(digest).value;
    } catch {
      throw invalid(`invalid layer digest ${JSON.stringify(String(digest).slice(0, 200))}`);
    }
  });
  const { root, config } = decodeConfig(configBytes);
  const history = sliceItems(config.history);
  if (history.length === 0) throw invalid('empty history when trying to create schema1 manifest');
  // distribution dereferences rootfs here without a check and panics; berth refuses the config.
  if (config.rootfs === null) throw invalid('image config has no rootfs');
  const diffIdCount = config.rootfs.diffIds?.length ?? 0;
  if (diffIdCount !== layerDigests.length) {
    throw invalid(
      `number of descriptors and number of layers in rootfs must match: len(${diffIdCount}) != len(${layerDigests.length})`,
    );
  }

  const count = history.length;
  const fsLayers: string[] = new Array<string>(count);
  const v1Compatibilities: Uint8Array[] = new Array<Uint8Array>(count);
  let parent = '';
  let layerIndex = 0;
  const nextBlobSum = (entry: HistoryEntry, advance: boolean): string => {
    if (entry.emptyLayer) return EMPTY_LAYER_DIGEST;
    if (layerIndex >= diffIdCount) throw invalid('too many non-empty layers in History section');
    const blobSum = layerDigests[layerIndex]!;
    if (advance) layerIndex++;
    return blobSum;
  };

  history.slice(0, -1).forEach((entry, index) => {
    const blobSum = nextBlobSum(entry, true);
    const id = sha256Hex(`${hexOf(blobSum)} ${parent}`);
    // Windows images: the base entry's parent is derived from the base layer, after its own id.
    if (index === 0 && config.rootfs!.baseLayer !== '') {
      parent = createHash('sha384').update(config.rootfs!.baseLayer, 'utf8').digest().subarray(0, 32).toString('hex');
    }
    fsLayers[count - 1 - index] = blobSum;
    v1Compatibilities[count - 1 - index] = historyV1Compatibility(id, parent, entry);
    parent = id;
  });

  const top = history[count - 1]!;
  const topBlobSum = nextBlobSum(top, false);
  const topId = sha256Hex(`${hexOf(topBlobSum)} ${parent} `, configBytes);
  fsLayers[0] = topBlobSum;
  v1Compatibilities[0] = topV1Compatibility(root, configBytes, topId, parent, top.emptyLayer);

  const manifest = goObjectBytes([
    ['schemaVersion', utf8Bytes('1')],
    ['name', quoteGoString(repository)],
    ['tag', quoteGoString(tag)],
    ['architecture', quoteGoString(input.architecture ?? config.architecture)],
    ['fsLayers', goArrayBytes(fsLayers.map((blobSum) => goObjectBytes([['blobSum', quoteGoString(blobSum)]])))],
    ['history', goArrayBytes(v1Compatibilities.map((v1) => goObjectBytes([['v1Compatibility', quoteGoBytes(v1)]])))],
  ]);
  return indentGoJson(manifest, '', '   ');
}
