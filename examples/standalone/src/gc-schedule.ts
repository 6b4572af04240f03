import type { Logger } from 'pino';
import type { RetentionRule } from '@berth/core';
import { isCollectorBusy, type RegistryService } from '@berth/registry';

export interface GcScheduleOptions {
  /** Milliseconds between the end of one collection and the start of the next; the first starts one interval after start-up. */
  intervalMs: number;
  graceMs: number;
  deleteUntagged: boolean;
  /** Retention rules each collection applies first (none: only garbage is collected). */
  retention: readonly RetentionRule[];
}

/**
 * Runs the garbage collector inside the server (`--gc-interval`). The next run is planned only when the
 * previous one has finished, so two never overlap in this process; another instance's run is kept out by
 * the collector's lease, and meeting it is expected, not an error. Returns the function that stops the
 * schedule, resolving once a run in progress is done (before the stores close).
 */
export function startGcSchedule(service: RegistryService, options: GcScheduleOptions, logger: Logger): () => Promise<void> {
  const log = logger.child({ component: 'gc' });
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const collect = async () => {
    try {
      const summary = await service.gc.run({ grace: options.graceMs, deleteUntagged: options.deleteUntagged, retention: options.retention });
      log.info(
        {
          manifestsDeleted: summary.manifestsDeleted,
          linksDeleted: summary.linksDeleted,
          blobsDeleted: summary.blobsDeleted,
          bytesFreed: summary.bytesFreed,
          durationMs: summary.durationMs,
          ...(summary.retention && { tagsRemoved: summary.retention.tagsRemoved }),
        },
        `garbage collection: ${summary.blobsDeleted} blobs (${summary.bytesFreed} bytes), ${summary.manifestsDeleted} manifests, ${summary.linksDeleted} links removed`,
      );
    } catch (error) {
      if (isCollectorBusy(error)) log.info('garbage collection skipped: another collection is running');
      else log.warn({ err: error }, 'garbage collection failed; will try again at the next interval');
    }
  };
  const plan = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = collect().then(plan);
    }, options.intervalMs);
    timer.unref();
  };
  plan();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
