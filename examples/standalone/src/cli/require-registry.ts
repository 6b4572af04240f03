import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerConfig } from '../config.js';
import { UsageError } from './usage-error.js';

/**
 * Commands that read a registry (gc, usage) refuse a data directory that holds none: a mistyped --data
 * would otherwise be opened as a new, empty registry. Checked before anything is created there.
 */
export function requireRegistry(config: ServerConfig): void {
  if (config.databaseUrl === undefined && !existsSync(join(config.dataDir, 'berth.sqlite'))) {
    throw new UsageError(`${config.dataDir} holds no registry (no berth.sqlite): give the data directory the server uses (--data), or its --database`);
  }
}
