// Seeded Docker schema2 images built to stress schema2 -> schema1 conversion, and a plain-HTTP
// pusher that works against any registry. Layers are small gzip blobs of random bytes (no
// registry checks tar content); what matters is the config: history shapes with empty_layer
// entries in every position, timestamps with fractions and offsets, strings full of characters
// JSON encoders disagree on, nested objects, and the config bytes written in many styles,
// because distribution builds the schema1 manifest from the raw config bytes.
import { gzipSync } from 'node:zlib';
import { RawJson, writeJson, type JsonStyle, type JsonValue } from './json-writer.js';
import { MediaType, sha256Digest, type Blob } from './oci-image.js';
import { seededRandom } from './random.js';

/** gzip of an empty tar (1024 NUL bytes), as distribution and Docker write it. */
export const EMPTY_LAYER_GZIP = Buffer.from([
  0x1f, 0x8b, 0x08, 0x00, 0x00, 0x09, 0x6e, 0x88, 0x00, 0xff, 0x62, 0x18, 0x05, 0xa3, 0x60, 0x14, 0x8c, 0x58, 0x00,
  0x08, 0x00, 0x00, 0xff, 0xff, 0x2e, 0xaf, 0xb5, 0xef, 0x00, 0x04, 0x00, 0x00,
]);
export const EMPTY_LAYER_DIGEST = 'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';
const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';
if (sha256Digest(EMPTY_LAYER_GZIP) !== EMPTY_LAYER_DIGEST) throw new Error('EMPTY_LAYER_GZIP does not hash to its digest');

export interface Schema2Layer extends Blob {
  /** What the config's rootfs.diff_ids lists for this layer. */
  readonly diffId: string;
}

export interface Schema2Image {
  readonly seed: number;
  readonly repository: string;
  readonly tag: string;
  /** What this image exercises (history shape, config style, quirks), for test names. */
  readonly summary: string;
  readonly config: Blob;
  readonly layers: readonly Schema2Layer[];
  readonly manifest: Blob;
}

/** Configs distribution 2.8 refuses to convert (400 MANIFEST_INVALID on GET by tag). */
export type Schema2Defect =
  | 'no-history'
  | 'empty-history'
  | 'fewer-diff-ids'
  | 'more-diff-ids'
  | 'too-many-non-empty-history';

export interface Schema2ImageOptions {
  readonly defect?: Schema2Defect;
  readonly repository?: string;
  readonly tag?: string;
}

/** Where the empty_layer history entries go; cycled by seed so every shape appears. */
const HISTORY_SHAPES = ['none', 'first', 'middle', 'last', 'first-and-last', 'everywhere', 'random'] as const;
type HistoryShape = (typeof HISTORY_SHAPES)[number];
const MAX_LAYERS = 6;

const QUIRKS = [
  'lone-surrogate',
  'empty-tar-as-layer',
  'duplicate-layer',
  'fewer-history-than-layers',
  'empty_layer:false',
  'history-without-created',
  'no-architecture',
  'windows-base-layer',
  'unicode-keys',
  'raw-numbers',
  'config-has-parent',
] as const;
type Quirk = (typeof QUIRKS)[number];

const REPOSITORIES = [
  'library/demo',
  'schema1/images',
  'deep/nested/path/to/repo',
  'x__y.z-w/img_1',
  'solo',
  'org-name/app.name',
];

const OFFSETS = ['Z', 'Z', 'Z', '+00:00', '-00:00', '+05:30', '-08:00', '+14:00', '-12:00', '+05:45', '-03:30', '+01:00'];

/** Characters and sequences encoders disagree on, or that need escaping twice once nested. */
const TRICKY = [
  '<', '>', '&', '"', "'", '\\', '/', '</script>', '&amp;', '\\"', '\u2028', '\u2029', '\u{1F433}', '\u{1D518}\u{1D52B}',
  'é', '日本語', '\u00a0', '\ufeff', '\ufffd', '\t', '\n', '\r\n', '\b', '\f', '\u0000', '\u0001', '\u001f', '\u007f',
  '\u0085', '\u200b', 'C:\\Windows\\System32', '%s', '${HOME}', '$(id -u)', '`uname`', '#', '  ', '\u00ff', '\u0100',
];

class Dice {
  constructor(readonly next: () => number) {}
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  hex(bytes: number): string {
    let out = '';
    for (let i = 0; i < bytes; i++) out += this.int(0, 255).toString(16).padStart(2, '0');
    return out;
  }
}

/** The same seed always gives the same bytes. */
export function generateSchema2Image(seed: number, options: Schema2ImageOptions = {}): Schema2Image {
  const dice = new Dice(seededRandom(seed * 2654435761 + 1));
  const quirks: string[] = [];
  // Each quirk is forced on every QUIRKS.length-th seed, so a run of 50+ seeds meets them all.
  const forced = options.defect === undefined ? QUIRKS[seed % QUIRKS.length] : undefined;
  const want = (quirk: Quirk, chance: number) => dice.chance(chance) || forced === quirk;
  const shape: HistoryShape = HISTORY_SHAPES[seed % HISTORY_SHAPES.length]!;
  const layerCount = 1 + (seed % MAX_LAYERS);
  const loneSurrogates = want('lone-surrogate', 0.05);
  if (loneSurrogates) quirks.push('lone-surrogate');
  const text = (words: number) => trickyText(dice, words, loneSurrogates);

  // Layers: random gzip blobs; sometimes the real empty tar as a filesystem layer, sometimes one layer twice.
  const layers: Schema2Layer[] = [];
  for (let i = 0; i < layerCount; i++) layers.push(randomLayer(dice));
  if (layerCount >= 2 && want('empty-tar-as-layer', 0.08)) {
    layers[dice.int(0, layerCount - 1)] = { ...blobOf(MediaType.dockerLayerGzip, EMPTY_LAYER_GZIP), diffId: EMPTY_LAYER_DIFF_ID };
    quirks.push('empty-tar-as-layer');
  }
  if (layerCount >= 3 && want('duplicate-layer', 0.06)) {
    layers[layerCount - 1] = layers[0]!;
    quirks.push('duplicate-layer');
  }

  // History: one non-empty entry per layer, empty entries placed by shape.
  let nonEmptyEntries = layerCount;
  if (options.defect === 'too-many-non-empty-history') nonEmptyEntries = layerCount + 1;
  else if (options.defect === undefined && layerCount >= 2 && want('fewer-history-than-layers', 0.04)) {
    nonEmptyEntries = layerCount - 1; // distribution silently drops the extra layers
    quirks.push('fewer-history-than-layers');
  }
  const explicitFalse = want('empty_layer:false', 0.1);
  if (explicitFalse) quirks.push('empty_layer:false');
  let missingCreated = want('history-without-created', 0.05);
  if (missingCreated) quirks.push('history-without-created');
  const historyEntry = (empty: boolean): JsonValue => {
    const entry: { [key: string]: JsonValue } = {};
    if (missingCreated) missingCreated = false;
    else entry.created = goTimestamp(dice);
    if (dice.chance(0.3)) entry.author = authorText(dice, text);
    entry.created_by = createdBy(dice, text, empty);
    if (dice.chance(0.3)) entry.comment = dice.chance(0.5) ? 'buildkit.dockerfile.v0' : text(3);
    if (empty) entry.empty_layer = true;
    else if (explicitFalse && dice.chance(0.5)) entry.empty_layer = false;
    return entry;
  };
  const emptyAt = emptySlots(shape, nonEmptyEntries, dice);
  const history: JsonValue[] = [];
  for (let slot = 0; slot <= nonEmptyEntries; slot++) {
    for (let e = 0; e < (emptyAt[slot] ?? 0); e++) history.push(historyEntry(true));
    if (slot < nonEmptyEntries) history.push(historyEntry(false));
  }

  // Platform.
  type PlatformFields = { architecture: string; os: string; variant?: string };
  const windowsPlatform: PlatformFields = { architecture: 'amd64', os: 'windows' };
  const pickedPlatform: PlatformFields = dice.pick([
    { architecture: 'amd64', os: 'linux' },
    { architecture: 'amd64', os: 'linux' },
    { architecture: 'arm64', os: 'linux', variant: 'v8' },
    { architecture: 'arm', os: 'linux', variant: 'v7' },
    { architecture: '386', os: 'linux' },
    { architecture: 'ppc64le', os: 'linux' },
    { architecture: 's390x', os: 'linux' },
    { architecture: 'riscv64', os: 'linux' },
    { architecture: 'amd64', os: 'windows' },
    { architecture: 'amd64', os: 'freebsd' },
  ]);
  const omitArchitecture = want('no-architecture', 0.03);
  if (omitArchitecture) quirks.push('no-architecture');
  const platform = forced === 'windows-base-layer' ? windowsPlatform : pickedPlatform;
  const windows = platform.os === 'windows';

  let diffIds = layers.map((layer) => layer.diffId);
  if (options.defect === 'fewer-diff-ids') diffIds = diffIds.slice(0, -1);
  if (options.defect === 'more-diff-ids') diffIds = [...diffIds, sha256Digest(Buffer.from(`extra ${seed}`))];
  const rootfs: { [key: string]: JsonValue } = { type: 'layers', diff_ids: diffIds };
  if (windows && want('windows-base-layer', 0.4)) {
    rootfs.type = 'layers+base';
    rootfs.base_layer = `sha256:${dice.hex(32)}`;
    quirks.push('windows-base-layer');
  }

  const containerConfig = (cmd: string[]): JsonValue => ({
    Hostname: dice.hex(6),
    Domainname: '',
    User: dice.chance(0.3) ? text(1) : '',
    AttachStdin: false,
    AttachStdout: dice.chance(0.5),
    Tty: false,
    ExposedPorts: dice.chance(0.5) ? { '80/tcp': {}, '53/udp': {} } : null,
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `X=${text(2)}`, 'A=<b>&c'],
    Cmd: cmd,
    Image: `sha256:${dice.hex(32)}`,
    Volumes: dice.chance(0.5) ? { '/data': {}, '/var/lib/thing': {} } : null,
    WorkingDir: windows ? 'C:\\app' : '/srv/app',
    Entrypoint: dice.chance(0.5) ? ['/docker-entrypoint.sh', text(1)] : null,
    OnBuild: null,
    Labels: { 'org.opencontainers.image.title': text(2), 'com.example.empty': '', 'com.example.nested': '{"k":"<v>"}' },
  });
  const config: { [key: string]: JsonValue } = {};
  if (!omitArchitecture) config.architecture = platform.architecture;
  config.config = {
    ...(containerConfig(['/bin/sh', '-c', text(2)]) as { [key: string]: JsonValue }),
    StopSignal: 'SIGTERM',
    ArgsEscaped: true,
    Healthcheck: {
      Test: ['CMD-SHELL', `curl -f http://localhost/ || exit 1 # ${text(1)}`],
      Interval: new RawJson('30000000000'),
      Retries: 3,
    },
    ...(windows ? { Shell: ['cmd', '/S', '/C'] } : {}),
  };
  if (dice.chance(0.6)) {
    config.container = dice.hex(32);
    config.container_config = containerConfig(['/bin/sh', '-c', '#(nop) ', text(2)]);
    config.docker_version = dice.pick(['1.13.1', '20.10.24', '24.0.7+dfsg1']);
  }
  config.created = goTimestamp(dice);
  if (dice.chance(0.4)) config.author = authorText(dice, text);
  config.history = history;
  config.os = platform.os;
  if (windows) {
    config['os.version'] = '10.0.17763.5458';
    config['os.features'] = ['win32k'];
  }
  if (platform.variant !== undefined) config.variant = platform.variant;
  config.rootfs = rootfs;
  if (want('unicode-keys', 0.15)) {
    // Keys whose order differs by UTF-16 units (JS sort) and by UTF-8 bytes (Go sort).
    config['\uff21-fullwidth'] = text(1);
    config['\u{1F600}-astral'] = text(1);
    config['Zeta'] = 'upper case sorts first';
    quirks.push('unicode-keys');
  }
  if (want('raw-numbers', 0.15)) {
    config['x-numbers'] = {
      decimal: new RawJson('1.50'),
      exponent: new RawJson('1E+3'),
      negativeZero: new RawJson('-0'),
      big: new RawJson('12345678901234567890123'),
      list: [new RawJson('0.1'), new RawJson('2e-7')],
    };
    quirks.push('raw-numbers');
  }
  if (want('config-has-parent', 0.04)) {
    config.parent = `sha256:${dice.hex(32)}`;
    config.throwaway = false;
    quirks.push('config-has-parent');
  }
  if (options.defect === 'no-history') delete config.history;
  if (options.defect === 'empty-history') config.history = [];

  const style = configStyle(dice);
  const configBytes = Buffer.from(writeJson(config, style, dice.next), 'utf8');
  const configBlob = blobOf(MediaType.dockerConfig, configBytes);

  const manifestJson = {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: descriptorOf(configBlob),
    layers: layers.map(descriptorOf),
  };
  const manifest = blobOf(MediaType.dockerManifest, Buffer.from(JSON.stringify(manifestJson, null, 3)));

  const repository = options.repository ?? REPOSITORIES[seed % REPOSITORIES.length]!;
  const tag = options.tag ?? tagFor(seed, dice);
  const emptyEntries = history.length - nonEmptyEntries;
  const summary = [
    `${layerCount} layer${layerCount === 1 ? '' : 's'}`,
    `empty_layer ${shape}${emptyEntries > 0 ? ` (${emptyEntries})` : ''}`,
    `${platform.os}/${platform.architecture}`,
    `config ${style.name}`,
    ...(options.defect ? [`defect ${options.defect}`] : []),
    ...quirks,
  ].join(', ');
  return { seed, repository, tag, summary, config: configBlob, layers, manifest };
}

/** How many empty entries go before non-empty entry `slot` (the last slot is after every entry). */
function emptySlots(shape: HistoryShape, nonEmpty: number, dice: Dice): number[] {
  const slots = new Array<number>(nonEmpty + 1).fill(0);
  const middle = Math.max(1, Math.floor(nonEmpty / 2));
  switch (shape) {
    case 'none':
      break;
    case 'first':
      slots[0] = dice.int(1, 2);
      break;
    case 'middle':
      slots[Math.min(middle, nonEmpty)] = dice.int(1, 3);
      break;
    case 'last':
      slots[nonEmpty] = dice.int(1, 3);
      break;
    case 'first-and-last':
      slots[0] = 1;
      slots[nonEmpty] = dice.int(1, 2);
      break;
    case 'everywhere':
      slots.fill(1);
      break;
    case 'random':
      for (let i = 0; i <= nonEmpty; i++) slots[i] = dice.chance(0.4) ? dice.int(1, 2) : 0;
      break;
  }
  return slots;
}

function randomLayer(dice: Dice): Schema2Layer {
  const raw = Buffer.alloc(dice.int(16, 600));
  for (let i = 0; i < raw.length; i++) raw[i] = dice.int(0, 255);
  const gz = gzipSync(raw, { level: dice.int(1, 9) });
  return { ...blobOf(MediaType.dockerLayerGzip, gz), diffId: sha256Digest(raw) };
}

/** RFC 3339 as Go parses it: fractions of 0 to 9 digits (trailing zeros too) and zone offsets. */
function goTimestamp(dice: Dice): string {
  if (dice.chance(0.03)) return '0001-01-01T00:00:00Z';
  const two = (n: number) => String(n).padStart(2, '0');
  const date = `${dice.int(1970, 2035)}-${two(dice.int(1, 12))}-${two(dice.int(1, 28))}`;
  const time = `${two(dice.int(0, 23))}:${two(dice.int(0, 59))}:${two(dice.int(0, 59))}`;
  const digits = dice.pick([0, 0, 1, 2, 3, 3, 6, 7, 9, 9]);
  let fraction = '';
  for (let i = 0; i < digits; i++) fraction += String(dice.int(0, 9));
  if (digits > 1 && dice.chance(0.3)) fraction = `${fraction.slice(0, -2)}00`; // trailing zeros Go drops
  return `${date}T${time}${digits > 0 ? `.${fraction}` : ''}${dice.pick(OFFSETS)}`;
}

function trickyText(dice: Dice, words: number, loneSurrogates: boolean): string {
  const parts: string[] = [];
  for (let i = 0; i < words; i++) {
    parts.push(dice.pick(['echo', 'value', 'sh', 'a', 'x=1', 'http://example.com/a?b=1&c=2']));
    parts.push(dice.pick(TRICKY));
    if (loneSurrogates && dice.chance(0.3)) parts.push(dice.pick(['\ud800', '\udfff', '\udc00x']));
  }
  return parts.join(dice.pick([' ', '', '\t']));
}

function authorText(dice: Dice, text: (words: number) => string): string {
  return dice.pick([
    'Jane Doe <jane@example.com>',
    `O'Brien & Sons "Builders" <ops@example.com>`,
    '\u{1D4D0}uthor\u2028Second line',
    text(2),
  ]);
}

function createdBy(dice: Dice, text: (words: number) => string, empty: boolean): string {
  if (dice.chance(0.05)) return '';
  if (empty) {
    return dice.pick([
      `/bin/sh -c #(nop)  CMD ["${text(1)}"]`,
      `/bin/sh -c #(nop)  LABEL maintainer=${text(2)}`,
      `/bin/sh -c #(nop)  ENV A=<b>&c B=${text(1)}`,
      `ENTRYPOINT ["/bin/tini", "--", "${text(1)}"]`,
      `WORKDIR C:\\app\\${text(1)}`,
    ]);
  }
  return dice.pick([
    `/bin/sh -c #(nop) ADD file:${dice.hex(32)} in / `,
    `/bin/sh -c echo "${text(2)}" > /etc/motd && cat <<'EOF'\n${text(2)}\nEOF`,
    `RUN /bin/sh -c set -eux; apt-get install -y 'pkg-${text(1)}' # buildkit`,
    `cmd /S /C powershell -Command "$ErrorActionPreference = 'Stop'; Write-Host \\"${text(1)}\\""`,
    `COPY C:\\src\\${text(1)} C:\\app\\ # buildkit`,
    text(3),
  ]);
}

const STYLES: JsonStyle[] = [
  // Docker's daemon: Go encoding/json, struct order, HTML escaping, \u0008 for backspace.
  { name: 'go', indent: '', newline: '\n', colon: ':', comma: ',', keyOrder: 'as-built', escapeHtml: true, asciiOnly: false, escapeSlash: false, shortControlEscapes: false, upperCaseHex: false, leadingWhitespace: '', trailingWhitespace: '' },
  { name: 'compact', indent: '', newline: '\n', colon: ':', comma: ',', keyOrder: 'as-built', escapeHtml: false, asciiOnly: false, escapeSlash: false, shortControlEscapes: true, upperCaseHex: false, leadingWhitespace: '', trailingWhitespace: '' },
  { name: 'python', indent: '', newline: '\n', colon: ': ', comma: ', ', keyOrder: 'sorted', escapeHtml: false, asciiOnly: true, escapeSlash: false, shortControlEscapes: true, upperCaseHex: false, leadingWhitespace: '', trailingWhitespace: '' },
  { name: 'indent-2', indent: '  ', newline: '\n', colon: ': ', comma: ',', keyOrder: 'as-built', escapeHtml: false, asciiOnly: false, escapeSlash: false, shortControlEscapes: true, upperCaseHex: false, leadingWhitespace: '', trailingWhitespace: '\n' },
  { name: 'indent-3-go', indent: '   ', newline: '\n', colon: ': ', comma: ',', keyOrder: 'sorted', escapeHtml: true, asciiOnly: false, escapeSlash: false, shortControlEscapes: false, upperCaseHex: false, leadingWhitespace: '', trailingWhitespace: '' },
  { name: 'tabs-crlf', indent: '\t', newline: '\r\n', colon: ' : ', comma: ',', keyOrder: 'reversed', escapeHtml: false, asciiOnly: false, escapeSlash: false, shortControlEscapes: true, upperCaseHex: false, leadingWhitespace: ' \r\n', trailingWhitespace: '\r\n' },
  { name: 'php', indent: '', newline: '\n', colon: ':', comma: ',', keyOrder: 'shuffled', escapeHtml: false, asciiOnly: true, escapeSlash: true, shortControlEscapes: true, upperCaseHex: false, leadingWhitespace: '', trailingWhitespace: '' },
  { name: 'upper-hex-spaced', indent: '', newline: '\n', colon: ' : ', comma: ' , ', keyOrder: 'shuffled', escapeHtml: true, asciiOnly: true, escapeSlash: false, shortControlEscapes: false, upperCaseHex: true, leadingWhitespace: '\t', trailingWhitespace: ' \n' },
];

function configStyle(dice: Dice): JsonStyle {
  const base = dice.pick(STYLES);
  if (!dice.chance(0.3)) return base;
  const keyOrder = dice.pick(['as-built', 'sorted', 'reversed', 'shuffled'] as const);
  return { ...base, keyOrder, name: `${base.name}/${keyOrder}` };
}

function tagFor(seed: number, dice: Dice): string {
  return dice.pick([
    `latest-${seed}`,
    `v${seed}.0.1`,
    `_${seed}`,
    `${seed}`,
    `UPPER_Case-${seed}`,
    `1.0.${seed}-rc.1`,
    `t${seed}-`.padEnd(128, 'x'),
  ]);
}

function blobOf(mediaType: string, bytes: Buffer): Blob {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.length, bytes };
}

function descriptorOf(blob: Blob): { mediaType: string; size: number; digest: string } {
  return { mediaType: blob.mediaType, size: blob.size, digest: blob.digest };
}

// ---------------------------------------------------------------------------------------------
// Pushing over plain HTTP (fetch), no client library involved.

export interface PushAnswer {
  readonly status: number;
  readonly digest: string | null;
  readonly body: string;
}

/**
 * Uploads `bytes` as a blob of `repository`: a monolithic POST ?digest= first; a registry that
 * answers 202 instead (distribution 2.8 ignores a POST body) gets the bytes in one PUT.
 */
export async function pushBlob(baseUrl: string, repository: string, bytes: Buffer): Promise<string> {
  const digest = sha256Digest(bytes);
  const post = await fetch(`${baseUrl}/v2/${repository}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
    signal: AbortSignal.timeout(30_000),
  });
  const postBody = await post.text();
  if (post.status === 201) return digest;
  const location = post.headers.get('location');
  if (post.status !== 202 || location === null) {
    throw new Error(`POST blob ${digest} to ${baseUrl}/${repository}: HTTP ${post.status} ${postBody}`);
  }
  const target = new URL(location, baseUrl);
  target.searchParams.set('digest', digest);
  const put = await fetch(target, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
    signal: AbortSignal.timeout(30_000),
  });
  const putBody = await put.text();
  if (put.status !== 201) throw new Error(`PUT blob ${digest} to ${target.href}: HTTP ${put.status} ${putBody}`);
  return digest;
}

export async function putManifest(
  baseUrl: string,
  repository: string,
  reference: string,
  bytes: Buffer,
  contentType: string,
): Promise<PushAnswer> {
  const response = await fetch(`${baseUrl}/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': contentType },
    body: bytes,
    signal: AbortSignal.timeout(30_000),
  });
  return { status: response.status, digest: response.headers.get('docker-content-digest'), body: await response.text() };
}

/** Config, layers, then the manifest by tag; throws unless the registry stored all of it. */
export async function pushSchema2Image(baseUrl: string, image: Schema2Image): Promise<void> {
  const unique = new Map<string, Buffer>();
  for (const blob of [image.config, ...image.layers]) unique.set(blob.digest, blob.bytes);
  for (const bytes of unique.values()) await pushBlob(baseUrl, image.repository, bytes);
  const answer = await putManifest(baseUrl, image.repository, image.tag, image.manifest.bytes, MediaType.dockerManifest);
  if (answer.status !== 201) {
    throw new Error(`PUT manifest ${image.repository}:${image.tag} to ${baseUrl}: HTTP ${answer.status} ${answer.body}`);
  }
  if (answer.digest !== image.manifest.digest) {
    throw new Error(`PUT manifest ${image.repository}:${image.tag}: digest ${answer.digest}, expected ${image.manifest.digest}`);
  }
}
