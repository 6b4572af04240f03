import { createHash, createHmac, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { RESERVED_USER_NAMES } from '@berth/core/internal';
import { AuthConfigError } from './config-error.js';
import { openWatchedFile, type WatchedFileOptions } from './watched-file.js';

/** An open htpasswd file: checks passwords against its bcrypt entries, re-read when the file changes. */
export interface Htpasswd {
  /** True when `password` is `user`'s. Unknown users cost as much as known ones (compared with a dummy hash of the file's highest cost). */
  verify(user: string, password: string): Promise<boolean>;
  /** A short opaque string that changes whenever the user's entry changes or is removed; undefined when there is no such user. */
  credentialVersion(user: string): Promise<string | undefined>;
  /** True when the user has an entry. */
  has(user: string): Promise<boolean>;
}

/** Options of {@link openHtpasswd}. */
export interface HtpasswdOptions extends WatchedFileOptions {
  /** How long a successful check is remembered (default 5 minutes). */
  cacheTtlMs?: number;
}

/** Remembered successes; a push makes dozens of requests and each bcrypt compare takes tens of milliseconds. */
const CACHE_MAX_ENTRIES = 10_000;
/** The dummy hash's cost when the file has no users (nobody to be timed against then). */
const DEFAULT_COST = 10;

interface HtpasswdEntries {
  hashes: ReadonlyMap<string, string>;
  highestCost: number;
}

/**
 * Opens an Apache htpasswd file of bcrypt entries (`htpasswd -B`), as distribution's htpasswd auth
 * reads it. The file is re-read when it changes; see `WatchedFileOptions` for how.
 */
export async function openHtpasswd(path: string, options: HtpasswdOptions = {}): Promise<Htpasswd> {
  const file = await openWatchedFile(path, parseHtpasswd, options);
  const cacheTtlMs = options.cacheTtlMs ?? 5 * 60_000;
  // Keys are HMACs under a per-process secret, so the cache never holds anything a password can be guessed from.
  const cacheSecret = randomBytes(32);
  const successes = new Map<string, number>(); // key -> expiry; insertion order = oldest first
  let observed = await file.current();
  let dummy: { cost: number; hash: Promise<string> } | undefined;

  const entries = async () => {
    const current = await file.current();
    if (current !== observed) {
      observed = current;
      successes.clear(); // a changed or removed password must stop working at once
    }
    return current;
  };
  const dummyHash = (cost: number) => {
    if (dummy?.cost !== cost) dummy = { cost, hash: bcrypt.hash(randomBytes(16).toString('base64'), cost) };
    return dummy.hash;
  };

  return {
    async verify(user, password) {
      const current = await entries();
      const hash = current.hashes.get(user);
      if (hash === undefined) {
        await bcrypt.compare(password, await dummyHash(current.highestCost));
        return false;
      }
      // Unambiguous: names in the file hold no control characters, and only names in the file get here.
      const key = createHmac('sha256', cacheSecret).update(`${user}\0${password}`).digest('base64url');
      const expiry = successes.get(key);
      if (expiry !== undefined) {
        if (expiry > Date.now()) return true;
        successes.delete(key);
      }
      const matches = await bcrypt.compare(password, hash);
      // Not when the file was reloaded meanwhile: the success was against a hash that may be gone.
      if (matches && current === observed) {
        if (successes.size >= CACHE_MAX_ENTRIES) successes.delete(successes.keys().next().value!);
        successes.set(key, Date.now() + cacheTtlMs);
      }
      return matches;
    },
    async credentialVersion(user) {
      const hash = (await entries()).hashes.get(user);
      if (hash === undefined) return undefined;
      // A digest of the hash, never the hash: versions end up inside tokens.
      return createHash('sha256').update(hash).digest('base64url').slice(0, 16);
    },
    async has(user) {
      return (await entries()).hashes.has(user);
    },
  };
}

const BCRYPT_HASH = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const USER_NAME = /^[^\s:\p{Cc}]+$/u;

/** Parses htpasswd text; `source` names the file in errors. Errors name the line and never quote a hash. */
function parseHtpasswd(text: string, source: string): HtpasswdEntries {
  const hashes = new Map<string, string>();
  const definedOn = new Map<string, number>();
  let highestCost = 0;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim(); // also drops the CR of CRLF files
    const at = `${source} line ${index + 1}`;
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon < 0) throw new AuthConfigError(`${at}: expected "name:hash"`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!USER_NAME.test(user)) throw new AuthConfigError(`${at}: invalid user name ${JSON.stringify(user)}`);
    if (RESERVED_USER_NAMES.includes(user)) {
      const meaning = user === '*' ? 'any signed-in user' : 'callers without credentials';
      throw new AuthConfigError(`${at}: "${user}" is a reserved name (access rules use it for ${meaning})`);
    }
    const previous = definedOn.get(user);
    if (previous !== undefined) {
      throw new AuthConfigError(`${at}: "${user}" is already defined on line ${previous}`);
    }
    const bcryptHash = BCRYPT_HASH.exec(hash);
    if (!bcryptHash) {
      if (/^\$2[aby]\$/.test(hash)) throw new AuthConfigError(`${at}: "${user}" has a malformed bcrypt hash`);
      const kind = hashKind(hash);
      throw new AuthConfigError(`${at}: "${user}" uses an unsupported hash (${kind}); use bcrypt (htpasswd -B)`);
    }
    const cost = Number(bcryptHash[1]);
    if (cost < 4 || cost > 31) {
      throw new AuthConfigError(`${at}: "${user}" has a bcrypt cost of ${cost} (expected 4 to 31)`);
    }
    highestCost = Math.max(highestCost, cost);
    hashes.set(user, hash);
    definedOn.set(user, index + 1);
  });
  return { hashes, highestCost: highestCost || DEFAULT_COST };
}

/** Names what `htpasswd` made without quoting the hash (a plain-text "hash" is the password itself). */
function hashKind(hash: string): string {
  if (hash.startsWith('$apr1$')) return '$apr1$, MD5';
  if (hash.startsWith('{SHA}')) return '{SHA}, SHA-1';
  if (hash.startsWith('$1$')) return '$1$, MD5-crypt';
  if (hash.startsWith('$5$')) return '$5$, SHA-256-crypt';
  if (hash.startsWith('$6$')) return '$6$, SHA-512-crypt';
  if (/^[./0-9A-Za-z]{13}$/.test(hash)) return 'crypt, DES';
  return 'plain text or unknown';
}
