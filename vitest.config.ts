import { defineConfig } from 'vitest/config';

// One root config: every project inherits the `@berth/source` condition so tests run from
// TypeScript sources on a fresh clone, without a build.
const projects = [
  'packages/core',
  'packages/blobs-fs',
  'packages/blobs-s3',
  'packages/storage-sql',
  'packages/storage-sqlite',
  'packages/storage-postgres',
  'packages/storage-testing',
  'packages/registry',
  'packages/auth',
  'packages/ui',
  'packages/koa',
  'examples/standalone',
  'examples/koa-app',
  'examples/memory-adapter',
];

export default defineConfig({
  ssr: { resolve: { conditions: ['@berth/source'] } },
  test: {
    projects: [
      ...projects.map((root) => ({
        extends: true as const,
        // 20 s, not vitest's 5: the full run shares two cores with real servers, and a slow test is not a failing one.
        test: { name: root.split('/')[1]!, root, include: ['test/**/*.test.ts'], testTimeout: 20_000 },
      })),
      {
        extends: true as const,
        test: { name: 'interop', root: 'test', include: ['interop/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 },
      },
      {
        // The public API reports in api/ against the built declarations.
        extends: true as const,
        test: { name: 'api', root: 'test', include: ['api/**/*.test.ts'], testTimeout: 300_000, hookTimeout: 300_000 },
      },
      {
        // Crashes, full disks, overload and start-up failures, against the built standalone server.
        extends: true as const,
        test: { name: 'faults', root: 'test', include: ['faults/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 },
      },
    ],
  },
});
