/** An authentication challenge of an upstream registry (`WWW-Authenticate`). */
export type AuthChallenge =
  | { scheme: 'bearer'; realm: string; service?: string; scope?: string }
  | { scheme: 'basic'; realm?: string };

/**
 * The first Bearer or Basic challenge of a `WWW-Authenticate` header (Docker token specification:
 * `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`).
 * Undefined for a header with neither, or a Bearer challenge without a realm.
 */
export function parseAuthChallenge(header: string): AuthChallenge | undefined {
  for (const challenge of splitChallenges(header)) {
    const scheme = challenge.scheme.toLowerCase();
    if (scheme === 'bearer') {
      const realm = challenge.params.get('realm');
      if (realm === undefined) continue;
      const service = challenge.params.get('service');
      const scope = challenge.params.get('scope');
      return { scheme: 'bearer', realm, ...(service !== undefined && { service }), ...(scope !== undefined && { scope }) };
    }
    if (scheme === 'basic') {
      const realm = challenge.params.get('realm');
      return { scheme: 'basic', ...(realm !== undefined && { realm }) };
    }
  }
  return undefined;
}

interface RawChallenge {
  scheme: string;
  params: Map<string, string>;
}

/** RFC 9110 challenges: `scheme param=value, param="quoted, value"`, several separated by commas. */
function splitChallenges(header: string): RawChallenge[] {
  const challenges: RawChallenge[] = [];
  let position = 0;
  const skip = (pattern: RegExp) => {
    while (position < header.length && pattern.test(header[position]!)) position++;
  };
  const token = (): string => {
    const start = position;
    while (position < header.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[position]!)) position++;
    return header.slice(start, position);
  };
  while (position < header.length) {
    skip(/[\s,]/);
    const scheme = token();
    if (scheme === '') break;
    const params = new Map<string, string>();
    challenges.push({ scheme, params });
    for (;;) {
      skip(/[\s,]/);
      const mark = position;
      const name = token();
      skip(/\s/);
      if (name === '' || header[position] !== '=') {
        // The next challenge's scheme (or token68 credentials): start again from it.
        position = name === '' ? position : mark;
        break;
      }
      position++;
      skip(/\s/);
      params.set(name.toLowerCase(), header[position] === '"' ? quotedString() : bareValue());
    }
    if (position < header.length && !/[\s,A-Za-z]/.test(header[position]!)) position++;
  }
  return challenges;

  /** An unquoted value: strictly a token, but servers send URLs unquoted too, so up to the next comma or space. */
  function bareValue(): string {
    const start = position;
    while (position < header.length && !/[\s,]/.test(header[position]!)) position++;
    return header.slice(start, position);
  }

  function quotedString(): string {
    let value = '';
    position++;
    while (position < header.length && header[position] !== '"') {
      if (header[position] === '\\') position++;
      value += header[position] ?? '';
      position++;
    }
    position++;
    return value;
  }
}
