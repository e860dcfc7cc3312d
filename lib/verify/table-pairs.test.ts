import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.js';
import { resolveTablePairs } from './table-pairs.js';

const base = {
  kafka: { brokers: ['k:9092'] },
  registry: { url: 'http://r:8080/apis/ccompat/v7' },
  databases: {
    billing: { dialect: 'postgres', url: 'postgres://b/db' },
    invoice: { dialect: 'mysql', url: 'mysql://i/db' },
    rebuilt: { dialect: 'postgres', url: 'postgres://r/db' },
  },
};

describe('verify table pairs', () => {
  const cfg = parseConfig({
    ...base,
    applier: [
      { target: 'invoice', tables: [{ from: 'billing.public.clients', into: 'clients' }, { from: 'billing.sales.orders' }] },
      { target: 'rebuilt', tables: [{ from: 'billing.public.clients', into: 'crm.clients' }] },
    ],
  });

  it('takes the tables the target\'s applier merges from the source', () => {
    expect(resolveTablePairs(cfg, 'billing', 'invoice')).toEqual([
      { source: { schema: 'public', name: 'clients' }, target: { schema: '', name: 'clients' } },
      { source: { schema: 'sales', name: 'orders' }, target: { schema: '', name: 'orders' } },
    ]);
  });

  it('pairs two targets fed from the same topics (a live target and a rebuilt one)', () => {
    expect(resolveTablePairs(cfg, 'invoice', 'rebuilt')).toEqual([
      { source: { schema: '', name: 'clients' }, target: { schema: 'crm', name: 'clients' } },
    ]);
  });

  it('narrows with --table and accepts an explicit source=target pair', () => {
    expect(resolveTablePairs(cfg, 'billing', 'invoice', ['orders'])).toEqual([
      { source: { schema: 'sales', name: 'orders' }, target: { schema: '', name: 'orders' } },
    ]);
    expect(resolveTablePairs(cfg, 'billing', 'rebuilt', ['public.x=other.y'])).toEqual([
      { source: { schema: 'public', name: 'x' }, target: { schema: 'other', name: 'y' } },
    ]);
  });

  it('falls back to reconcile jobs and names what is missing', () => {
    const rc = parseConfig({ ...base, reconciler: { jobs: [{ source: 'billing', table: 'public.clients', target: 'invoice', into: 'clients' }] } });
    expect(resolveTablePairs(rc, 'billing', 'invoice')).toEqual([{ source: { schema: 'public', name: 'clients' }, target: { schema: '', name: 'clients' } }]);
    expect(() => resolveTablePairs(rc, 'billing', 'rebuilt')).toThrow(/no tables to compare between "billing" and "rebuilt".*--table/);
    expect(() => resolveTablePairs(rc, 'billing', 'nope')).toThrow(/unknown database "nope"/);
  });
});
