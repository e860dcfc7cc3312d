import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { parseConfig, redact } from './load.js';

const base = () => ({
  kafka: { brokers: ['127.0.0.1:9092'] },
  registry: { url: 'http://127.0.0.1:8081/apis/ccompat/v7' },
  databases: { billing: { dialect: 'postgres', url: 'postgres://app:${PGPASS}@db/billing' }, invoice: { dialect: 'mysql', url: 'mysql://root@db/invoice' } },
  capture: [{ source: 'billing', mode: 'outbox', tables: [{ name: 'public.clients' }] }],
  applier: [{ target: 'invoice', tables: [{ from: 'billing.public.clients', into: 'clients' }] }],
});
const env = { PGPASS: 's3cret' };

function errorOf(fn: () => unknown): string {
  try { fn(); } catch (e) { expect(e).toBeInstanceOf(ConfigError); return (e as Error).message; }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('applies defaults and substitutes environment variables', () => {
    const cfg = parseConfig(base(), 'f.yaml', env);
    expect(cfg.kafka.topicPrefix).toBe('fieldsync');
    expect(cfg.capture[0]?.pollIntervalMs).toBe(50);
    expect(cfg.applier[0]?.breaker.resetTimeoutMs).toBe(5000);
    expect(cfg.databases.billing?.url).toBe('postgres://app:s3cret@db/billing');
  });

  it('names the file and field path of an unknown key', () => {
    const doc = base() as Record<string, unknown>;
    (doc.capture as Record<string, unknown>[])[0]!.pollIntervalMS = 5;
    expect(errorOf(() => parseConfig(doc, 'deploy/x.yaml', env))).toMatch(/deploy\/x\.yaml: capture\[0\]: unknown key\(s\) "pollIntervalMS"/);
  });

  it('names the field path of a wrong type and a missing field', () => {
    const doc = base() as Record<string, unknown>;
    (doc.kafka as Record<string, unknown>).partitions = 'three';
    delete (doc.registry as Record<string, unknown>).url;
    const msg = errorOf(() => parseConfig(doc, 'c.yaml', env));
    expect(msg).toMatch(/c\.yaml: kafka\.partitions: .*number/i);
    expect(msg).toMatch(/c\.yaml: registry\.url: /);
  });

  it('names a missing environment variable and the field that needs it', () => {
    expect(errorOf(() => parseConfig(base(), 'c.yaml', {}))).toMatch(/c\.yaml: databases\.billing\.url: environment variable PGPASS is not set/);
  });

  it('rejects references to unknown databases', () => {
    const doc = base();
    doc.applier[0]!.target = 'nope';
    expect(errorOf(() => parseConfig(doc, 'c.yaml', env))).toMatch(/applier\[0\]\.target: unknown database "nope"/);
  });

  it('redacts secrets', () => {
    const r = redact(parseConfig(base(), 'c.yaml', env));
    expect(r.databases.billing?.url).toBe('postgres://app:***@db/billing');
    expect(JSON.stringify(r)).not.toContain('s3cret');
  });
});
