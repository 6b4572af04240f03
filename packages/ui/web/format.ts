import type { Platform } from './api.js';

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 -> "1.5 KiB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

const RELATIVE = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
const STEPS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 30],
  ['month', 12],
  ['year', Number.POSITIVE_INFINITY],
];

/** An ISO time as "3 hours ago". */
export function formatRelativeTime(iso: string, now = Date.now()): string {
  let value = (Date.parse(iso) - now) / 1000;
  for (const [unit, size] of STEPS) {
    if (Math.abs(value) < size) return RELATIVE.format(Math.round(value), unit);
    value /= size;
  }
  return iso;
}

/** linux/arm64/v8 */
export function formatPlatform(platform: Platform | null | undefined): string {
  if (!platform) return 'unknown';
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** sha256:0123456789ab… -> "sha256:0123456789ab" (what people compare at a glance). */
export function shortDigest(digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return hex === undefined ? digest : `${algorithm}:${hex.slice(0, 12)}`;
}

const MEDIA_TYPE_NAMES: Record<string, string> = {
  'application/vnd.oci.image.index.v1+json': 'OCI index',
  'application/vnd.oci.image.manifest.v1+json': 'OCI image',
  'application/vnd.docker.distribution.manifest.list.v2+json': 'Docker manifest list',
  'application/vnd.docker.distribution.manifest.v2+json': 'Docker image',
  'application/vnd.docker.distribution.manifest.v1+prettyjws': 'Docker schema1 (signed)',
  'application/vnd.docker.distribution.manifest.v1+json': 'Docker schema1',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'OCI layer (gzip)',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'OCI layer (zstd)',
  'application/vnd.oci.image.layer.v1.tar': 'OCI layer',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'Docker layer (gzip)',
  'application/vnd.oci.empty.v1+json': 'empty',
};

/** A media type as people say it ("OCI index"); unknown ones as they are. */
export function mediaTypeName(mediaType: string): string {
  return MEDIA_TYPE_NAMES[mediaType] ?? mediaType;
}
