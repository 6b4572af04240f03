import { z } from 'zod';
import { isValidDigest } from '../digest.js';
import { describeValue } from './validate.js';

/**
 * The zod building blocks every manifest format shares: media types, digests, sizes and
 * content descriptors, validated as strictly as the OCI image-spec JSON schemas.
 * Unknown fields are accepted and left out of the output: the stored bytes keep them anyway.
 */

// RFC 6838 restricted names, as the image-spec descriptor schema spells them (no parameters).
const MEDIA_TYPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

export function isValidMediaType(value: string): boolean {
  return MEDIA_TYPE_PATTERN.test(value);
}

/** Media types are case-insensitive (RFC 9110 section 8.3.1). */
export function sameMediaType(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export const mediaTypeSchema = z.string().refine(isValidMediaType, {
  error: (issue) => `invalid media type ${describeValue(issue.input)}`,
});

/** The `mediaType` a manifest carries about itself: when present it must be exactly its format's type. */
export function documentMediaTypeSchema(expected: string) {
  return z.string().refine((value) => sameMediaType(value, expected), {
    error: (issue) => `must be "${expected}", not ${describeValue(issue.input)}`,
  });
}

export const digestSchema = z.string().refine(isValidDigest, {
  error: (issue) => `invalid digest ${describeValue(issue.input)}`,
});

// Sizes above 2^53 cannot be represented exactly after JSON.parse, so they are refused too.
export const sizeSchema = z
  .number()
  .refine((value) => Number.isSafeInteger(value) && value >= 0, {
    error: (issue) => `must be a non-negative integer, not ${describeValue(issue.input)}`,
  });

export const annotationsSchema = z.record(z.string(), z.string());

const urlSchema = z.string().refine((value) => URL.canParse(value), {
  error: (issue) => `invalid URL ${describeValue(issue.input)}`,
});

export const platformSchema = z.object({
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  features: z.array(z.string()).optional(),
});

export const descriptorSchema = z.object({
  mediaType: mediaTypeSchema,
  digest: digestSchema,
  size: sizeSchema,
  urls: z.array(urlSchema).optional(),
  annotations: annotationsSchema.optional(),
  artifactType: mediaTypeSchema.optional(),
});

/** A descriptor in a manifest list or index: one child manifest, optionally for one platform. */
export const platformDescriptorSchema = descriptorSchema.extend({
  platform: platformSchema.optional(),
});

/** A field that must be absent, so an index cannot pass for an image manifest or the reverse. */
export function forbiddenField(message: string) {
  return z.undefined({ error: message }).optional();
}

/** `schemaVersion: 2`, the one value every non-schema1 format allows. */
export const schemaVersion2Schema = z.literal(2, {
  error: (issue) => (issue.input === undefined ? undefined : `schemaVersion must be 2, not ${describeValue(issue.input)}`),
});
