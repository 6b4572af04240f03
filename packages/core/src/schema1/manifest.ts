// Placeholder created by the manifest helper because the schema1 module did not exist yet;
// the schema1 helper replaces this file.
import { RegistryError } from '../errors.js';
import type { ParsedManifest } from '../manifest/types.js';

export function parseSchema1Manifest(_bytes: Uint8Array): ParsedManifest {
  throw new RegistryError('MANIFEST_INVALID', 'schema1 not supported yet');
}
