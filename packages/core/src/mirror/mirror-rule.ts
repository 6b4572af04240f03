/** Tag freshness when a mirror gives none: a tag pulled from the upstream is served from cache this long. */
export const DEFAULT_MIRROR_TAG_TTL_MS = 5 * 60_000;

/**
 * One upstream registry mirrored by berth (a pull-through cache). Repositories under `prefix/` come from
 * `url` with the prefix stripped (with prefix `hub`, `hub/library/alpine` is `library/alpine` upstream); `*` mirrors, as it is,
 * every repository that has no local content and is not under another rule's prefix.
 */
export interface MirrorRule {
  /** A repository name prefix (`hub`, `ghcr/acme`), or `*`. */
  prefix: string;
  /** The upstream's base URL (`https://registry-1.docker.io`); user-info, when present, gives the credentials. */
  url: string;
  /** Upstream user name (else the URL's user-info, else anonymous). */
  username?: string;
  /** Upstream password or token. */
  password?: string;
  /** How long a tag fetched from the upstream is served without asking it again, in milliseconds (default 5 minutes). */
  tagTtl?: number;
  /** Allow an `http://` upstream. Without it, only https upstreams are accepted. */
  plainHttp?: boolean;
}

/** A mirror rule with its defaults applied and its credentials out of the URL. */
export interface ResolvedMirrorRule {
  /** As in {@link MirrorRule}. */
  readonly prefix: string;
  /** The upstream's origin and path, without user-info or trailing slash. */
  readonly url: string;
  /** Credentials, when any were given. */
  readonly credentials: { readonly username: string; readonly password: string } | undefined;
  /** Tag freshness in milliseconds. */
  readonly tagTtl: number;
}

/** Where one repository comes from: the rule and the repository's name upstream. */
export interface MirrorTarget {
  /** The rule that serves the repository. */
  readonly rule: ResolvedMirrorRule;
  /** The repository's name at the upstream (the prefix stripped). */
  readonly upstreamName: string;
}

/** Checks a rule and moves the URL's user-info to credentials; throws a TypeError naming the problem. */
export function resolveMirrorRule(rule: MirrorRule): ResolvedMirrorRule {
  const prefix = rule.prefix.replace(/\/+$/, '');
  if (prefix !== '*' && !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(prefix)) {
    throw new TypeError(`mirror prefix ${JSON.stringify(rule.prefix)}: expected * or a repository name prefix such as hub or ghcr/acme`);
  }
  let url: URL;
  try {
    url = new URL(rule.url);
  } catch {
    throw new TypeError(`mirror ${prefix}: the upstream URL is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`mirror ${prefix}: the upstream URL must be http:// or https://`);
  if (url.protocol === 'http:' && rule.plainHttp !== true) {
    throw new TypeError(`mirror ${prefix}: ${url.host} over plain HTTP needs plainHttp: true`);
  }
  if (url.search !== '' || url.hash !== '') throw new TypeError(`mirror ${prefix}: the upstream URL takes no query or fragment`);
  const username = rule.username ?? decodeURIComponent(url.username);
  const password = rule.password ?? decodeURIComponent(url.password);
  url.username = '';
  url.password = '';
  const tagTtl = rule.tagTtl ?? DEFAULT_MIRROR_TAG_TTL_MS;
  if (!Number.isFinite(tagTtl) || tagTtl < 0) throw new TypeError(`mirror ${prefix}: tagTtl must be a duration of 0 or more`);
  return {
    prefix,
    url: url.toString().replace(/\/+$/, ''),
    credentials: username === '' && password === '' ? undefined : { username, password },
    tagTtl,
  };
}

/** Which mirror rule, if any, serves a repository. */
export class MirrorRules {
  readonly #prefixed: ResolvedMirrorRule[];
  readonly #catchAll: ResolvedMirrorRule | undefined;

  constructor(rules: readonly MirrorRule[]) {
    const resolved = rules.map(resolveMirrorRule);
    const prefixes = resolved.map((rule) => rule.prefix);
    const repeated = prefixes.find((prefix, index) => prefixes.indexOf(prefix) !== index);
    if (repeated !== undefined) throw new TypeError(`mirror prefix ${repeated} is configured twice`);
    // Longest prefix first: `ghcr/acme` wins over `ghcr` for `ghcr/acme/app`.
    this.#prefixed = resolved.filter((rule) => rule.prefix !== '*').sort((a, b) => b.prefix.length - a.prefix.length);
    this.#catchAll = resolved.find((rule) => rule.prefix === '*');
  }

  /** True when no mirror is configured. */
  get empty(): boolean {
    return this.#prefixed.length === 0 && this.#catchAll === undefined;
  }

  /** Every rule, prefixed ones first. */
  get rules(): readonly ResolvedMirrorRule[] {
    return this.#catchAll === undefined ? this.#prefixed : [...this.#prefixed, this.#catchAll];
  }

  /** The rule whose prefix the repository is under (never `*`). */
  prefixed(repository: string): MirrorTarget | undefined {
    const rule = this.#prefixed.find((candidate) => repository.startsWith(`${candidate.prefix}/`));
    return rule && { rule, upstreamName: repository.slice(rule.prefix.length + 1) };
  }

  /**
   * Where a repository comes from. A prefixed rule serves every name under its prefix; the `*` rule only
   * names under no prefix whose content is not local (`isLocal` says whether the repository holds pushed content).
   */
  async targetOf(repository: string, isLocal: () => Promise<boolean>): Promise<MirrorTarget | undefined> {
    const prefixed = this.prefixed(repository);
    if (prefixed) return prefixed;
    if (this.#catchAll === undefined || (await isLocal())) return undefined;
    return { rule: this.#catchAll, upstreamName: repository };
  }
}
