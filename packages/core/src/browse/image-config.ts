import type { Platform } from '../manifest/types.js';
import { platformOf } from './manifest-summary.js';

/** One step of an image's history, as its config records it. */
export interface ImageHistoryEntry {
  /** When the step ran (RFC 3339). */
  created?: string;
  /** The command of the step. */
  createdBy?: string;
  /** True when the step made no layer. */
  emptyLayer?: boolean;
  /** The builder's comment. */
  comment?: string;
}

/** What a page shows of an image config: platform, creation, how it runs, and its history. */
export interface ImageConfigSummary {
  /** The platform the image runs on; undefined when the config names none. */
  platform?: Platform;
  /** When the image was created (RFC 3339). */
  created?: string;
  /** The container's entrypoint. */
  entrypoint?: string[];
  /** The container's default command. */
  cmd?: string[];
  /** Environment variables, `NAME=value`. */
  env: string[];
  /** Labels of the image. */
  labels: Record<string, string>;
  /** Build steps, oldest first. */
  history: ImageHistoryEntry[];
}

/**
 * Reads the summary of an image config (Docker or OCI, same fields). Values of the wrong type are left
 * out rather than refused: the config was accepted at push time and a page should still show the rest.
 * Undefined when the bytes are not a JSON object.
 */
export function parseImageConfigSummary(bytes: Uint8Array): ImageConfigSummary | undefined {
  let config: unknown;
  try {
    config = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (!isObject(config)) return undefined;
  const run = isObject(config['config']) ? config['config'] : {};
  const platform = platformOf(config);
  const created = stringOf(config['created']);
  const entrypoint = stringsOf(run['Entrypoint']);
  const cmd = stringsOf(run['Cmd']);
  const labels: Record<string, string> = {};
  if (isObject(run['Labels'])) {
    for (const [name, value] of Object.entries(run['Labels'])) if (typeof value === 'string') labels[name] = value;
  }
  const history = Array.isArray(config['history']) ? config['history'].filter(isObject).map(historyEntry) : [];
  return {
    ...(platform && { platform }),
    ...(created !== undefined && { created }),
    ...(entrypoint && { entrypoint }),
    ...(cmd && { cmd }),
    env: stringsOf(run['Env']) ?? [],
    labels,
    history,
  };
}

function historyEntry(entry: Record<string, unknown>): ImageHistoryEntry {
  const created = stringOf(entry['created']);
  const createdBy = stringOf(entry['created_by']);
  const comment = stringOf(entry['comment']);
  return {
    ...(created !== undefined && { created }),
    ...(createdBy !== undefined && { createdBy }),
    ...(entry['empty_layer'] === true && { emptyLayer: true }),
    ...(comment !== undefined && { comment }),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function stringsOf(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined;
}
