import { describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../event/change-event.js';
import { registry } from '../observability/metrics.js';
import type { TableSchema } from '../types.js';
import { recordBatchMetrics, toSinkBatches, type ApplyUnit } from './batch-applier.js';
import type { TableRoute } from './routes.js';

const table = (name: string): TableSchema => ({ schema: '', name, key: ['id'], columns: [{ name: 'id', type: { kind: 'int', bits: 64 }, nullable: false }] });
const route = (topic: string, label: string): TableRoute => ({
  from: `src.${label}`, source: 'src', topic, into: { schema: '', name: label }, label,
  config: { from: `src.${label}`, autoEvolve: true, createTable: true },
});
const event = (id: bigint, op: ChangeEvent['op'], commitTimeMicros: bigint): ChangeEvent => ({
  op, origin: 'src', commitTimeMicros, position: `outbox:${id}`, key: { id }, after: op === 'delete' ? null : { id }, changed: op === 'delete' ? [] : ['id'],
});
const unit = (r: TableRoute, t: TableSchema, e: ChangeEvent, offset: bigint): ApplyUnit => ({
  msg: { route: r, partition: 0, offset, message: { key: null, value: null, timestamp: '0', attributes: 0, offset: String(offset), headers: {} } as never },
  event: e, table: t,
});

describe('toSinkBatches', () => {
  it('gives one batch per topic, events in arrival order', () => {
    const a = route('t.src.a', 'a');
    const b = route('t.src.b', 'b');
    const units = [unit(a, table('a'), event(1n, 'insert', 1n), 0n), unit(b, table('b'), event(2n, 'insert', 2n), 0n), unit(a, table('a'), event(3n, 'delete', 3n), 1n)];
    const batches = toSinkBatches(units);
    expect(batches.map((x) => [x.table.name, x.events.map((e) => e.key.id)])).toEqual([['a', [1n, 3n]], ['b', [2n]]]);
  });
});

describe('recordBatchMetrics', () => {
  it('counts events per table and op, dead letters per reason, and merge outcomes', async () => {
    const target = `unit-${Date.now()}`;
    const a = route('t.src.a', 'a');
    const now = Date.now();
    recordBatchMetrics(target, {
      units: [unit(a, table('a'), event(1n, 'insert', BigInt(now - 2000) * 1000n), 0n), unit(a, table('a'), event(2n, 'update', BigInt(now - 1000) * 1000n), 1n)],
      letters: [{ kind: 'decode', error: new Error('x'), target, table: 'a', topic: a.topic, partition: 0, offset: 2n, key: null, value: null }],
      offsets: [{ topic: a.topic, partition: 0, nextOffset: '3' }],
      outcome: { fieldsTaken: 5, fieldsKept: 2, rowsDeleted: 0 },
      durationMs: 12,
    }, now);
    const text = await registry.metrics();
    expect(text).toContain(`fieldsync_applier_events_total{target="${target}",table="a",op="insert"} 1`);
    expect(text).toContain(`fieldsync_applier_events_total{target="${target}",table="a",op="update"} 1`);
    expect(text).toContain(`fieldsync_applier_dead_letters_total{target="${target}",table="a",reason="decode"} 1`);
    expect(text).toContain(`fieldsync_merge_fields_total{target="${target}",table="a",outcome="taken"} 5`);
    expect(text).toContain(`fieldsync_merge_fields_total{target="${target}",table="a",outcome="kept"} 2`);
    expect(text).toContain(`fieldsync_end_to_end_lag_seconds_count{target="${target}",table="a"} 2`);
    expect(text).toContain(`fieldsync_end_to_end_lag_seconds_sum{target="${target}",table="a"} 3`);
  });

  it('adds up a mixed batch per table and op, observes every event\'s lag, and gives the merge outcome to "all"', async () => {
    const target = `unit-mixed-${Date.now()}`;
    const [a, b] = [route('t.src.a', 'a'), route('t.src.b', 'b')];
    const now = Date.now();
    const at = (ms: number) => BigInt(now - ms) * 1000n;
    const units = [
      unit(a, table('a'), event(1n, 'insert', at(1000)), 0n), unit(b, table('b'), event(1n, 'insert', at(500)), 0n),
      unit(a, table('a'), event(2n, 'insert', at(1000)), 1n), unit(a, table('a'), event(1n, 'delete', at(2000)), 2n),
      unit(b, table('b'), event(1n, 'update', at(500)), 1n), unit(a, table('a'), event(3n, 'insert', at(3000)), 3n),
    ];
    recordBatchMetrics(target, { units, letters: [], offsets: [], outcome: { fieldsTaken: 7, fieldsKept: 0, rowsDeleted: 1 }, durationMs: 3 }, now);
    // a second batch adds to the same series
    recordBatchMetrics(target, { units: [unit(b, table('b'), event(2n, 'insert', at(1500)), 2n)], letters: [], offsets: [], outcome: { fieldsTaken: 0, fieldsKept: 0, rowsDeleted: 0 }, durationMs: 1 }, now);
    const text = await registry.metrics();
    expect(text).toContain(`fieldsync_applier_events_total{target="${target}",table="a",op="insert"} 3`);
    expect(text).toContain(`fieldsync_applier_events_total{target="${target}",table="a",op="delete"} 1`);
    expect(text).toContain(`fieldsync_applier_events_total{target="${target}",table="b",op="insert"} 2`);
    expect(text).toContain(`fieldsync_applier_events_total{target="${target}",table="b",op="update"} 1`);
    expect(text).not.toContain(`fieldsync_applier_events_total{target="${target}",table="b",op="delete"}`);
    expect(text).toContain(`fieldsync_merge_fields_total{target="${target}",table="all",outcome="taken"} 7`);
    expect(text).toContain(`fieldsync_end_to_end_lag_seconds_count{target="${target}",table="a"} 4`);
    expect(text).toContain(`fieldsync_end_to_end_lag_seconds_sum{target="${target}",table="a"} 7`);
    expect(text).toContain(`fieldsync_end_to_end_lag_seconds_count{target="${target}",table="b"} 3`);
    expect(text).toContain(`fieldsync_end_to_end_lag_seconds_sum{target="${target}",table="b"} 2.5`);
  });
});
