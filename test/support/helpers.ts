/** Test helpers: unique names per test, config for the local stack, polling with a deadline. */
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../../lib/config/load.js';
import type { FieldsyncConfig } from '../../lib/config/schema.js';
import { localStack } from './stack-env.js';

export const stack = localStack();

/** A short unique suffix: every test gets its own topics and tables. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

/** Poll until `probe` returns a value that is not undefined/false, or fail after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A config document pointing at the local stack; override sections per test. */
export function stackConfig(overrides: Record<string, unknown> = {}): FieldsyncConfig {
  return parseConfig({
    kafka: { brokers: stack.kafkaBrokers, topicPrefix: uniqueName('t'), partitions: 3 },
    registry: { url: stack.registryUrl },
    databases: {
      pg: { dialect: 'postgres', url: stack.pgUrl() },
      maria: { dialect: 'mysql', url: stack.mysqlUrl() },
    },
    http: { host: '127.0.0.1', port: 0 },
    ...overrides,
  }, 'test-config');
}
