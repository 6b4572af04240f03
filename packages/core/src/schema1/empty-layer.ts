/**
 * The layer schema1 uses for history entries that add no files (`empty_layer`): an empty tar archive
 * (1024 NUL bytes) gzipped exactly as Docker's Go code does. Only these 32 bytes hash to the digest,
 * so a registry that needs the blob must store exactly them.
 */
export const EMPTY_LAYER_BLOB: Uint8Array = Uint8Array.from([
  0x1f, 0x8b, 0x08, 0x00, 0x00, 0x09, 0x6e, 0x88, 0x00, 0xff, 0x62, 0x18, 0x05, 0xa3, 0x60, 0x14, 0x8c, 0x58, 0x00,
  0x08, 0x00, 0x00, 0xff, 0xff, 0x2e, 0xaf, 0xb5, 0xef, 0x00, 0x04, 0x00, 0x00,
]);

/** sha256 of EMPTY_LAYER_BLOB, the blobSum of every empty layer. */
export const EMPTY_LAYER_DIGEST = 'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';

/** sha256 of the uncompressed empty tar (its DiffID). */
export const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';
