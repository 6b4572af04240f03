/** A manifest or a whole blob served to a client. */
export type PullChange =
  | { action: 'pull'; kind: 'manifest'; repository: string; digest: string; mediaType: string; size: number; tag?: string }
  | { action: 'pull'; kind: 'blob'; repository: string; digest: string; size: number };

/**
 * A change (or read) an event describes, before it is dressed as a RegistryEvent. Manifests are known by
 * their stored media type and size; blobs by digest and size only.
 */
export type RegistryChange =
  | PullChange
  | { action: 'push'; kind: 'manifest'; repository: string; digest: string; mediaType: string; size: number; tag?: string }
  | { action: 'push'; kind: 'blob'; repository: string; digest: string; size: number }
  | { action: 'mount'; kind: 'blob'; repository: string; digest: string; size: number; fromRepository: string }
  | { action: 'delete'; kind: 'manifest' | 'blob'; repository: string; digest: string }
  | { action: 'delete'; kind: 'tag'; repository: string; tag: string };
