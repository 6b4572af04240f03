// Medians, ratios against the issue's goals, the printed table and the JSON file.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const MiB = 1024 * 1024;

export function median(values) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * One line of the table. `berth` and `baseline` are samples (medians are shown); `ratio` is berth's
 * median over the baseline's unless the row says otherwise; `goal` is checked when given.
 * @typedef {object} Row
 * @property {string} workload
 * @property {string} unit
 * @property {number[]} [berth]
 * @property {number[]} [postgres]  berth with its metadata in PostgreSQL (reported beside, no goal)
 * @property {number[]} [baseline]
 * @property {string} [baselineName]  what the baseline column holds when it is not the reference
 * @property {number} [ratio]
 * @property {{ min?: number, max?: number, of: 'ratio' | 'berth' }} [goal]
 * @property {string} [note]
 * @property {string} [status]  'n/a (...)' or an error, when the row could not be measured
 */

export function finishRow(row) {
  const berth = row.berth && row.berth.length > 0 ? median(row.berth) : undefined;
  const baseline = row.baseline && row.baseline.length > 0 ? median(row.baseline) : undefined;
  const postgres = row.postgres && row.postgres.length > 0 ? median(row.postgres) : undefined;
  const ratio = row.ratio ?? (berth !== undefined && baseline !== undefined ? berth / baseline : undefined);
  let met;
  if (row.goal && row.status === undefined) {
    const value = row.goal.of === 'ratio' ? ratio : berth;
    if (value !== undefined) {
      met = (row.goal.min === undefined || value >= row.goal.min) && (row.goal.max === undefined || value <= row.goal.max);
    }
  }
  return { ...row, berthMedian: berth, postgresMedian: postgres, baselineMedian: baseline, ratio, met };
}

function formatNumber(value, unit) {
  if (value === undefined || Number.isNaN(value)) return '-';
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${unit}`;
}

function formatGoal(goal) {
  if (!goal) return '';
  const suffix = goal.of === 'ratio' ? 'x' : '';
  if (goal.min !== undefined) return `>= ${goal.min}${suffix}`;
  if (goal.max !== undefined) return `<= ${goal.max}${suffix}`;
  return '';
}

/** The table as Markdown, so it can go into the README as printed. */
export function renderTable(rows) {
  const lines = [
    '| Workload | berth (SQLite) | berth (PostgreSQL) | reference (or baseline) | ratio (SQLite) | goal | met |',
    '|---|---:|---:|---:|---:|---|---|',
  ];
  for (const row of rows) {
    if (row.status !== undefined && row.berthMedian === undefined) {
      lines.push(`| ${row.workload} | ${row.status} | - | ${formatNumber(row.baselineMedian, row.unit)} | - | ${formatGoal(row.goal)} | - |`);
      continue;
    }
    const baseline =
      row.baselineMedian === undefined
        ? '-'
        : `${row.baselineName ? `${row.baselineName}: ` : ''}${formatNumber(row.baselineMedian, row.baselineUnit ?? row.unit)}`;
    const ratio = row.status ?? (row.ratio === undefined || Number.isNaN(row.ratio) ? '-' : `${row.ratio.toFixed(2)}x`);
    const met = row.met === undefined ? '' : row.met ? 'yes' : 'NO';
    lines.push(
      `| ${row.workload} | ${formatNumber(row.berthMedian, row.unit)} | ${formatNumber(row.postgresMedian, row.unit)} | ${baseline} | ${ratio} | ${formatGoal(row.goal)} | ${met} |`,
    );
  }
  return lines.join('\n');
}

export async function writeResults(directory, results) {
  await mkdir(directory, { recursive: true });
  const stamp = new Date(results.startedAt).toISOString().replace(/[:.]/g, '-');
  const path = join(directory, `${stamp}.json`);
  await writeFile(path, `${JSON.stringify(results, null, 2)}\n`);
  return path;
}
