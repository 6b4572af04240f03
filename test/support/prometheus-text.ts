// A strict parser of the Prometheus text exposition format (version 0.0.4), for tests that read
// /metrics: it throws on anything a Prometheus server would refuse or misread (a sample before its
// TYPE, a bad name or escape, a duplicate series, a histogram whose buckets are not cumulative or lack
// +Inf, a counter that is negative), so a test that gets values out of it has also checked the format.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum`, `x_count` for a histogram `x`). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const seriesSeen = new Set<string>();
  const lines = text.split('\n');
  if (lines.at(-1) !== '') throw new Error('the exposition must end with a newline');
  lines.forEach((line, index) => {
    const where = `line ${index + 1}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!match) return; // an ordinary comment
      const [, keyword, name, rest] = match as unknown as [string, string, string, string];
      if (!METRIC_NAME.test(name)) throw new Error(`${where}: invalid metric name ${name}`);
      const family = families.get(name) ?? { name, type: 'untyped' as MetricType, help: '', samples: [] };
      if (keyword === 'TYPE') {
        if (!TYPES.has(rest as MetricType)) throw new Error(`${where}: unknown type ${rest}`);
        if (families.has(name) && family.samples.length > 0) throw new Error(`${where}: TYPE of ${name} after its samples`);
        family.type = rest as MetricType;
      } else {
        family.help = unescapeHelp(rest, where);
      }
      families.set(name, family);
      return;
    }
    const sample = parseSample(line, where);
    const family = familyOf(families, sample.name);
    if (!family) throw new Error(`${where}: sample ${sample.name} has no TYPE line before it`);
    const series = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    if (seriesSeen.has(series)) throw new Error(`${where}: duplicate series ${series}`);
    seriesSeen.add(series);
    if (family.type === 'counter' && !(sample.value >= 0)) throw new Error(`${where}: counter ${sample.name} is ${sample.value}`);
    family.samples.push(sample);
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** The family a sample belongs to: its own name, or a histogram's or summary's name for its suffixed samples. */
function familyOf(families: Map<string, MetricFamily>, sampleName: string): MetricFamily | undefined {
  const own = families.get(sampleName);
  if (own) return own;
  const suffix = /^(.*)_(bucket|sum|count)$/.exec(sampleName);
  if (!suffix) return undefined;
  const family = families.get(suffix[1]!);
  if (family?.type === 'histogram') return family;
  if (family?.type === 'summary' && suffix[2] !== 'bucket') return family;
  return undefined;
}

function parseSample(line: string, where: string): Sample {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) throw new Error(`${where}: no metric name in ${JSON.stringify(line)}`);
  const name = nameMatch[0];
  let rest = line.slice(name.length);
  const labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    rest = rest.slice(1);
    for (;;) {
      rest = rest.trimStart();
      if (rest.startsWith('}')) {
        rest = rest.slice(1);
        break;
      }
      const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(rest);
      if (!label || !LABEL_NAME.test(label[1]!)) throw new Error(`${where}: bad label in ${JSON.stringify(line)}`);
      rest = rest.slice(label[0].length);
      let value = '';
      for (;;) {
        const char = rest[0];
        if (char === undefined) throw new Error(`${where}: unterminated label value`);
        rest = rest.slice(1);
        if (char === '"') break;
        if (char === '\\') {
          const escaped = rest[0];
          rest = rest.slice(1);
          if (escaped === 'n') value += '\n';
          else if (escaped === '\\' || escaped === '"') value += escaped;
          else throw new Error(`${where}: invalid escape \\${escaped} in a label value`);
        } else {
          value += char;
        }
      }
      if (label[1]! in labels) throw new Error(`${where}: label ${label[1]} twice`);
      labels[label[1]!] = value;
      rest = rest.trimStart();
      if (rest.startsWith(',')) rest = rest.slice(1);
      else if (!rest.startsWith('}')) throw new Error(`${where}: expected , or } in ${JSON.stringify(line)}`);
    }
  }
  const fields = rest.trim().split(/\s+/);
  if (!rest.startsWith(' ') || fields.length < 1 || fields.length > 2) throw new Error(`${where}: bad sample ${JSON.stringify(line)}`);
  const value = parseValue(fields[0]!, where);
  if (fields[1] !== undefined && !/^-?\d+$/.test(fields[1])) throw new Error(`${where}: bad timestamp ${fields[1]}`);
  return { name, labels, value };
}

function parseValue(text: string, where: string): number {
  // As Prometheus reads them (Go's ParseFloat): Inf, Infinity and NaN in any case.
  if (/^\+?inf(inity)?$/i.test(text)) return Infinity;
  if (/^-inf(inity)?$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return Number.NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`${where}: bad value ${text}`);
  return Number(text);
}

function unescapeHelp(text: string, where: string): string {
  return text.replace(/\\(.)/g, (_, char: string) => {
    if (char === 'n') return '\n';
    if (char === '\\') return '\\';
    throw new Error(`${where}: invalid escape \\${char} in HELP`);
  });
}

/** Each series' buckets are cumulative and end in +Inf, which equals its _count. */
function checkHistogram(family: MetricFamily): void {
  const bySeries = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  for (const sample of family.samples) {
    const { le, ...rest } = sample.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const series = bySeries.get(key) ?? { buckets: [] };
    bySeries.set(key, series);
    if (sample.name === `${family.name}_bucket`) {
      if (le === undefined) throw new Error(`${family.name}: a bucket without le`);
      series.buckets.push([parseValue(le, family.name), sample.value]);
    } else if (sample.name === `${family.name}_count`) {
      series.count = sample.value;
    }
  }
  for (const [key, { buckets, count }] of bySeries) {
    const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
    sorted.forEach(([, value], index) => {
      if (index > 0 && value < sorted[index - 1]![1]) throw new Error(`${family.name}${key}: buckets are not cumulative`);
    });
    const last = sorted.at(-1);
    if (!last || last[0] !== Infinity) throw new Error(`${family.name}${key}: no +Inf bucket`);
    if (count !== undefined && count !== last[1]) throw new Error(`${family.name}${key}: _count ${count} is not the +Inf bucket ${last[1]}`);
  }
}

/**
 * The sum of the samples named `name` whose labels include every given label (so `{}` sums over all
 * series); 0 when there is none, as for a counter that has not moved yet.
 */
export function sampleSum(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const family = familyOf(families, name);
  if (!family) return 0;
  return family.samples
    .filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}
