import { z } from 'zod';
import { digestOf } from '../digest.js';
import { MediaType } from '../media-types.js';
import {
  annotationsSchema,
  descriptorSchema,
  documentMediaTypeSchema,
  forbiddenField,
  mediaTypeSchema,
  platformDescriptorSchema,
  schemaVersion2Schema,
} from './descriptor.js';
import { uniqueDigests } from './references.js';
import type { ParsedManifest } from './types.js';
import { validateManifestDocument } from './validate.js';

/** OCI image index v1.1: children may omit `platform`; `subject` makes the index itself a referrer. */
export const ociImageIndexSchema = z.object({
  schemaVersion: schemaVersion2Schema,
  mediaType: documentMediaTypeSchema(MediaType.OciIndex).optional(),
  artifactType: mediaTypeSchema.optional(),
  manifests: z.array(platformDescriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: annotationsSchema.optional(),
  config: forbiddenField('an image index must not have "config"'),
  layers: forbiddenField('an image index must not have "layers"'),
});

/** Validates a decoded OCI image index; `bytes` are the exact bytes pushed, for the digest. */
export function parseOciImageIndex(document: unknown, bytes: Uint8Array): ParsedManifest {
  const index = validateManifestDocument(ociImageIndexSchema, document, 'OCI image index');
  const parsed: ParsedManifest = {
    kind: 'oci-index',
    mediaType: MediaType.OciIndex,
    digest: digestOf(bytes),
    layers: [],
    manifests: index.manifests,
    blobReferences: [],
    manifestReferences: uniqueDigests(index.manifests),
  };
  if (index.artifactType !== undefined) parsed.artifactType = index.artifactType;
  if (index.subject !== undefined) parsed.subject = index.subject;
  if (index.annotations !== undefined) parsed.annotations = index.annotations;
  return parsed;
}
