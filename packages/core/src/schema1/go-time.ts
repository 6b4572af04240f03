/**
 * Go 1.19's time.Time JSON round trip, which schema1 conversion copies into every v1Compatibility:
 * UnmarshalJSON parses the raw JSON token with the layout `"2006-01-02T15:04:05Z07:00"` (Go 1.19 is
 * lax: a one-digit hour, `.` or `,` before any number of fraction digits, offsets up to 24:60), and
 * MarshalJSON writes RFC 3339 with nanoseconds, trailing zeros dropped, the parsed offset kept
 * (a zero offset is written `Z`).
 */

/** How Go writes the zero time.Time (a history entry without `created`). */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

export class GoTimeError extends Error {
  constructor(raw: string, reason: string) {
    super(`parsing time ${raw.slice(0, 100)} as "2006-01-02T15:04:05Z07:00": ${reason}`);
    this.name = 'GoTimeError';
  }
}

function isDigit(text: string, index: number): boolean {
  const code = text.charCodeAt(index);
  return code >= 0x30 && code <= 0x39;
}

function daysIn(month: number, year: number): number {
  if (month === 2) return (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/**
 * Parses the raw JSON token of a time value (quotes included, escapes not decoded, exactly as Go's
 * Time.UnmarshalJSON receives it) and returns how Go's Time.MarshalJSON writes it back, without quotes.
 */
export function reformatGoJsonTime(raw: string): string {
  let index = 0;
  const bad = (reason = 'cannot parse'): never => {
    throw new GoTimeError(raw, reason);
  };
  const literal = (char: string): void => {
    if (raw[index] !== char) bad();
    index++;
  };
  // getnum: one or two digits; `fixed` requires two.
  const number = (fixed: boolean): number => {
    if (!isDigit(raw, index)) bad();
    if (!isDigit(raw, index + 1)) {
      if (fixed) bad();
      return Number(raw[index++]);
    }
    const value = Number(raw.slice(index, index + 2));
    index += 2;
    return value;
  };

  literal('"');
  if (raw.length - index < 4 || ![0, 1, 2, 3].every((k) => isDigit(raw, index + k))) bad();
  const year = Number(raw.slice(index, index + 4));
  index += 4;
  literal('-');
  const month = number(true);
  if (month < 1 || month > 12) bad('month out of range');
  literal('-');
  const day = number(true);
  literal('T');
  const hour = number(false);
  if (hour >= 24) bad('hour out of range');
  literal(':');
  const minute = number(true);
  if (minute >= 60) bad('minute out of range');
  literal(':');
  const second = number(true);
  if (second >= 60) bad('second out of range');

  let nanoseconds = 0;
  if ((raw[index] === '.' || raw[index] === ',') && isDigit(raw, index + 1)) {
    let end = index + 1;
    while (isDigit(raw, end)) end++;
    // Go keeps at most nine digits and scales the rest: ".5" is 500000000ns.
    nanoseconds = Number(raw.slice(index + 1, Math.min(end, index + 10)).padEnd(9, '0'));
    index = end;
  }

  let offsetMinutes = 0;
  if (raw[index] === 'Z') {
    index++;
  } else {
    if (raw.length - index < 6 || raw[index + 3] !== ':') bad();
    const sign = raw[index];
    index++;
    const hours = number(true);
    index++; // the ':' checked above
    const minutes = number(true);
    if (hours > 24) bad('time zone offset hour out of range');
    if (minutes > 60) bad('time zone offset minute out of range');
    if (sign !== '+' && sign !== '-') bad();
    offsetMinutes = (sign === '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  literal('"');
  if (index !== raw.length) bad('extra text');
  if (day < 1 || day > daysIn(month, year)) bad('day out of range');

  let text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}`;
  if (nanoseconds > 0) text += `.${pad(nanoseconds, 9).replace(/0+$/, '')}`;
  if (offsetMinutes === 0) return `${text}Z`;
  const absolute = Math.abs(offsetMinutes);
  return `${text}${offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(absolute / 60), 2)}:${pad(absolute % 60, 2)}`;
}
