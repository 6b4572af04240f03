import { pino } from 'pino';
import { openBlobStore } from '../blob-store.js';
import type { RetentionRule } from '@berth/core';
import { formatByteSize } from '@berth/core/internal';
import { createRegistryService, isCollectorBusy, type GcProgress, type GcSummary, type RetentionRemoval } from '@berth/registry';
import { readServerConfig } from '../config.js';
import { prepareDataDirectory } from '../data-dir.js';
import { openMetadata } from '../server.js';
import { parseArgs } from './args.js';
import { requireRegistry } from './require-registry.js';
import { UsageError } from './usage-error.js';

export const GC_HELP = `Usage: berth gc [--dry-run] [--delete-untagged] [--grace DURATION] [--json]
                [--data DIR] [--database URL] [--config FILE]

Runs one garbage collection over the stores the server uses (SQLite in the data directory, or the
PostgreSQL database, and the blobs in the data directory), safely while servers run on them: blobs no
tag reaches and that nothing touched within the grace period leave the blob store. The config file's
retention rules are applied first (tags they select go, and what only those tags reached). Prints a
progress line on a terminal (stderr) and a summary, with the tags retention removed (or, on a dry run,
would remove) and the rule of each. Exit 0, or 1 when another collection is running.

  --dry-run            report what would be removed, remove nothing
  --delete-untagged    also remove untagged manifests nothing reachable refers to (gc.deleteUntagged)
  --grace DURATION     keep what was pushed, linked or touched this recently (gc.grace; default 1h; 0 allowed)
  --json               print the summary as one JSON object
  --data DIR           the data directory (as for serve; default ./data)
  --database URL       a postgres:// URL (as for serve); default: SQLite in the data directory
  --config FILE        read storage, gc and retention settings from this config file
`;

const FLAGS = [
  { name: 'dry-run', takesValue: false },
  { name: 'delete-untagged', takesValue: false },
  { name: 'grace', takesValue: true },
  { name: 'json', takesValue: false },
  { name: 'data', takesValue: true },
  { name: 'database', takesValue: true },
  { name: 'config', takesValue: true },
] as const;

/** `berth gc`: one collection with the server's settings (flags, environment, config file, defaults). */
export async function gc(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, FLAGS, 'gc');
  if (args.help) {
    process.stdout.write(GC_HELP);
    return 0;
  }
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}" (see berth gc --help)`);
  // The collector's flags are the server's gc settings under shorter names: one parser, one set of checks.
  const settingFlags = new Map<string, string | boolean | string[]>();
  for (const [name, value] of args.flags) {
    if (name === 'grace') settingFlags.set('gc-grace', value);
    else if (name === 'delete-untagged') settingFlags.set('gc-delete-untagged', value);
    else if (name === 'data' || name === 'database' || name === 'config') settingFlags.set(name, value);
  }
  const { config } = await readServerConfig({ flags: settingFlags, env: process.env, cwd: process.cwd() }).catch((error: unknown) => {
    // A mistake in a flag is named as the user typed it.
    if (error instanceof UsageError) throw new UsageError(error.message.replace(/--gc-grace\b/g, '--grace').replace(/--gc-delete-untagged\b/g, '--delete-untagged'));
    throw error;
  });
  const json = args.flags.get('json') === true;
  const dryRun = args.flags.get('dry-run') === true;
  // Warnings and errors only, on stderr: stdout holds the summary.
  const logger = pino({ level: 'warn' }, pino.destination(2));
  requireRegistry(config);
  await prepareDataDirectory(config.dataDir);
  const metadata = await openMetadata(config, logger);
  try {
    const blobs = await openBlobStore(config);
    const service = createRegistryService({ metadata, blobs });
    const terminal = process.stderr.isTTY === true;
    let summary: GcSummary;
    try {
      summary = await service.gc.run({
        dryRun,
        deleteUntagged: config.gcDeleteUntagged,
        grace: config.gcGraceMs,
        retention: config.retention,
        ...(terminal && { onProgress: (progress: GcProgress) => process.stderr.write(`\r\u001b[K${progressLine(progress)}`) }),
      });
    } finally {
      if (terminal) process.stderr.write('\r\u001b[K');
    }
    process.stdout.write(json ? `${JSON.stringify(summary)}\n` : summaryText(summary) + retentionText(summary, config.retention));
    return 0;
  } catch (error) {
    // Another instance (or berth gc) holds the collector's lease: one line, exit 1.
    if (isCollectorBusy(error)) throw new Error('another garbage collection is running; try again when it has finished');
    throw error;
  } finally {
    await metadata.close();
  }
}

function progressLine(progress: GcProgress): string {
  return `gc ${progress.phase}: ${progress.manifestsDeleted} manifests, ${progress.linksDeleted} links, ${progress.blobsDeleted} blobs (${formatByteSize(progress.bytesFreed)})`;
}

function summaryText(summary: GcSummary): string {
  const verb = summary.dryRun ? 'would remove' : 'removed';
  return [
    `${summary.dryRun ? 'dry run: nothing removed' : 'garbage collection done'} in ${(summary.durationMs / 1000).toFixed(1)} s`,
    `  manifests ${verb}: ${summary.manifestsDeleted}`,
    `  links ${verb}:     ${summary.linksDeleted}`,
    `  blobs ${verb}:     ${summary.blobsDeleted} (${formatByteSize(summary.bytesFreed)})`,
    '',
  ].join('\n');
}

/** The retention report: one line per tag, grouped by rule, each rule named by its position and repositories. */
function retentionText(summary: GcSummary, rules: readonly RetentionRule[]): string {
  const report = summary.retention;
  if (report === undefined) return '';
  const verb = summary.dryRun ? 'would remove' : 'removed';
  const lines = [`  tags retention ${verb}: ${report.tagsRemoved}`];
  for (const [index, rule] of rules.entries()) {
    const removals = report.removals.filter((removal) => removal.rule === index);
    if (removals.length === 0) continue;
    lines.push(`  rule ${index} (${rule.repositories.join(', ')}): ${removals.length}`);
    for (const removal of removals) lines.push(`    ${removal.repository}:${removal.tag}  ${removal.digest}  ${REASONS[removal.reason]}`);
  }
  return `${lines.join('\n')}\n`;
}

const REASONS: Record<RetentionRemoval['reason'], string> = {
  'older-than': 'older than olderThan',
  'not-newest': 'not among the newest keepNewest',
  'subject-removed': 'signature of a removed manifest',
};
