import { z } from 'zod';
import { digestOf } from '../digest.js';
import { MediaType } from '../media-types.js';
import {
  annotationsSchema,
  descriptorSchema,
  documentMediaTypeSchema,
  forbiddenField,
  mediaTypeSchema,
  schemaVersion2Schema,
} from './descriptor.js';
import { imageBlobReferences } from './references.js';
import type { ParsedManifest } from './types.js';
import { validateManifestDocument } from './validate.js';

/**
 * OCI image manifest v1.1. `layers` may be empty (artifacts); `subject` points at the manifest this
 * one refers to, which need not exist yet, so it is no reference.
 */
export const ociImageManifestSchema = z.object({
  schemaVersion: schemaVersion2Schema,
  mediaType: documentMediaTypeSchema(MediaType.OciManifest).optional(),
  artifactType: mediaTypeSchema.optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: annotationsSchema.optional(),
  manifests: forbiddenField('an image manifest must not have "manifests"'),
});

/** Validates a decoded OCI image manifest; `bytes` are the exact bytes pushed, for the digest. */
export function parseOciImageManifest(document: unknown, bytes: Uint8Array): ParsedManifest {
  const manifest = validateManifestDocument(ociImageManifestSchema, document, 'OCI image manifest');
  const parsed: ParsedManifest = {
    kind: 'oci-manifest',
    mediaType: MediaType.OciManifest,
    digest: digestOf(bytes),
    config: manifest.config,
    layers: manifest.layers,
    manifests: [],
    // What the referrers API reports: the explicit artifact type, else the config's type (image-spec 1.1).
    artifactType: manifest.artifactType ?? manifest.config.mediaType,
    blobReferences: imageBlobReferences(manifest.config, manifest.layers),
    manifestReferences: [],
  };
  if (manifest.subject !== undefined) parsed.subject = manifest.subject;
  if (manifest.annotations !== undefined) parsed.annotations = manifest.annotations;
  return parsed;
}
