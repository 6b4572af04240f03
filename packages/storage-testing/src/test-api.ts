/**
 * The few functions of a test runner the suites need. vitest, jest, mocha and node:test all have
 * them under these names, so a suite is registered by passing the runner's own:
 * `metadataStoreContract({ describe, it, beforeEach, afterEach }, factory)`.
 * Assertions use node:assert, which every runner reports as a failure, so no `expect` is needed.
 */
export interface TestApi {
  /** Groups tests under a name. */
  describe(name: string, body: () => void): unknown;
  /** Registers one asynchronous test. */
  it(name: string, body: () => Promise<void>): unknown;
  /** Registers a hook run before each test of the current group. */
  beforeEach(hook: () => Promise<void>): unknown;
  /** Registers a hook run after each test of the current group. */
  afterEach(hook: () => Promise<void>): unknown;
}

/**
 * Fails a test whose group needs something the factory did not give. Groups are switched off by
 * naming them in `skip`, never by leaving a capability out, so a forgotten one cannot pass unnoticed.
 */
export function required<T>(value: T | undefined, what: string, group: string): T {
  if (value === undefined) {
    throw new Error(`the factory gave no ${what}: provide it, or skip the '${group}' group if the store cannot have it`);
  }
  return value;
}
