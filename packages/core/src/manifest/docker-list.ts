import { z } from 'zod';
import { digestOf } from '../digest.js';
import { MediaType } from '../media-types.js';
import {
  documentMediaTypeSchema,
  forbiddenField,
  platformDescriptorSchema,
  platformSchema,
  schemaVersion2Schema,
} from './descriptor.js';
import { uniqueDigests } from './references.js';
import type { ParsedManifest } from './types.js';
import { validateManifestDocument } from './validate.js';

/** Docker manifest list: `mediaType` is required and every entry names its platform. */
export const dockerManifestListSchema = z.object({
  schemaVersion: schemaVersion2Schema,
  mediaType: documentMediaTypeSchema(MediaType.DockerManifestList),
  manifests: z.array(platformDescriptorSchema.extend({ platform: platformSchema })),
  config: forbiddenField('a manifest list must not have "config"'),
  layers: forbiddenField('a manifest list must not have "layers"'),
});

/** Validates a decoded Docker manifest list; `bytes` are the exact bytes pushed, for the digest. */
export function parseDockerManifestList(document: unknown, bytes: Uint8Array): ParsedManifest {
  const list = validateManifestDocument(dockerManifestListSchema, document, 'Docker manifest list');
  return {
    kind: 'docker-list',
    mediaType: MediaType.DockerManifestList,
    digest: digestOf(bytes),
    layers: [],
    manifests: list.manifests,
    blobReferences: [],
    manifestReferences: uniqueDigests(list.manifests),
  };
}
