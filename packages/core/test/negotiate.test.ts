import { describe, expect, it } from 'vitest';
import {
  MediaType,
  RegistryError,
  negotiate,
  parseAccept,
  parsePlatform,
  selectPlatformChild,
  type Descriptor,
  type ManifestKind,
  type Negotiation,
  type ParsedManifest,
} from '../src/internal.js';

const d = (n: number) => `sha256:${String(n).padStart(64, '0')}`;

function manifest(kind: ManifestKind, fields: Partial<ParsedManifest> = {}): ParsedManifest {
  return { kind, mediaType: '', digest: d(0), layers: [], manifests: [], blobReferences: [], manifestReferences: [], ...fields };
}

const layer = (mediaType: string, extra: Partial<Descriptor> = {}): Descriptor => ({ mediaType, digest: d(9), size: 1, ...extra });
const child = (n: number, platform: string, mediaType: string = MediaType.DockerSchema2): Descriptor => {
  const [os, architecture, variant] = platform.split('/') as [string, string, string?];
  return { mediaType, digest: d(n), size: 1, platform: { os, architecture, ...(variant && { variant }) } };
};

const image = (kind: 'schema2' | 'oci-manifest', configType: string, layerTypes: string[], extra: Partial<ParsedManifest> = {}) =>
  manifest(kind, { config: { mediaType: configType, digest: d(1), size: 1 }, layers: layerTypes.map((t) => layer(t)), ...extra });

/** The stored manifests of the table: five kinds, an OCI artifact, and a list whose children are schema1. */
const STORED: Record<string, { kind: ManifestKind; parsed: ParsedManifest }> = {
  schema1: { kind: 'schema1', parsed: manifest('schema1') },
  schema2: { kind: 'schema2', parsed: image('schema2', MediaType.DockerImageConfig, [MediaType.DockerLayerGzip]) },
  'docker list': { kind: 'docker-list', parsed: manifest('docker-list', { manifests: [child(2, 'linux/arm64/v8'), child(3, 'linux/amd64')] }) },
  'OCI image': { kind: 'oci-manifest', parsed: image('oci-manifest', MediaType.OciImageConfig, [MediaType.OciLayerTarGzip]) },
  'OCI image, tar layers': { kind: 'oci-manifest', parsed: image('oci-manifest', MediaType.OciImageConfig, [MediaType.OciLayerTar]) },
  'OCI artifact': {
    kind: 'oci-manifest',
    parsed: image('oci-manifest', 'application/vnd.example.config', [], { artifactType: 'application/vnd.example.sbom' }),
  },
  'OCI index': { kind: 'oci-index', parsed: manifest('oci-index', { manifests: [child(4, 'linux/amd64', MediaType.OciManifest)] }) },
  'list of schema1': {
    kind: 'docker-list',
    parsed: manifest('docker-list', { manifests: [child(5, 'linux/amd64', MediaType.DockerSchema1Signed)] }),
  },
};

const S1 = MediaType.DockerSchema1Signed;
const S2 = MediaType.DockerSchema2;
const LIST = MediaType.DockerManifestList;
const OCI = MediaType.OciManifest;
const INDEX = MediaType.OciIndex;

/** The Accept headers of the table, named by the client generation that sends them. */
const ACCEPT: Record<string, string[] | undefined> = {
  'schema1 only': [S1],
  none: undefined,
  '*/*': ['*/*'],
  'schema2 only': [S2],
  'docker 1.10': [`${S2}, ${S1}, application/json`],
  'OCI only': [`${OCI}, ${INDEX}`],
  everything: [S1, `${S2}, ${LIST}`, `${OCI},${INDEX}`],
  'schema2 at q=0': [`${S2};q=0, ${S1};q=0.5`],
  'schema2 in capitals, q=0.1': [`${S2.toUpperCase()};q=0.1`],
};

type Outcome = Negotiation['action'] | `select-child ${number}`;

// Rows: stored kind; columns: the Accept headers above, in order, for a pull by tag.
const BY_TAG: Record<string, Outcome[]> = {
  //                      s1 only               none                  */*                   s2 only               docker 1.10           OCI only              everything            s2 q=0                S2 caps
  schema1: ['serve-stored', 'serve-stored', 'serve-stored', 'serve-stored', 'serve-stored', 'serve-stored', 'serve-stored', 'serve-stored', 'serve-stored'],
  schema2: ['convert-to-schema1', 'convert-to-schema1', 'convert-to-schema1', 'serve-stored', 'serve-stored', 'serve-stored', 'serve-stored', 'convert-to-schema1', 'serve-stored'],
  'docker list': ['select-child 3', 'select-child 3', 'select-child 3', 'select-child 3', 'select-child 3', 'select-child 3', 'serve-stored', 'select-child 3', 'select-child 3'],
  'OCI image': ['convert-to-schema1', 'convert-to-schema1', 'convert-to-schema1', 'convert-to-schema2', 'convert-to-schema2', 'serve-stored', 'serve-stored', 'convert-to-schema1', 'convert-to-schema2'],
  'OCI image, tar layers': ['convert-to-schema1', 'convert-to-schema1', 'convert-to-schema1', 'serve-stored', 'convert-to-schema1', 'serve-stored', 'serve-stored', 'convert-to-schema1', 'serve-stored'],
  'OCI artifact': ['refuse', 'refuse', 'refuse', 'serve-stored', 'refuse', 'serve-stored', 'serve-stored', 'refuse', 'serve-stored'],
  'OCI index': ['select-child 4', 'select-child 4', 'select-child 4', 'select-child 4', 'select-child 4', 'serve-stored', 'serve-stored', 'select-child 4', 'select-child 4'],
  'list of schema1': ['select-child 5', 'select-child 5', 'select-child 5', 'select-child 5', 'select-child 5', 'select-child 5', 'serve-stored', 'select-child 5', 'select-child 5'],
};

function outcome(result: Negotiation): Outcome {
  if (result.action === 'select-child') return `select-child ${Number(result.digest.slice(7))}`;
  return result.action;
}

describe('negotiate: the decision table', () => {
  const acceptNames = Object.keys(ACCEPT);
  const cases = Object.entries(BY_TAG).flatMap(([stored, row]) =>
    row.map((expected, column) => [stored, acceptNames[column]!, expected] as const),
  );

  it.each(cases)('%s by tag with Accept %s -> %s', (stored, acceptName, expected) => {
    const { kind, parsed } = STORED[stored]!;
    const result = negotiate({ kind, parsed: () => parsed, reference: 'tag', accepted: parseAccept(ACCEPT[acceptName]) });
    expect(outcome(result)).toBe(expected);
  });

  it.each(Object.keys(STORED).flatMap((stored) => acceptNames.map((accept) => [stored, accept] as const)))(
    '%s by digest with Accept %s -> the stored bytes',
    (stored, acceptName) => {
      const { kind, parsed } = STORED[stored]!;
      const result = negotiate({ kind, parsed: () => parsed, reference: 'digest', accepted: parseAccept(ACCEPT[acceptName]) });
      expect(result).toEqual({ action: 'serve-stored' });
    },
  );

  it('never parses the stored manifest when the client accepts its type or pulls by digest', () => {
    const parsed = () => {
      throw new Error('parsed');
    };
    expect(negotiate({ kind: 'oci-index', parsed, reference: 'tag', accepted: parseAccept([INDEX]) }).action).toBe('serve-stored');
    expect(negotiate({ kind: 'schema2', parsed, reference: 'tag', accepted: parseAccept(undefined) }).action).toBe('convert-to-schema1');
    expect(negotiate({ kind: 'oci-index', parsed, reference: 'digest', accepted: parseAccept(undefined) }).action).toBe('serve-stored');
  });

  it('says why an OCI manifest cannot be converted', () => {
    const { parsed } = STORED['OCI artifact']!;
    const result = negotiate({ kind: 'oci-manifest', parsed: () => parsed, reference: 'tag', accepted: parseAccept(undefined) });
    expect(result.action).toBe('refuse');
    const error = (result as { error: RegistryError }).error;
    expect(error.code).toBe('MANIFEST_UNKNOWN');
    expect(error.message).toContain('application/vnd.example.sbom');
    const zstd = image('oci-manifest', MediaType.OciImageConfig, ['application/vnd.oci.image.layer.v1.tar+zstd']);
    const refused = negotiate({ kind: 'oci-manifest', parsed: () => zstd, reference: 'tag', accepted: parseAccept([S1]) });
    expect((refused as { error: RegistryError }).error.message).toContain('tar+zstd');
    const foreign = image('oci-manifest', MediaType.OciImageConfig, []);
    foreign.layers.push(layer(MediaType.OciLayerTarGzip, { urls: ['https://example.com/layer'] }));
    expect(negotiate({ kind: 'oci-manifest', parsed: () => foreign, reference: 'tag', accepted: parseAccept([S2]) }).action).toBe(
      'serve-stored',
    );
  });

  it('names the platforms there are when none matches', () => {
    const parsed = manifest('docker-list', { manifests: [child(2, 'linux/arm64/v8'), child(3, 'linux/s390x')] });
    const result = negotiate({ kind: 'docker-list', parsed: () => parsed, reference: 'tag', accepted: parseAccept([S2]) });
    expect(result.action).toBe('refuse');
    const error = (result as { error: RegistryError }).error;
    expect(error.code).toBe('MANIFEST_UNKNOWN');
    expect(error.status).toBe(404);
    expect(error.message).toContain('linux/arm64/v8');
    expect(error.message).toContain('linux/s390x');
  });

  it('follows the configured platform order', () => {
    const parsed = manifest('oci-index', { manifests: [child(2, 'linux/amd64'), child(3, 'linux/arm64/v8')] });
    const result = negotiate({
      kind: 'oci-index',
      parsed: () => parsed,
      reference: 'tag',
      accepted: parseAccept(undefined),
      platforms: [parsePlatform('linux/arm64'), parsePlatform('linux/amd64')],
    });
    expect(outcome(result)).toBe('select-child 3');
  });
});

describe('selectPlatformChild', () => {
  const children = [child(1, 'linux/arm/v6'), child(2, 'linux/arm/v7'), child(3, 'linux/arm64'), child(4, 'windows/amd64')];

  it.each([
    ['linux/arm/v7', 2],
    ['linux/arm', 1],
    ['linux/arm/v6', 1],
    ['linux/arm64/v8', 3],
    ['windows/amd64', 4],
  ])('%s picks child %i', (platform, expected) => {
    expect(selectPlatformChild(children, [parsePlatform(platform)])?.digest).toBe(d(expected));
  });

  it('finds nothing for a platform that is not there, and skips children without a platform', () => {
    expect(selectPlatformChild(children, [parsePlatform('linux/amd64')])).toBeUndefined();
    expect(selectPlatformChild([{ mediaType: S2, digest: d(1), size: 1 }], [parsePlatform('linux/amd64')])).toBeUndefined();
  });

  it.each(['linux', 'linux/', '/amd64', 'a/b/c/d'])('refuses the platform %s', (text) => {
    expect(() => parsePlatform(text)).toThrow(RegistryError);
  });
});
