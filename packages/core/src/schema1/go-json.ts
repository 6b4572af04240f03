/**
 * The parts of Go's encoding/json (Go 1.19, which built distribution 2.8) that schema1 output depends on,
 * reproduced byte for byte: the syntax the scanner accepts, how strings are unquoted (invalid UTF-8 and
 * broken surrogates become U+FFFD), how strings are quoted (HTML-safe, `\u00XX` for control characters),
 * how raw JSON is compacted, and map key order (by UTF-8 bytes).
 */

export type GoJsonNode =
  | { kind: 'object'; start: number; end: number; members: GoJsonMember[] }
  | { kind: 'array'; start: number; end: number; items: GoJsonNode[] }
  | { kind: 'string'; start: number; end: number; value: string }
  | { kind: 'number' | 'true' | 'false' | 'null'; start: number; end: number };

/** An object member; `key` is the unquoted key as Go decodes it. */
export interface GoJsonMember {
  key: string;
  value: GoJsonNode;
}

type ObjectNode = Extract<GoJsonNode, { kind: 'object' }>;
type ArrayNode = Extract<GoJsonNode, { kind: 'array' }>;

/** Go's scanner refuses documents nested deeper than this. */
const MAX_NESTING_DEPTH = 10000;
const REPLACEMENT_CHARACTER = 0xfffd;
const HEX = '0123456789abcdef';

const utf8Encoder = new TextEncoder();

export function utf8Bytes(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/**
 * Decodes one rune as Go's utf8.DecodeRune does: any invalid or truncated sequence (overlong forms,
 * surrogates, values above U+10FFFF) yields U+FFFD with a size of 1, so each bad byte is one error.
 */
export function decodeGoRune(bytes: Uint8Array, index: number, end = bytes.length): { rune: number; size: number } {
  const b0 = bytes[index]!;
  if (b0 < 0x80) return { rune: b0, size: 1 };
  let size: number;
  let low = 0x80;
  let high = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) size = 2;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    size = 3;
    if (b0 === 0xe0) low = 0xa0;
    if (b0 === 0xed) high = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    size = 4;
    if (b0 === 0xf0) low = 0x90;
    if (b0 === 0xf4) high = 0x8f;
  } else return { rune: REPLACEMENT_CHARACTER, size: 1 };
  if (index + size > end) return { rune: REPLACEMENT_CHARACTER, size: 1 };
  const b1 = bytes[index + 1]!;
  if (b1 < low || b1 > high) return { rune: REPLACEMENT_CHARACTER, size: 1 };
  let rune = (b0 & (0xff >> (size + 1))) * 64 + (b1 & 0x3f);
  for (let k = 2; k < size; k++) {
    const bk = bytes[index + k]!;
    if (bk < 0x80 || bk > 0xbf) return { rune: REPLACEMENT_CHARACTER, size: 1 };
    rune = rune * 64 + (bk & 0x3f);
  }
  return { rune, size };
}

function fail(message: string, offset: number): never {
  throw new SyntaxError(`${message} at offset ${offset}`);
}

function isWhitespace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  return -1;
}

/** The value of `\uXXXX` at `index`, or -1 (Go's getu4). */
function readU4(bytes: Uint8Array, index: number, end: number): number {
  if (index + 6 > end || bytes[index] !== 0x5c || bytes[index + 1] !== 0x75) return -1;
  let value = 0;
  for (let k = 2; k < 6; k++) {
    const digit = hexValue(bytes[index + k]);
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

const SIMPLE_ESCAPES: Record<number, number> = {
  0x22: 0x22, // "
  0x5c: 0x5c, // \
  0x2f: 0x2f, // /
  0x62: 0x08, // b
  0x66: 0x0c, // f
  0x6e: 0x0a, // n
  0x72: 0x0d, // r
  0x74: 0x09, // t
};

function codePointsToString(codePoints: number[]): string {
  let text = '';
  for (let i = 0; i < codePoints.length; i += 4096) {
    text += String.fromCodePoint(...codePoints.slice(i, i + 4096));
  }
  return text;
}

/** Unquotes the string content between `start` and `end` (quotes excluded) as Go's unquote does. */
function unquote(bytes: Uint8Array, start: number, end: number): string {
  const codePoints: number[] = [];
  let i = start;
  while (i < end) {
    const c = bytes[i]!;
    if (c === 0x5c) {
      const next = bytes[i + 1]!;
      if (next !== 0x75) {
        codePoints.push(SIMPLE_ESCAPES[next]!);
        i += 2;
        continue;
      }
      let rune = readU4(bytes, i, end);
      i += 6;
      if (rune >= 0xd800 && rune < 0xe000) {
        const low = readU4(bytes, i, end);
        if (rune < 0xdc00 && low >= 0xdc00 && low < 0xe000) {
          codePoints.push(0x10000 + (rune - 0xd800) * 0x400 + (low - 0xdc00));
          i += 6;
          continue;
        }
        rune = REPLACEMENT_CHARACTER;
      }
      codePoints.push(rune);
    } else if (c < 0x80) {
      codePoints.push(c);
      i += 1;
    } else {
      const { rune, size } = decodeGoRune(bytes, i, end);
      codePoints.push(rune);
      i += size;
    }
  }
  return codePointsToString(codePoints);
}

/** Parses JSON bytes with exactly the syntax Go's scanner accepts, keeping each value's byte range. */
export function parseGoJson(bytes: Uint8Array): GoJsonNode {
  const length = bytes.length;
  let pos = 0;
  const skipWhitespace = (): void => {
    while (pos < length && isWhitespace(bytes[pos])) pos++;
  };

  const readString = (): Extract<GoJsonNode, { kind: 'string' }> => {
    const start = pos;
    pos++; // opening quote
    let simple = true;
    for (;;) {
      if (pos >= length) fail('unexpected end of JSON input in string', pos);
      const c = bytes[pos]!;
      if (c === 0x22) break;
      if (c < 0x20) fail('invalid control character in string', pos);
      if (c === 0x5c) {
        simple = false;
        const next = bytes[pos + 1];
        if (next === 0x75) {
          for (let k = 2; k < 6; k++) {
            if (hexValue(bytes[pos + k]) < 0) fail('invalid \\u escape in string', pos);
          }
          pos += 6;
        } else if (next !== undefined && SIMPLE_ESCAPES[next] !== undefined) {
          pos += 2;
        } else fail('invalid escape in string', pos);
        continue;
      }
      if (c >= 0x80) simple = false;
      pos++;
    }
    pos++; // closing quote
    const value = simple
      ? Buffer.from(bytes.buffer, bytes.byteOffset + start + 1, pos - start - 2).toString('latin1')
      : unquote(bytes, start + 1, pos - 1);
    return { kind: 'string', start, end: pos, value };
  };

  const readNumber = (): GoJsonNode => {
    const start = pos;
    if (bytes[pos] === 0x2d) pos++;
    if (bytes[pos] === 0x30) pos++;
    else if (isDigit(bytes[pos])) while (isDigit(bytes[pos])) pos++;
    else fail('invalid number', pos);
    if (bytes[pos] === 0x2e) {
      pos++;
      if (!isDigit(bytes[pos])) fail('invalid number fraction', pos);
      while (isDigit(bytes[pos])) pos++;
    }
    if (bytes[pos] === 0x65 || bytes[pos] === 0x45) {
      pos++;
      if (bytes[pos] === 0x2b || bytes[pos] === 0x2d) pos++;
      if (!isDigit(bytes[pos])) fail('invalid number exponent', pos);
      while (isDigit(bytes[pos])) pos++;
    }
    return { kind: 'number', start, end: pos };
  };

  const readLiteral = (word: 'true' | 'false' | 'null'): GoJsonNode => {
    const start = pos;
    for (let k = 0; k < word.length; k++) {
      if (bytes[pos + k] !== word.charCodeAt(k)) fail(`invalid literal, expected ${word}`, pos + k);
    }
    pos += word.length;
    return { kind: word, start, end: pos };
  };

  const readKey = (): string => {
    skipWhitespace();
    if (bytes[pos] !== 0x22) fail('expected object key', pos);
    const key = readString().value;
    skipWhitespace();
    if (bytes[pos] !== 0x3a) fail("expected ':' after object key", pos);
    pos++;
    return key;
  };

  // An explicit stack instead of recursion: Go allows 10000 levels, more than a JS call stack may.
  const stack: Array<{ node: ObjectNode | ArrayNode; key: string }> = [];
  for (;;) {
    skipWhitespace();
    if (pos >= length) fail('unexpected end of JSON input', pos);
    const c = bytes[pos]!;
    let value: GoJsonNode;
    if (c === 0x7b || c === 0x5b) {
      if (stack.length + 1 > MAX_NESTING_DEPTH) fail('exceeded max depth', pos);
      const start = pos;
      pos++;
      skipWhitespace();
      if (c === 0x7b) {
        const node: ObjectNode = { kind: 'object', start, end: -1, members: [] };
        if (bytes[pos] === 0x7d) {
          pos++;
          node.end = pos;
          value = node;
        } else {
          stack.push({ node, key: readKey() });
          continue;
        }
      } else {
        const node: ArrayNode = { kind: 'array', start, end: -1, items: [] };
        if (bytes[pos] === 0x5d) {
          pos++;
          node.end = pos;
          value = node;
        } else {
          stack.push({ node, key: '' });
          continue;
        }
      }
    } else if (c === 0x22) value = readString();
    else if (c === 0x2d || isDigit(c)) value = readNumber();
    else if (c === 0x74) value = readLiteral('true');
    else if (c === 0x66) value = readLiteral('false');
    else if (c === 0x6e) value = readLiteral('null');
    else fail(`invalid character '${String.fromCharCode(c)}' looking for beginning of value`, pos);

    // Attach the finished value to its container, closing every container that ends here.
    for (;;) {
      const top = stack[stack.length - 1];
      if (top === undefined) {
        skipWhitespace();
        if (pos !== length) fail('invalid character after top-level value', pos);
        return value;
      }
      if (top.node.kind === 'object') top.node.members.push({ key: top.key, value });
      else top.node.items.push(value);
      skipWhitespace();
      const next = bytes[pos];
      if (next === 0x2c) {
        pos++;
        if (top.node.kind === 'object') top.key = readKey();
        break;
      }
      if (next === (top.node.kind === 'object' ? 0x7d : 0x5d)) {
        pos++;
        top.node.end = pos;
        stack.pop();
        value = top.node;
        continue;
      }
      fail(`invalid character after ${top.node.kind} element`, pos);
    }
  }
}

class ByteBuilder {
  private chunks: number[] = [];
  byte(value: number): this {
    this.chunks.push(value);
    return this;
  }
  bytes(values: Uint8Array): this {
    for (const value of values) this.chunks.push(value);
    return this;
  }
  ascii(text: string): this {
    for (let i = 0; i < text.length; i++) this.chunks.push(text.charCodeAt(i));
    return this;
  }
  toBytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

function escapeByte(out: ByteBuilder, byte: number): void {
  out.ascii(`\\u00${HEX[byte >> 4]}${HEX[byte & 0xf]}`);
}

/**
 * Quotes a byte string as Go's json.Marshal does with HTML escaping on: `<`, `>`, `&`, U+2028 and
 * U+2029 are escaped, control characters other than \n \r \t become `\u00XX` (Go 1.19 has no \b \f
 * short forms), and each invalid UTF-8 byte becomes the six characters `\ufffd`.
 */
export function quoteGoBytes(bytes: Uint8Array): Uint8Array {
  const out = new ByteBuilder().byte(0x22);
  appendQuoted(out, bytes);
  return out.byte(0x22).toBytes();
}

function appendQuoted(out: ByteBuilder, bytes: Uint8Array): void {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      if (b === 0x22 || b === 0x5c) out.byte(0x5c).byte(b);
      else if (b === 0x0a) out.ascii('\\n');
      else if (b === 0x0d) out.ascii('\\r');
      else if (b === 0x09) out.ascii('\\t');
      else if (b < 0x20 || b === 0x3c || b === 0x3e || b === 0x26) escapeByte(out, b);
      else out.byte(b);
      i += 1;
      continue;
    }
    const { rune, size } = decodeGoRune(bytes, i);
    if (rune === REPLACEMENT_CHARACTER && size === 1) out.ascii('\\ufffd');
    else if (rune === 0x2028 || rune === 0x2029) out.ascii(`\\u${rune.toString(16)}`);
    else out.bytes(bytes.subarray(i, i + size));
    i += size;
  }
}

/** Quotes a JS string the way Go's json.Marshal quotes a Go string. */
export function quoteGoString(text: string): Uint8Array {
  return quoteGoBytes(utf8Bytes(text));
}

/**
 * Compacts raw JSON as Go does when it re-emits a json.RawMessage: whitespace outside strings goes,
 * `<`, `>`, `&`, U+2028 and U+2029 are escaped, every other byte (escapes, raw UTF-8) is kept.
 */
export function compactGoJson(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array {
  const out = new ByteBuilder();
  let inString = false;
  let escaped = false;
  for (let i = start; i < end; i++) {
    const c = bytes[i]!;
    if (!inString) {
      if (isWhitespace(c)) continue;
      if (c === 0x22) inString = true;
      out.byte(c);
      continue;
    }
    if (escaped) {
      escaped = false;
      out.byte(c);
    } else if (c === 0x5c) {
      escaped = true;
      out.byte(c);
    } else if (c === 0x22) {
      inString = false;
      out.byte(c);
    } else if (c === 0x3c || c === 0x3e || c === 0x26) {
      escapeByte(out, c);
    } else if (c === 0xe2 && i + 2 < end && bytes[i + 1] === 0x80 && (bytes[i + 2]! & ~1) === 0xa8) {
      out.ascii(`\\u202${HEX[bytes[i + 2]! & 0xf]}`);
      i += 2;
    } else {
      out.byte(c);
    }
  }
  return out.toBytes();
}

/** Go sorts map keys as strings, which compares their UTF-8 bytes (not UTF-16 code units as JS does). */
export function compareGoKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Writes a JSON object with the given members in the given order; each value is already-encoded bytes.
 * Go's json.Marshal writes structs and maps like this (compact, keys quoted HTML-safe).
 */
export function goObjectBytes(members: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  const out = new ByteBuilder().byte(0x7b);
  members.forEach(([key, value], index) => {
    if (index > 0) out.byte(0x2c);
    out.bytes(quoteGoString(key)).byte(0x3a).bytes(value);
  });
  return out.byte(0x7d).toBytes();
}

/** A JSON value as Go decodes it into `interface{}` (schema1 signing keys keep extra JWK fields as these). */
export type GoValue = null | boolean | number | string | GoValue[] | { [key: string]: GoValue };

/** json.Marshal of a decoded interface{} value: maps sorted by key, strings HTML-safe, compact. */
export function marshalGoValue(value: GoValue): Uint8Array {
  if (value === null) return utf8Bytes('null');
  if (typeof value === 'boolean' || typeof value === 'number') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('unsupported value');
    return utf8Bytes(JSON.stringify(value));
  }
  if (typeof value === 'string') return quoteGoString(value);
  if (Array.isArray(value)) {
    const out = new ByteBuilder().byte(0x5b);
    value.forEach((item, index) => {
      if (index > 0) out.byte(0x2c);
      out.bytes(marshalGoValue(item));
    });
    return out.byte(0x5d).toBytes();
  }
  const keys = Object.keys(value).sort(compareGoKeys);
  return goObjectBytes(keys.map((key) => [key, marshalGoValue(value[key]!)] as const));
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const result = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}

/**
 * Re-indents compact JSON as Go's json.Indent (and so MarshalIndent) does: every line after the first
 * starts with `prefix` plus one `indent` per level, `": "` after keys, empty `{}` and `[]` kept inline.
 */
export function indentGoJson(compact: Uint8Array, prefix: string, indent: string): Uint8Array {
  const out = new ByteBuilder();
  let depth = 0;
  let needIndent = false;
  let inString = false;
  let escaped = false;
  const newline = (): void => {
    out.byte(0x0a).ascii(prefix);
    for (let level = 0; level < depth; level++) out.ascii(indent);
  };
  for (const c of compact) {
    if (inString) {
      out.byte(c);
      if (escaped) escaped = false;
      else if (c === 0x5c) escaped = true;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (isWhitespace(c)) continue;
    if (needIndent && c !== 0x5d && c !== 0x7d) {
      needIndent = false;
      depth++;
      newline();
    }
    if (c === 0x22) {
      inString = true;
      out.byte(c);
    } else if (c === 0x7b || c === 0x5b) {
      needIndent = true;
      out.byte(c);
    } else if (c === 0x2c) {
      out.byte(c);
      newline();
    } else if (c === 0x3a) {
      out.byte(c).byte(0x20);
    } else if (c === 0x7d || c === 0x5d) {
      if (needIndent) needIndent = false;
      else {
        depth--;
        newline();
      }
      out.byte(c);
    } else {
      out.byte(c);
    }
  }
  return out.toBytes();
}

/** Writes a JSON array of already-encoded values, compact. */
export function goArrayBytes(items: readonly Uint8Array[]): Uint8Array {
  const out = new ByteBuilder().byte(0x5b);
  items.forEach((item, index) => {
    if (index > 0) out.byte(0x2c);
    out.bytes(item);
  });
  return out.byte(0x5d).toBytes();
}
