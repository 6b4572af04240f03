import { RegistryError } from '../errors.js';
import { MediaType, type ManifestKind } from '../media-types.js';
import { parseSchema1Manifest } from '../schema1/manifest.js';
import { parseDockerManifestList } from './docker-list.js';
import { parseOciImageIndex } from './oci-index.js';
import { parseOciImageManifest } from './oci-manifest.js';
import { parseDockerSchema2Manifest } from './schema2.js';
import type { ParsedManifest } from './types.js';
import { describeValue } from './validate.js';

export interface ParseManifestOptions {
  /** Accept Docker schema1 manifests (default true). When false they are MANIFEST_INVALID. */
  acceptSchema1?: boolean;
}

/** Every manifest media type berth recognises, lowercase, with the kind it stands for. */
const KIND_OF_MEDIA_TYPE: ReadonlyMap<string, ManifestKind> = new Map([
  [MediaType.DockerSchema1, 'schema1'],
  [MediaType.DockerSchema1Signed, 'schema1'],
  [MediaType.DockerSchema2, 'schema2'],
  [MediaType.DockerManifestList, 'docker-list'],
  [MediaType.OciManifest, 'oci-manifest'],
  [MediaType.OciIndex, 'oci-index'],
]);

type Schema2Kind = Exclude<ManifestKind, 'schema1'>;

const PARSER_OF_KIND: Record<Schema2Kind, (document: unknown, bytes: Uint8Array) => ParsedManifest> = {
  schema2: parseDockerSchema2Manifest,
  'docker-list': parseDockerManifestList,
  'oci-manifest': parseOciImageManifest,
  'oci-index': parseOciImageIndex,
};

function invalid(message: string, detail?: unknown): RegistryError {
  return new RegistryError('MANIFEST_INVALID', message, { detail });
}

/** The `type/subtype` of a Content-Type, lowercase, without parameters; undefined when empty. */
function mediaTypeEssence(contentType: string | undefined): string | undefined {
  const essence = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  return essence === '' ? undefined : essence;
}

// Strict UTF-8; a byte order mark is kept so JSON.parse refuses it, as Go's decoder does.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeDocument(bytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw invalid('manifest is not valid UTF-8');
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw invalid(`manifest is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw invalid('manifest must be a JSON object');
  }
  return document as Record<string, unknown>;
}

/**
 * Which schemaVersion 2 format a document is: by its own `mediaType`, else by the Content-Type it was
 * pushed with (helm omits the field), else by shape. A manifest that declares its `mediaType` must be
 * pushed with that Content-Type (the OCI distribution spec puts that MUST on clients): one pushed as
 * another manifest type, as a non-manifest type (`text/plain`, `application/json`) or without a
 * Content-Type is refused, as distribution 2.8 refuses it.
 */
function detectSchema2Kind(document: Record<string, unknown>, contentType: string | undefined): Schema2Kind {
  const declaredKind = contentType === undefined ? undefined : KIND_OF_MEDIA_TYPE.get(contentType);
  const field = document['mediaType'];
  if (field !== undefined) {
    if (typeof field !== 'string') throw invalid('manifest mediaType must be a string');
    const kind = KIND_OF_MEDIA_TYPE.get(field.toLowerCase());
    if (kind === undefined || kind === 'schema1') {
      throw invalid(`unsupported manifest mediaType ${describeValue(field)} for schemaVersion 2`, {
        mediaType: field.slice(0, 200),
      });
    }
    if (declaredKind !== undefined && declaredKind !== kind) {
      throw invalid(`manifest mediaType ${describeValue(field)} does not match Content-Type "${contentType}"`, {
        mediaType: field.slice(0, 200),
        contentType,
      });
    }
    if (declaredKind === undefined) {
      const pushedAs = contentType === undefined ? 'without a Content-Type' : `as "${contentType.slice(0, 200)}", which is not a manifest type`;
      throw invalid(`manifest mediaType ${describeValue(field)} requires Content-Type "${field.toLowerCase()}", but it was pushed ${pushedAs}`, {
        mediaType: field.slice(0, 200),
        contentType: contentType === undefined ? null : contentType.slice(0, 200),
      });
    }
    return kind;
  }
  if (declaredKind === 'schema1') {
    throw invalid(`Content-Type "${contentType}" is schema1 but the manifest has schemaVersion 2`, { contentType });
  }
  if (declaredKind !== undefined) return declaredKind;
  return Object.hasOwn(document, 'manifests') ? 'oci-index' : 'oci-manifest';
}

/**
 * Parses and validates a pushed manifest of any supported format. `bytes` are kept as pushed: the
 * digest is computed over them and nothing is re-serialized. Any problem is MANIFEST_INVALID.
 */
export function parseManifest(
  bytes: Uint8Array,
  contentType?: string,
  options: ParseManifestOptions = {},
): ParsedManifest {
  const document = decodeDocument(bytes);
  const essence = mediaTypeEssence(contentType);
  const schemaVersion = document['schemaVersion'];
  if (schemaVersion === 1) {
    const declaredKind = essence === undefined ? undefined : KIND_OF_MEDIA_TYPE.get(essence);
    if (declaredKind !== undefined && declaredKind !== 'schema1') {
      throw invalid(`Content-Type "${essence}" does not match a schemaVersion 1 manifest`, { contentType: essence });
    }
    if (options.acceptSchema1 === false) throw invalid('schema1 manifests are not accepted by this registry');
    return parseSchema1Manifest(bytes);
  }
  if (schemaVersion !== 2) {
    throw invalid(
      schemaVersion === undefined
        ? 'manifest has no schemaVersion'
        : `unsupported manifest schemaVersion ${describeValue(schemaVersion)}`,
    );
  }
  const kind = detectSchema2Kind(document, essence);
  return PARSER_OF_KIND[kind](document, bytes);
}
