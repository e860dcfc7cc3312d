import { describe, expect, it } from 'vitest';
import type { TableSchema } from '../types.js';
import { decodeOutboxRow, outboxRowFromDb, type OutboxRow } from './outbox-events.js';

const table: TableSchema = {
  schema: 'public', name: 'clients', key: ['id'],
  columns: [
    { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
    { name: 'email', type: { kind: 'string' }, nullable: true },
    { name: 'balance', type: { kind: 'decimal', precision: 12, scale: 2 }, nullable: true },
  ],
};
const row = (r: Partial<OutboxRow>): OutboxRow => ({ seq: 7n, tableSchema: 'public', tableName: 'clients', op: 'I', changed: null, oldRow: null, newRow: null, origin: 'billing', commitMicros: 1_700_000_000_000_001n, ...r });

describe('outbox row → change events', () => {
  it('insert: the whole row, every column changed', () => {
    const { changes } = decodeOutboxRow(row({ newRow: '{"id":1,"email":"a@b","balance":10.50}' }), table, 'billing', 'postgres');
    expect(changes.map((c) => c.event)).toEqual([{ op: 'insert', origin: 'billing', commitTimeMicros: 1_700_000_000_000_001n, position: 'outbox:7', key: { id: 1n }, after: { id: 1n, email: 'a@b', balance: '10.50' }, changed: ['id', 'email', 'balance'] }]);
  });

  it('update: only the changed columns compete', () => {
    const { changes } = decodeOutboxRow(row({ op: 'U', changed: ['email'], oldRow: '{"id":1,"email":null,"balance":1}', newRow: '{"id":1,"email":"x","balance":1}' }), table, 'billing', 'postgres');
    expect(changes.map((c) => [c.event.op, c.event.changed, c.event.after])).toEqual([['update', ['email'], { id: 1n, email: 'x', balance: '1.00' }]]);
  });

  it('an update of the key is a delete of the old key and an insert of the new row', () => {
    const { changes } = decodeOutboxRow(row({ op: 'U', changed: ['id'], oldRow: '{"id":1,"email":"x","balance":null}', newRow: '{"id":2,"email":"x","balance":null}' }), table, 'billing', 'postgres');
    expect(changes.map((c) => [c.event.op, c.event.key, c.event.after])).toEqual([['delete', { id: 1n }, null], ['insert', { id: 2n }, { id: 2n, email: 'x', balance: null }]]);
  });

  it('update without a list (the PostgreSQL trigger): the columns whose decoded value differs, in column order', () => {
    // balance 1 and 1.00 are the same numeric(12,2) value: not changed; NULL → value is
    const { changes } = decodeOutboxRow(row({ op: 'U', oldRow: '{"id":1,"email":null,"balance":1}', newRow: '{"id":1,"email":"x","balance":1.00}' }), table, 'billing', 'postgres');
    expect(changes.map((c) => [c.event.op, c.event.changed, c.event.after])).toEqual([['update', ['email'], { id: 1n, email: 'x', balance: '1.00' }]]);
    const back = decodeOutboxRow(row({ op: 'U', oldRow: '{"id":1,"email":"x","balance":2.5}', newRow: '{"id":1,"email":null,"balance":2.51}' }), table, 'billing', 'postgres');
    expect(back.changes[0]!.event.changed).toEqual(['email', 'balance']);
  });

  it('update without a list: a key change is a delete and an insert; a column only the new image has is changed', () => {
    const key = decodeOutboxRow(row({ op: 'U', oldRow: '{"id":1,"email":"x","balance":null}', newRow: '{"id":2,"email":"x","balance":null}' }), table, 'billing', 'postgres');
    expect(key.changes.map((c) => [c.event.op, c.event.key, c.event.after])).toEqual([['delete', { id: 1n }, null], ['insert', { id: 2n }, { id: 2n, email: 'x', balance: null }]]);
    // the old image predates the balance column: balance is new in this row, so changed
    const added = decodeOutboxRow(row({ op: 'U', oldRow: '{"id":1,"email":"x"}', newRow: '{"id":1,"email":"x","balance":null}' }), table, 'billing', 'postgres');
    expect(added.changes.map((c) => [c.event.op, c.event.changed])).toEqual([['update', ['balance']]]);
    // a column neither image knows is reported, whichever image holds it
    const extra = decodeOutboxRow(row({ op: 'U', oldRow: '{"id":1,"extra":4}', newRow: '{"id":1,"extra":5}' }), table, 'billing', 'postgres');
    expect(extra.unknownColumns).toEqual(['extra']);
  });

  it('update without a list needs the old image', () => {
    expect(() => decodeOutboxRow(row({ op: 'U', newRow: '{"id":1,"email":"x","balance":null}' }), table, 'billing', 'postgres')).toThrow(/old row is missing/);
  });

  it('delete: the old key, no row', () => {
    const { changes } = decodeOutboxRow(row({ op: 'D', oldRow: '{"id":3,"email":"x","balance":null}' }), table, 'billing', 'mysql');
    expect(changes.map((c) => c.event)).toMatchObject([{ op: 'delete', key: { id: 3n }, after: null, changed: [] }]);
  });

  it('reports columns it does not know instead of dropping their values', () => {
    const d = decodeOutboxRow(row({ op: 'U', changed: ['extra'], oldRow: '{"id":1}', newRow: '{"id":1,"extra":5}' }), table, 'billing', 'postgres');
    expect(d.unknownColumns).toEqual(['extra']);
  });

  it('normalises driver rows (PostgreSQL text[] and MySQL JSON text) and rejects unknown ops', () => {
    expect(outboxRowFromDb({ seq: '5', table_schema: 'app', table_name: 't', op: 'U', changed: '["a","b"]', old_row: '{}', new_row: '{}', origin: 'o', commit_micros: '12' }).changed).toEqual(['a', 'b']);
    expect(outboxRowFromDb({ seq: '5', table_schema: 'app', table_name: 't', op: 'U', changed: ['a'], old_row: null, new_row: null, origin: 'o', commit_micros: '12' }).changed).toEqual(['a']);
    expect(() => outboxRowFromDb({ seq: '5', op: 'X' })).toThrow(/unknown op/);
  });
});
