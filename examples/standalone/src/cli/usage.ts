import { pino } from 'pino';
import { type RepositoryUsage, type UsageTotals } from '@berth/core';
import { compileQuotas, formatByteSize } from '@berth/core/internal';
import { readServerConfig } from '../config.js';
import { openMetadata } from '../server.js';
import { parseArgs } from './args.js';
import { requireRegistry } from './require-registry.js';
import { UsageError } from './usage-error.js';

export const USAGE_HELP = `Usage: berth usage [REPOSITORY] [--json] [--data DIR] [--database URL] [--config FILE]

Prints what each repository holds (the blobs it links, each once, plus its manifests), its quota if the
config file gives one, and the registry's total (every blob once, however many repositories link it).
Reads counters the server keeps, so it is cheap and safe while servers run.

  REPOSITORY       only this repository
  --json           print one JSON object
  --data DIR       the data directory (as for serve; default ./data)
  --database URL   a postgres:// URL (as for serve); default: SQLite in the data directory
  --config FILE    read storage settings and quotas from this config file
`;

const FLAGS = [
  { name: 'json', takesValue: false },
  { name: 'data', takesValue: true },
  { name: 'database', takesValue: true },
  { name: 'config', takesValue: true },
] as const;

const PAGE = 1000;

/** `berth usage [REPOSITORY]`: usage per repository and for the registry, with the configured quotas. */
export async function usage(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, FLAGS, 'usage');
  if (args.help) {
    process.stdout.write(USAGE_HELP);
    return 0;
  }
  if (args.positionals.length > 1) throw new UsageError(`unexpected argument "${args.positionals[1]}" (see berth usage --help)`);
  const only = args.positionals[0];
  const settingFlags = new Map<string, string | boolean | string[]>();
  for (const [name, value] of args.flags) if (name !== 'json') settingFlags.set(name, value);
  const { config } = await readServerConfig({ flags: settingFlags, env: process.env, cwd: process.cwd() });
  requireRegistry(config);
  const quotas = compileQuotas(config.quotas);
  const metadata = await openMetadata(config, pino({ level: 'warn' }, pino.destination(2)));
  try {
    const repositories: RepositoryUsage[] = [];
    if (only !== undefined) {
      repositories.push(await metadata.repositoryUsage(only));
    } else {
      for (let last: string | undefined; ; ) {
        const page = await metadata.listRepositoryUsage({ ...(last !== undefined && { last }), limit: PAGE });
        repositories.push(...page);
        if (page.length < PAGE) break;
        last = page.at(-1)!.repository;
      }
    }
    const registry = await metadata.registryUsage();
    const rows = repositories.map((entry) => ({ ...entry, bytes: entry.blobBytes + entry.manifestBytes, quota: quotas.quotaFor(entry.repository) }));
    if (args.flags.get('json') === true) {
      process.stdout.write(`${JSON.stringify({ repositories: rows, registry: { ...registry, bytes: registry.blobBytes + registry.manifestBytes } })}\n`);
    } else {
      process.stdout.write(table(rows, registry));
    }
    return 0;
  } finally {
    await metadata.close();
  }
}

function table(rows: Array<RepositoryUsage & { bytes: number; quota: { repository: string; limit: number } | undefined }>, registry: UsageTotals): string {
  const lines = [
    ['REPOSITORY', 'SIZE', 'BLOBS', 'MANIFESTS', 'QUOTA'],
    ...rows.map((row) => [
      row.repository,
      formatByteSize(row.bytes),
      String(row.blobCount),
      String(row.manifestCount),
      row.quota === undefined ? '-' : `${formatByteSize(row.quota.limit)} (${Math.floor((row.bytes / Math.max(row.quota.limit, 1)) * 100)}%, ${row.quota.repository})`,
    ]),
    ['registry (each blob once)', formatByteSize(registry.blobBytes + registry.manifestBytes), String(registry.blobCount), String(registry.manifestCount), ''],
  ];
  const widths = lines[0]!.map((_, column) => Math.max(...lines.map((line) => line[column]!.length)));
  const format = (line: string[]) => line.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ').trimEnd();
  const rule = '-'.repeat(widths.reduce((sum, width) => sum + width + 2, -2));
  return [...lines.slice(0, -1).map(format), rule, format(lines.at(-1)!), ''].join('\n');
}
