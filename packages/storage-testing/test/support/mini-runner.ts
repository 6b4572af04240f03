import type { TestApi } from '../../src/index.js';

interface Suite {
  name: string;
  beforeEach: Array<() => Promise<void>>;
  afterEach: Array<() => Promise<void>>;
  tests: Array<{ name: string; body: () => Promise<void> }>;
  suites: Suite[];
}

export interface TestOutcome {
  /** Suite names and the test name, joined with ' > '. */
  name: string;
  error?: unknown;
}

/**
 * The smallest test runner that fits TestApi: it records suites, then runs every test with its
 * hooks, outermost beforeEach first and innermost afterEach first, one test at a time. It stands
 * for "any runner" in the tests that check the suites do not lean on vitest.
 */
export function miniRunner(): { api: TestApi; run(): Promise<TestOutcome[]> } {
  const root: Suite = { name: '', beforeEach: [], afterEach: [], tests: [], suites: [] };
  let current = root;
  const api: TestApi = {
    describe(name, body) {
      const suite: Suite = { name, beforeEach: [], afterEach: [], tests: [], suites: [] };
      current.suites.push(suite);
      const parent = current;
      current = suite;
      body();
      current = parent;
    },
    it(name, body) {
      current.tests.push({ name, body });
    },
    beforeEach(hook) {
      current.beforeEach.push(hook);
    },
    afterEach(hook) {
      current.afterEach.push(hook);
    },
  };

  async function runSuite(suite: Suite, path: Suite[], outcomes: TestOutcome[]): Promise<void> {
    const chain = [...path, suite];
    for (const test of suite.tests) {
      const name = [...chain.map((entry) => entry.name).filter(Boolean), test.name].join(' > ');
      let error: unknown;
      const ran: Suite[] = [];
      try {
        for (const entry of chain) {
          ran.push(entry);
          for (const hook of entry.beforeEach) await hook();
        }
        await test.body();
      } catch (caught) {
        error = caught;
      }
      for (const entry of ran.reverse()) {
        for (const hook of entry.afterEach) {
          try {
            await hook();
          } catch (caught) {
            error ??= caught;
          }
        }
      }
      outcomes.push(error === undefined ? { name } : { name, error });
    }
    for (const child of suite.suites) await runSuite(child, chain, outcomes);
  }

  return {
    api,
    async run() {
      const outcomes: TestOutcome[] = [];
      await runSuite(root, [], outcomes);
      return outcomes;
    },
  };
}
