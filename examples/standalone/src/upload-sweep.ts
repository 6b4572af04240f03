import type { Logger } from 'pino';
import type { StandaloneBlobStore } from './blob-store.js';
import type { RegistryService } from '@berth/registry';

/**
 * Discards uploads nobody finished within `ttlMs` (clients that crashed or gave up), first through their
 * sessions, then any upload directory a crash left without one. Runs at start and then every quarter of
 * the TTL (at most hourly). Returns the function that stops it, resolving once a sweep in progress is done.
 */
export function startUploadSweep(
  service: RegistryService,
  blobs: StandaloneBlobStore,
  ttlMs: number,
  logger: Logger,
): () => Promise<void> {
  const sweep = async () => {
    const cutoff = new Date(Date.now() - ttlMs);
    try {
      const sessions = await service.uploads.purgeStarted(cutoff);
      const orphans = await blobs.purgeUploads(cutoff);
      if (sessions + orphans.length > 0) logger.info({ sessions, orphans: orphans.length }, 'discarded stale uploads');
    } catch (error) {
      logger.warn({ err: error }, 'stale upload sweep failed; will try again');
    }
  };
  let running = sweep();
  const timer = setInterval(() => {
    running = running.then(sweep);
  }, Math.max(Math.min(ttlMs / 4, 3_600_000), 100));
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
