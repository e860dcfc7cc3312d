import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { consumerIdentity } from './routes.js';

describe('consumerIdentity', () => {
  const doc = (applier: Record<string, unknown>) => parseConfig({
    kafka: { brokers: ['127.0.0.1:9092'] },
    registry: { url: 'http://127.0.0.1:8081' },
    databases: { billing: { dialect: 'postgres', url: 'postgres://u@h/db' }, invoice: { dialect: 'mysql', url: 'mysql://u@h/db' } },
    applier: [{ target: 'invoice', tables: [{ from: 'billing.public.clients' }], ...applier }],
  }, 'test');

  it('is fieldsync-applier-<target> by default: the consumer group and the key of the offsets stored in the target', () => {
    expect(consumerIdentity(doc({}).applier[0]!)).toBe('fieldsync-applier-invoice');
  });

  it('is the configured groupId when there is one', () => {
    expect(consumerIdentity(doc({ groupId: 'invoice-blue' }).applier[0]!)).toBe('invoice-blue');
  });
});
