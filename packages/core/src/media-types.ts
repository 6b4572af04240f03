/** Manifest and blob media types berth knows by name. */
export const MediaType = {
  DockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  DockerSchema2: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerImageConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciImageConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerNondistributableTar: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNondistributableTarGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

/** The manifest kinds berth stores; each has its own module under `manifest/`. */
export type ManifestKind = 'schema1' | 'schema2' | 'docker-list' | 'oci-manifest' | 'oci-index';

/** The Content-Type a stored manifest kind is served with. */
export const CONTENT_TYPE_OF_KIND: Record<ManifestKind, string> = {
  schema1: MediaType.DockerSchema1Signed,
  schema2: MediaType.DockerSchema2,
  'docker-list': MediaType.DockerManifestList,
  'oci-manifest': MediaType.OciManifest,
  'oci-index': MediaType.OciIndex,
};

const KIND_OF_CONTENT_TYPE = new Map<string, ManifestKind>([
  ...Object.entries(CONTENT_TYPE_OF_KIND).map(([kind, type]) => [type, kind as ManifestKind] as const),
  [MediaType.DockerSchema1, 'schema1'],
]);

/** The kind of a stored manifest from the media type it is served with; undefined for a type berth does not store. */
export function kindOfContentType(mediaType: string): ManifestKind | undefined {
  return KIND_OF_CONTENT_TYPE.get(mediaType);
}

/** Largest manifest body berth accepts (the reference's limit, 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
