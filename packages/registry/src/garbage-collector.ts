import { randomUUID } from 'node:crypto';
import { RegistryError, type CollectedBlob, type CollectedManifest, type ListedBlob, type MirrorCacheStore, type RetentionRule } from '@berth/core';
import { EMPTY_LAYER_DIGEST, compileRetentionPolicy, subjectOfReferrerTag } from '@berth/core/internal';
import type { ManifestService } from './manifest-service.js';
import type { ResolvedOptions } from './options.js';
import { applyRetentionRules, manifestsHangingOn, type ManifestKey, type RetentionPassResult, type RetentionRemoval } from './retention-pass.js';

/** Options of `service.gc.run()`. */
export interface GcRunOptions {
  /** Report what would go, remove nothing. Default false. */
  dryRun?: boolean;
  /** Also remove untagged manifests nothing reachable refers to (and their referrers). Default false. */
  deleteUntagged?: boolean;
  /**
   * Milliseconds: what was written, linked or named more recently than this before the run stays, and so
   * do the unused links of a repository with upload activity this recent. Default one hour; 0 is allowed.
   */
  grace?: number;
  /** Rows handled per store round trip. Default 500. */
  batchSize?: number;
  /**
   * Milliseconds the collector lease lasts between renewals (one per batch): how long other collectors
   * wait for this one if it dies mid-run. Default five minutes.
   */
  leaseMs?: number;
  /** Told after each batch how far the run got (for a progress line). */
  onProgress?(progress: GcProgress): void;
  /**
   * Retention rules, applied before marking (see the README's "Retention"): the first rule whose pattern
   * matches a repository removes the tags it selects, and what only those tags reached is collected in
   * the same run. None by default.
   */
  retention?: readonly RetentionRule[];
}

/** A garbage-collector run's phase, as progress reports it. */
export type GcPhase = 'retention' | 'mark' | 'manifests' | 'links' | 'adopt' | 'blobs';

/** A progress report of a garbage-collector run. */
export interface GcProgress {
  /** The phase the run is in when it reports (at its start and after each batch). */
  phase: GcPhase;
  /** Manifests deleted so far in this run (on a dry run, that would be). */
  manifestsDeleted: number;
  /** Blob links deleted so far in this run (on a dry run, that would be). */
  linksDeleted: number;
  /** Blobs deleted so far in this run (on a dry run, that would be). */
  blobsDeleted: number;
  /** Bytes of the blobs deleted so far (on a dry run, that would be). */
  bytesFreed: number;
}

/** What a garbage-collector run did (or, dry, would do). */
export interface GcSummary {
  /** True when the run only counted what it would delete. */
  dryRun: boolean;
  /** Manifests marked reachable (only counted with deleteUntagged, which needs the marks). */
  reachableManifests: number;
  /** Manifests deleted (or, on a dry run, that would be). */
  manifestsDeleted: number;
  /** Repository links to blobs no manifest of the repository names. */
  linksDeleted: number;
  /** Blobs removed from the blob store (or that would be, on a dry run). */
  blobsDeleted: number;
  /** Bytes of the blobs deleted (or, on a dry run, that would be). */
  bytesFreed: number;
  /** Wall-clock length of the run in milliseconds. */
  durationMs: number;
  /** With retention rules: the tags they removed (or would remove, on a dry run), each with its rule. */
  retention?: RetentionSummary;
}

/** What the retention rules removed in a garbage-collector run. */
export interface RetentionSummary {
  /** Number of tags removed (or that would be). */
  tagsRemoved: number;
  /** Each removed tag with the rule that removed it. */
  removals: RetentionRemoval[];
}

/** The garbage collector's default grace: blobs and manifests touched more recently than this are kept (one hour). */
export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;

/** The detail of the UNAVAILABLE a run meets when another collector holds the lease (a database that is down is UNAVAILABLE too). */
const COLLECTOR_BUSY = { reason: 'another garbage collection holds the collector lease' };

/** Whether a run failed only because another collector (this or another instance) was running. */
export function isCollectorBusy(error: unknown): boolean {
  return error instanceof RegistryError && error.detail === COLLECTOR_BUSY;
}
const DEFAULT_BATCH = 500;
const DEFAULT_LEASE_MS = 5 * 60 * 1000;
/** Blobs whose bytes are deleted at once (an object store takes more; a disk gains little from more). */
const PARALLEL_DELETES = 16;

/**
 * Mark and sweep over the two stores, while the registry serves (see the README's "Garbage collection").
 * The stores' sweep methods re-check every guard in their delete statements; this module only decides
 * the order and the cutoff, and holds the lease that keeps a second collector out.
 */
export class GarbageCollector {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly manifests: ManifestService,
    /** The mirror's records: retention ages a mirrored tag by its last fetch or revalidation. */
    private readonly mirrorCache?: MirrorCacheStore,
  ) {}

  /** One collection. Fails with UNAVAILABLE when another collector (this or another instance) is running. */
  async run(runOptions: GcRunOptions = {}): Promise<GcSummary> {
    const started = Date.now();
    const {
      dryRun = false,
      deleteUntagged = false,
      grace = DEFAULT_GC_GRACE_MS,
      batchSize = DEFAULT_BATCH,
      leaseMs = DEFAULT_LEASE_MS,
      onProgress,
      retention,
    } = runOptions;
    if (!Number.isFinite(grace) || grace < 0) throw new RangeError('grace must be a number of milliseconds, 0 or more');
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
    if (!Number.isFinite(leaseMs) || leaseMs <= 0) throw new RangeError('leaseMs must be a positive number of milliseconds');
    const policy = retention === undefined || retention.length === 0 ? undefined : compileRetentionPolicy(retention);
    const { metadata, blobs } = this.options;
    const owner = randomUUID();
    const renewLease = async () => {
      if (!(await metadata.claimCollectorLease(owner, new Date(Date.now() + leaseMs)))) {
        throw new RegistryError('UNAVAILABLE', 'another garbage collection is running', { detail: COLLECTOR_BUSY });
      }
    };
    await renewLease();
    // Anything touched after this instant (minus the grace) stays, whatever the sweeps find.
    const touchedBefore = new Date(started - grace);
    const summary: GcSummary = {
      dryRun,
      reachableManifests: 0,
      manifestsDeleted: 0,
      linksDeleted: 0,
      blobsDeleted: 0,
      bytesFreed: 0,
      durationMs: 0,
    };
    const progress = (phase: GcPhase) => onProgress?.({ phase, ...pickCounts(summary) });
    try {
      if (policy !== undefined) {
        progress('retention');
        const pass = await applyRetentionRules({
          metadata,
          manifests: this.manifests,
          policy,
          clock: { now: new Date(started), keepPushedSince: touchedBefore },
          dryRun,
          pageSize: batchSize,
          afterRepository: renewLease,
          ...(this.mirrorCache && { mirrorCache: this.mirrorCache }),
        });
        summary.retention = { tagsRemoved: 0, removals: pass.removals };
        if (!dryRun) await this.collectUntagged(pass, summary, { touchedBefore, batchSize, renewLease, progress });
        summary.retention.tagsRemoved = summary.retention.removals.length;
      }
      if (deleteUntagged) {
        progress('mark');
        summary.reachableManifests = await metadata.markReachableManifests();
        await renewLease();
        for (let after: { repository: string; digest: string; size: number } | undefined; ; ) {
          const swept = await metadata.sweepManifests({ touchedBefore, limit: batchSize, dryRun, ...(after && { after }) });
          summary.manifestsDeleted += swept.length;
          progress('manifests');
          await renewLease();
          if (swept.length < batchSize) break;
          // Pages by key, so rows kept (reachable, touched) are read once per run, not once per batch.
          after = swept[swept.length - 1];
        }
      }
      for (let after: { repository: string; digest: string } | undefined; ; ) {
        const swept = await metadata.sweepBlobLinks({
          touchedBefore,
          limit: batchSize,
          dryRun,
          keepWithConversions: [EMPTY_LAYER_DIGEST],
          ...(after && { after }),
        });
        summary.linksDeleted += swept.length;
        progress('links');
        await renewLease();
        if (swept.length < batchSize) break;
        after = swept[swept.length - 1];
      }
      if (blobs.listBlobs) {
        // Bytes the metadata never knew (written before it kept a row per blob) get a row aged by their file.
        let batch: ListedBlob[] = [];
        for await (const listed of blobs.listBlobs()) {
          batch.push(listed);
          if (batch.length < batchSize) continue;
          await metadata.adoptBlobs(batch);
          batch = [];
          progress('adopt');
          await renewLease();
        }
        if (batch.length > 0) await metadata.adoptBlobs(batch);
      }
      // A few deletes in flight at once: one at a time, a batch's transaction waits out every round trip in turn.
      const removeBytes = async (removed: readonly CollectedBlob[]) => {
        for (let start = 0; start < removed.length; start += PARALLEL_DELETES) {
          await Promise.all(removed.slice(start, start + PARALLEL_DELETES).map((blob) => blobs.delete(blob.digest)));
        }
      };
      for (let after: string | undefined; ; ) {
        const swept = await metadata.sweepBlobs({ touchedBefore, limit: batchSize, dryRun, ...(after !== undefined && { after }) }, removeBytes);
        summary.blobsDeleted += swept.length;
        for (const blob of swept) summary.bytesFreed += blob.size;
        progress('blobs');
        await renewLease();
        if (swept.length < batchSize) break;
        after = swept[swept.length - 1]!.digest;
      }
    } finally {
      await metadata.releaseCollectorLease(owner).catch(() => undefined);
    }
    summary.durationMs = Date.now() - started;
    if (!dryRun) this.options.observer.gcRun({ bytesFreed: summary.bytesFreed, blobsDeleted: summary.blobsDeleted });
    return summary;
  }

  /**
   * Collects what retention left without a tag, in this run and whether or not deleteUntagged is on: the
   * manifests that lost every tag, with their children and referrers, through the same guarded sweep as
   * untagged manifests (so what another tag still reaches, or a push touched, stays). Referrer tags
   * (`sha256-<hex>.sig`) of a manifest that went are removed too, and then what only they reached.
   */
  private async collectUntagged(pass: RetentionPassResult, summary: GcSummary, context: CollectUntaggedContext): Promise<void> {
    const { metadata } = this.options;
    const { touchedBefore, batchSize, renewLease, progress } = context;
    const ruleOf = new Map(pass.removals.map((removal) => [removal.repository, removal.rule]));
    for (let untagged: ManifestKey[] = pass.untagged; untagged.length > 0; ) {
      const candidates = await manifestsHangingOn(metadata, untagged);
      progress('mark');
      await metadata.markReachableManifests();
      await renewLease();
      const swept: CollectedManifest[] = [];
      for (let start = 0; start < candidates.length; start += batchSize) {
        const only = candidates.slice(start, start + batchSize);
        const batch = await metadata.sweepManifests({ touchedBefore, limit: only.length, only });
        swept.push(...batch);
        summary.manifestsDeleted += batch.length;
        progress('manifests');
        await renewLease();
      }
      untagged = [];
      for (const gone of swept) {
        for (const tag of pass.referrerTags.get(gone.repository) ?? []) {
          if (subjectOfReferrerTag(tag.name) !== gone.digest) continue;
          const expected = { digest: tag.digest, pushedBefore: touchedBefore };
          if (!(await this.manifests.deleteTagIfUnchanged(gone.repository, tag.name, expected))) continue;
          summary.retention!.removals.push({ repository: gone.repository, tag: tag.name, digest: tag.digest, rule: ruleOf.get(gone.repository)!, reason: 'subject-removed' });
          untagged.push({ repository: gone.repository, digest: tag.digest });
        }
      }
    }
  }
}

interface CollectUntaggedContext {
  touchedBefore: Date;
  batchSize: number;
  renewLease(): Promise<void>;
  progress(phase: GcPhase): void;
}

function pickCounts({ manifestsDeleted, linksDeleted, blobsDeleted, bytesFreed }: GcSummary): Omit<GcProgress, 'phase'> {
  return { manifestsDeleted, linksDeleted, blobsDeleted, bytesFreed };
}
