/** Multipliers of the size units a quota may be written in: SI (powers of 1000) and IEC (powers of 1024). */
const UNITS: ReadonlyMap<string, number> = new Map([
  ['b', 1],
  ['kb', 1000],
  ['mb', 1000 ** 2],
  ['gb', 1000 ** 3],
  ['tb', 1000 ** 4],
  ['kib', 1024],
  ['mib', 1024 ** 2],
  ['gib', 1024 ** 3],
  ['tib', 1024 ** 4],
]);

/**
 * Bytes from `500MiB`, `10GB`, `1.5 GiB` or a bare whole number of bytes; undefined when the text is
 * none of these or the result is not a whole number of bytes a JavaScript number holds exactly.
 */
export function parseByteSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (match === null) return undefined;
  const multiplier = UNITS.get((match[2] || 'b').toLowerCase());
  if (multiplier === undefined) return undefined;
  const bytes = Math.round(Number(match[1]) * multiplier);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** `1536` -> `1.5 KiB`: binary units, one decimal, bytes as a whole number. */
export function formatByteSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
