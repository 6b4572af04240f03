import type { ManifestSummary } from '@berth/core';

/**
 * The "database" of the example: plain tables of rows, as a real backend would hold them. Several
 * MemoryMetadataStore objects may work on one MemoryDatabase, like several registry instances on
 * one PostgreSQL, and a test can read the rows without going through a store.
 */
export interface ManifestRow {
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  content: Uint8Array;
  subject?: string;
  artifactType?: string;
  annotations?: Record<string, string>;
  /** Total size and platforms, recorded at push time. */
  summary?: ManifestSummary;
  createdAt: number;
  /** Last write naming it (a push, a tag, a parent): the collector leaves it for its grace period. */
  touchedAt: number;
  /** Referenced digest -> kind. */
  references: Map<string, 'blob' | 'manifest'>;
}

export interface ConvertedRow {
  repository: string;
  digest: string;
  sourceDigest: string;
  mediaType: string;
  content: Uint8Array;
  /** The tag a schema1 conversion names. */
  tag?: string;
}

export interface OutboxRow {
  sequence: number;
  endpoint: string;
  repository: string;
  eventId: string;
  payload: string;
  createdAt: number;
  attempts: number;
  nextAttemptAt: number;
  leaseOwner?: string;
  leaseExpiresAt?: number;
}

export class MemoryDatabase {
  /** Keyed by rowKey(repository, digest). */
  readonly manifests = new Map<string, ManifestRow>();
  /** Keyed by rowKey(repository, tag); the value is the manifest digest. */
  readonly tags = new Map<string, string>();
  /** Keyed like tags: when a manifest PUT last named the tag (its push time). */
  readonly tagsPushedAt = new Map<string, number>();
  /** Keyed by rowKey(repository, digest); the value is the blob size. */
  readonly blobLinks = new Map<string, number>();
  /** Keyed like blobLinks: when the link was last written or named by a manifest push. */
  readonly blobLinksTouchedAt = new Map<string, number>();
  /** Every blob the registry knows of, by digest. */
  readonly blobs = new Map<string, { size: number; touchedAt: number }>();
  /** Blobs whose bytes a collector is removing now; a touch waits for them. */
  readonly blobsBeingRemoved = new Map<string, Promise<void>>();
  readonly uploadSessions = new Map<string, { repository: string; startedAt: number; digest?: string }>();
  /** The collector's marks: rowKey(repository, digest) of reachable manifests. */
  readonly collectorMarks = new Set<string>();
  collectorLease: { owner: string; expiresAt: number } | undefined;
  /** Keyed by rowKey(repository, digest of the conversion). */
  readonly convertedManifests = new Map<string, ConvertedRow>();
  readonly settings = new Map<string, string>();
  /** Keyed by sequence; a Map keeps insertion order, which is sequence order. */
  readonly eventOutbox = new Map<number, OutboxRow>();
  nextOutboxSequence = 1;
}

// Repository names and tags never contain a newline, so it separates the two parts unambiguously.
export function rowKey(repository: string, name: string): string {
  return `${repository}\n${name}`;
}

export function splitRowKey(key: string): [repository: string, name: string] {
  const at = key.indexOf('\n');
  return [key.slice(0, at), key.slice(at + 1)];
}
