/**
 * Parsing of the Accept request header (RFC 9110 section 12.5.1), enough for manifest content
 * negotiation: which media types a client names, and with which weight. Pure, no I/O.
 */

export interface AcceptEntry {
  /** Lowercase `type/subtype`, `type/*` or `*\/*`. */
  mediaType: string;
  /** Weight from 0 (not acceptable) to 1. */
  q: number;
  /** Media type parameters before the weight, names lowercase. */
  parameters: Record<string, string>;
}

export interface AcceptedTypes {
  /** Every well-formed media range, in header order. */
  readonly entries: readonly AcceptEntry[];
  /** No Accept header, or only whitespace and empty list elements. */
  readonly isEmpty: boolean;
  /** At least one non-wildcard media range with a weight above 0. */
  readonly hasSpecificTypes: boolean;
  /** Some wildcard range is acceptable, but no specific type is. */
  readonly onlyWildcards: boolean;
  /**
   * True when the client names this media type with a weight above 0 and never with `q=0`.
   * Wildcards do not count: a registry must not guess that `*\/*` includes a manifest format.
   */
  accepts(mediaType: string): boolean;
  /** The weight the client gives this exact media type; 0 when not named or refused. */
  qualityOf(mediaType: string): number;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function isWildcard(mediaType: string): boolean {
  return mediaType.endsWith('/*');
}

/** Splits on `separator` outside quoted strings (a parameter value may hold commas or semicolons). */
function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted && char === '\\' && i + 1 < text.length) {
      current += char + text[++i]!;
      continue;
    }
    if (char === '"') quoted = !quoted;
    if (char === separator && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
}

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return value.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return value;
}

/** The media range of one list element, lowercase, or undefined when it is not one. */
function parseMediaRange(text: string): string | undefined {
  const range = text.trim().toLowerCase();
  // Some old clients (Java's URLConnection) send a bare `*` for `*/*`.
  if (range === '*') return '*/*';
  const slash = range.indexOf('/');
  if (slash < 0) return undefined;
  const type = range.slice(0, slash);
  const subtype = range.slice(slash + 1);
  if (!TOKEN.test(type) || !TOKEN.test(subtype)) return undefined;
  if (type === '*' && subtype !== '*') return undefined;
  return range;
}

/** A weight, tolerating more digits than the grammar's three; undefined when not a number in [0, 1]. */
function parseWeight(value: string): number | undefined {
  if (!/^(?:\d+(?:\.\d*)?|\.\d+)$/.test(value)) return undefined;
  const weight = Number(value);
  return weight >= 0 && weight <= 1 ? weight : undefined;
}

function parseElement(element: string): AcceptEntry | undefined {
  const [rangeText = '', ...parameterTexts] = splitOutsideQuotes(element, ';');
  const mediaType = parseMediaRange(rangeText);
  if (mediaType === undefined) return undefined;
  const parameters: Record<string, string> = {};
  let q = 1;
  for (const parameterText of parameterTexts) {
    const equals = parameterText.indexOf('=');
    if (equals < 0) continue;
    const name = parameterText.slice(0, equals).trim().toLowerCase();
    const value = unquote(parameterText.slice(equals + 1).trim());
    if (name === 'q') {
      const weight = parseWeight(value);
      // A weight that is no number makes the whole range meaningless: drop it rather than guess.
      if (weight === undefined) return undefined;
      q = weight;
      break; // anything after the weight is an accept-extension, not a media type parameter
    }
    if (TOKEN.test(name)) parameters[name] = value;
  }
  return { mediaType, q, parameters };
}

function essenceOf(mediaType: string): string {
  return (mediaType.split(';', 1)[0] ?? '').trim().toLowerCase();
}

/** Parses every Accept header of a request (Node joins repeated headers with commas; arrays are accepted too). */
export function parseAccept(headerValues: string | readonly string[] | undefined): AcceptedTypes {
  const values = headerValues === undefined ? [] : typeof headerValues === 'string' ? [headerValues] : headerValues;
  const elements = values
    .flatMap((value) => splitOutsideQuotes(value, ','))
    .map((element) => element.trim())
    .filter((element) => element !== '');
  const entries = elements.map(parseElement).filter((entry): entry is AcceptEntry => entry !== undefined);

  const hasSpecificTypes = entries.some((entry) => entry.q > 0 && !isWildcard(entry.mediaType));
  const hasWildcards = entries.some((entry) => entry.q > 0 && isWildcard(entry.mediaType));

  const qualityOf = (mediaType: string): number => {
    const wanted = essenceOf(mediaType);
    const named = entries.filter((entry) => entry.mediaType === wanted);
    // An explicit refusal wins over any other weight the same header gives the type.
    if (named.length === 0 || named.some((entry) => entry.q === 0)) return 0;
    return Math.max(...named.map((entry) => entry.q));
  };

  return {
    entries,
    isEmpty: elements.length === 0,
    hasSpecificTypes,
    onlyWildcards: hasWildcards && !hasSpecificTypes,
    accepts: (mediaType) => qualityOf(mediaType) > 0,
    qualityOf,
  };
}
