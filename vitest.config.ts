import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests (pure logic) and integration tests against the real
// local stack (Kafka, Apicurio, PostgreSQL, MariaDB) that `npm test` brings up first.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['lib/**/*.test.ts', 'services/**/*.test.ts', 'cli/**/*.test.ts', 'test/unit/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**', '.scratch/**', '.bench-build/**'],
          testTimeout: 30_000,
          // unit tests run first, then the integration tests (each group with its own workers)
          sequence: { groupOrder: 0 },
          // pure-logic tests: keep the library's info logs out of the report
          env: { FIELDSYNC_LOG_LEVEL: 'warn' },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts'],
          // .scratch/ is git-ignored scratch space (a clone for a CI rehearsal may sit there)
          exclude: ['**/node_modules/**', '.scratch/**', '.bench-build/**'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          // Tests share one broker and two database servers; each uses its own topics and
          // tables, but two cores cannot run many real pipelines at once.
          fileParallelism: true,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
