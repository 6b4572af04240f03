/**
 * Slows password guessing: after `maxFailures` failed sign-ins for one account from one address within
 * `windowMs`, that pair is refused until the oldest of those failures leaves the window. Keyed by the
 * pair so an attacker elsewhere cannot lock a user out, and bounded so a flood of addresses cannot
 * exhaust memory.
 */
export interface SignInLimiter {
  /** Seconds to wait (an integer, at least 1) when the pair is blocked; undefined when it may try. */
  retryAfter(account: string, address: string): number | undefined;
  /** Counts a failed sign-in of the account from the address. */
  failed(account: string, address: string): void;
  /** Forgets the pair's failures. */
  succeeded(account: string, address: string): void;
}

/** Options of {@link createSignInLimiter}. */
export interface SignInLimiterOptions {
  /** Failures within the window that block (default 10). */
  maxFailures?: number;
  /** Default 60 seconds. */
  windowMs?: number;
  /** Pairs remembered; the least recently failed go first (default 10,000). */
  maxEntries?: number;
  /** Milliseconds, for tests (default `Date.now`). */
  now?: () => number;
}

/** Creates a limiter of failed sign-ins per account and client address (10 a minute by default), shared by the basic-auth hook and the token service. */
export function createSignInLimiter(options: SignInLimiterOptions = {}): SignInLimiter {
  const maxFailures = options.maxFailures ?? 10;
  const windowMs = options.windowMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  // pair -> times of its latest failures (at most maxFailures, oldest first); Map order = least recently failed first
  const failures = new Map<string, number[]>();
  const keyOf = (account: string, address: string) => JSON.stringify([account, address]); // unambiguous

  /** The pair's failures still inside the window (the entry goes when none is). */
  const recent = (key: string, at: number) => {
    const times = failures.get(key)?.filter((time) => time + windowMs > at) ?? [];
    if (times.length === 0) failures.delete(key);
    return times;
  };

  return {
    retryAfter(account, address) {
      const at = now();
      const times = recent(keyOf(account, address), at);
      if (times.length < maxFailures) return undefined;
      return Math.max(1, Math.ceil((times[0]! + windowMs - at) / 1000));
    },
    failed(account, address) {
      const at = now();
      const key = keyOf(account, address);
      const times = [...recent(key, at), at].slice(-maxFailures);
      failures.delete(key); // re-inserted at the end: the most recently failed
      while (failures.size >= maxEntries) failures.delete(failures.keys().next().value!);
      failures.set(key, times);
    },
    succeeded(account, address) {
      failures.delete(keyOf(account, address));
    },
  };
}
