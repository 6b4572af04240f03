// A JSON writer with the knobs real image builders differ on (indentation, separators, key
// order, which characters are escaped and how), so a test can hand a registry the same config
// in many byte forms. Distribution converts schema2 to schema1 from the raw config bytes, so
// these differences reach the converted manifest and its digest.

/** A JSON token written verbatim, e.g. a number as `1.50` or `1E+3` that JS would normalise. */
export class RawJson {
  constructor(readonly text: string) {}
}

export type JsonValue = string | number | boolean | null | RawJson | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export interface JsonStyle {
  /** For test names and failure messages. */
  readonly name: string;
  /** '' writes everything on one line. */
  readonly indent: string;
  readonly newline: '\n' | '\r\n';
  /** Between a key and its value, e.g. ':' or ': '. */
  readonly colon: string;
  /** Between members on one line, e.g. ',' or ', ' (indented output always uses ','). */
  readonly comma: string;
  /** Object members in the order built, sorted, reversed, or shuffled with `shuffle`. */
  readonly keyOrder: 'as-built' | 'sorted' | 'reversed' | 'shuffled';
  /** `<`, `>`, `&`, U+2028 and U+2029 as \u escapes, as Go's encoding/json writes them. */
  readonly escapeHtml: boolean;
  /** Every non-ASCII character as \u escapes (UTF-16 units), as Python's json.dumps writes them. */
  readonly asciiOnly: boolean;
  /** `/` as `\/`, as PHP's json_encode writes it. */
  readonly escapeSlash: boolean;
  /** `\b` and `\f` rather than `\u0008` and `\u000c`. */
  readonly shortControlEscapes: boolean;
  readonly upperCaseHex: boolean;
  readonly leadingWhitespace: string;
  readonly trailingWhitespace: string;
}

export const COMPACT_STYLE: JsonStyle = {
  name: 'compact',
  indent: '',
  newline: '\n',
  colon: ':',
  comma: ',',
  keyOrder: 'as-built',
  escapeHtml: false,
  asciiOnly: false,
  escapeSlash: false,
  shortControlEscapes: true,
  upperCaseHex: false,
  leadingWhitespace: '',
  trailingWhitespace: '',
};

/** Serialises `value` in `style`; `random` drives the 'shuffled' key order. */
export function writeJson(value: JsonValue, style: JsonStyle, random: () => number = Math.random): string {
  const out: string[] = [style.leadingWhitespace];
  write(value, 0);
  out.push(style.trailingWhitespace);
  return out.join('');

  function write(node: JsonValue, depth: number): void {
    if (node === null) out.push('null');
    else if (typeof node === 'boolean') out.push(node ? 'true' : 'false');
    else if (typeof node === 'number') out.push(JSON.stringify(node));
    else if (typeof node === 'string') out.push(quote(node, style));
    else if (node instanceof RawJson) out.push(node.text);
    else if (Array.isArray(node)) writeMembers((node as readonly JsonValue[]).map((item) => [undefined, item]), '[', ']', depth);
    else writeMembers(orderKeys(Object.entries(node as { [key: string]: JsonValue })), '{', '}', depth);
  }

  function writeMembers(members: [string | undefined, JsonValue][], open: string, close: string, depth: number): void {
    out.push(open);
    if (members.length === 0) {
      out.push(close);
      return;
    }
    const pretty = style.indent !== '';
    members.forEach(([key, item], i) => {
      if (i > 0) out.push(pretty ? ',' : style.comma);
      if (pretty) out.push(style.newline, style.indent.repeat(depth + 1));
      if (key !== undefined) out.push(quote(key, style), style.colon);
      write(item, depth + 1);
    });
    if (pretty) out.push(style.newline, style.indent.repeat(depth));
    out.push(close);
  }

  function orderKeys(entries: [string, JsonValue][]): [string, JsonValue][] {
    switch (style.keyOrder) {
      case 'as-built':
        return entries;
      case 'sorted':
        return [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      case 'reversed':
        return [...entries].reverse();
      case 'shuffled': {
        const shuffled = [...entries];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        return shuffled;
      }
    }
  }
}

function quote(text: string, style: JsonStyle): string {
  const hex = (unit: number) => {
    const digits = unit.toString(16).padStart(4, '0');
    return `\\u${style.upperCaseHex ? digits.toUpperCase() : digits}`;
  };
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const char = text[i]!;
    if (char === '"') out += '\\"';
    else if (char === '\\') out += '\\\\';
    else if (char === '/' && style.escapeSlash) out += '\\/';
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (char === '\b' && style.shortControlEscapes) out += '\\b';
    else if (char === '\f' && style.shortControlEscapes) out += '\\f';
    else if (unit < 0x20) out += hex(unit);
    else if (style.escapeHtml && (char === '<' || char === '>' || char === '&' || unit === 0x2028 || unit === 0x2029)) out += hex(unit);
    else if (unit >= 0xd800 && unit <= 0xdfff) {
      // A well-formed pair is written raw unless asciiOnly; a lone surrogate has no UTF-8 form.
      const next = text.charCodeAt(i + 1);
      const paired = unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff;
      if (paired && !style.asciiOnly) {
        out += text.slice(i, i + 2);
        i++;
      } else if (paired) {
        out += hex(unit) + hex(next);
        i++;
      } else {
        out += hex(unit);
      }
    } else if (unit > 0x7f && style.asciiOnly) out += hex(unit);
    else out += char;
  }
  return `${out}"`;
}
