import { z } from 'zod';
import { digestOf } from '../digest.js';
import { MediaType } from '../media-types.js';
import {
  descriptorSchema,
  documentMediaTypeSchema,
  forbiddenField,
  schemaVersion2Schema,
} from './descriptor.js';
import { imageBlobReferences } from './references.js';
import type { ParsedManifest } from './types.js';
import { validateManifestDocument } from './validate.js';

/** Docker image manifest v2 schema 2: `mediaType` is required, unlike in its OCI successor. */
export const dockerSchema2ManifestSchema = z.object({
  schemaVersion: schemaVersion2Schema,
  mediaType: documentMediaTypeSchema(MediaType.DockerSchema2),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  manifests: forbiddenField('an image manifest must not have "manifests"'),
});

/** Validates a decoded Docker schema 2 manifest; `bytes` are the exact bytes pushed, for the digest. */
export function parseDockerSchema2Manifest(document: unknown, bytes: Uint8Array): ParsedManifest {
  const manifest = validateManifestDocument(dockerSchema2ManifestSchema, document, 'Docker schema 2 manifest');
  return {
    kind: 'schema2',
    mediaType: MediaType.DockerSchema2,
    digest: digestOf(bytes),
    config: manifest.config,
    layers: manifest.layers,
    manifests: [],
    blobReferences: imageBlobReferences(manifest.config, manifest.layers),
    manifestReferences: [],
  };
}
