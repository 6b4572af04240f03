/** The units of the one duration syntax, in milliseconds. */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export type DurationUnit = keyof typeof UNIT_MS;

/**
 * `500ms`, `90s`, `15m`, `1h`, `7d` (decimals allowed: `1.5h`), in milliseconds. A bare number is in
 * `bareUnit`: seconds for the connection timeouts, hours for the upload TTL, as before the suffixes
 * existed. Undefined when the text is not a duration.
 */
export function parseDuration(text: string, bareUnit: DurationUnit): number | undefined {
  const match = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match) return undefined;
  const unit = (match[2] ?? bareUnit) as DurationUnit;
  return Math.round(Number(match[1]) * UNIT_MS[unit]);
}

/** The shortest exact spelling of a duration (`90s`, `15m`, `7d`, `500ms`), for printing a configuration. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms !== 0 && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return ms === 0 ? '0s' : `${ms}ms`;
}
