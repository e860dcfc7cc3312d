/**
 * PROPERTY: the merge converges to the reference model whatever the order, duplication and
 * batching of the events, against the real PostgreSQL and MariaDB.
 *
 * Each run draws random events (insert / snapshot / update of random columns / delete) from
 * three origins on a few keys, with distinct commit times (the stamp contract: a stamp is
 * one write), then applies them in a random order, with random duplicates, in random batch
 * sizes through Sink.apply. The target table, its clock table and its tomb table must equal
 * the reference model (lib/merge/reference-model.ts) applied to the events in their
 * original order. Runs share one table per server and use disjoint key ranges.
 *
 * FIELDSYNC_PROPERTY_RUNS (default 25) and FIELDSYNC_PROPERTY_EVENTS (default 60) scale it.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unscaledToDecimal } from '../../lib/canonical.js';
import type { ChangeEvent } from '../../lib/event/change-event.js';
import { clockTable, tombTable } from '../../lib/merge/clock-layout.js';
import * as model from '../../lib/merge/reference-model.js';
import type { Row, TableSchema } from '../../lib/types.js';
import { uniqueName } from '../support/helpers.js';
import { T0, TARGETS, openTarget, readRows, sortRows, type TargetHandle } from './merge-support.js';

const RUNS = Number(process.env.FIELDSYNC_PROPERTY_RUNS ?? 25);
const MAX_EVENTS = Number(process.env.FIELDSYNC_PROPERTY_EVENTS ?? 60);
const ORIGINS = ['billing', 'invoice', 'crm'];
const FIELDS = ['a', 'b', 'c'] as const;
const KEYS_PER_RUN = 4;
const KEY_SPACE = 100n;

/** Two shapes: a single bigint key, and a composite (bigint, string) key. */
const SHAPES = [
  { label: 'single key', key: ['id'] },
  { label: 'composite key', key: ['id', 'region'] },
] as const;

const source = (name: string, key: readonly string[]): TableSchema => ({
  schema: 'src', name, key: [...key],
  columns: [
    { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
    ...(key.includes('region') ? [{ name: 'region', type: { kind: 'string' as const, maxLength: 10 }, nullable: false }] : []),
    { name: 'a', type: { kind: 'string', maxLength: 20 }, nullable: true },
    { name: 'b', type: { kind: 'int', bits: 32 }, nullable: true },
    { name: 'c', type: { kind: 'decimal', precision: 12, scale: 2 }, nullable: true },
  ],
});

const valueArb = {
  a: fc.option(fc.string({ maxLength: 8, unit: fc.constantFrom('a', 'Z', 'é', '例', '🎉', "'", '"', '\\', ' ', '%') }), { nil: null }),
  b: fc.option(fc.integer({ min: -2_147_483_648, max: 2_147_483_647 }), { nil: null }),
  c: fc.option(fc.bigInt({ min: -99_999_999_999n, max: 99_999_999_999n }).map((u) => unscaledToDecimal(u, 2)), { nil: null }),
};
const rowArb = fc.record(valueArb);

interface Draft { op: ChangeEvent['op']; origin: string; key: number; values: Row; changed: string[] }

const draftArb: fc.Arbitrary<Draft> = fc.record({
  op: fc.constantFrom<ChangeEvent['op']>('insert', 'snapshot', 'update', 'update', 'update', 'delete'),
  origin: fc.constantFrom(...ORIGINS),
  key: fc.integer({ min: 0, max: KEYS_PER_RUN - 1 }),
  values: rowArb,
  changed: fc.subarray([...FIELDS], { minLength: 1 }),
});

const scenarioArb = fc.record({
  drafts: fc.array(draftArb, { minLength: 1, maxLength: MAX_EVENTS }),
  // distinct commit times (µs offsets), one per event
  times: fc.uniqueArray(fc.integer({ min: 0, max: 5_000 }), { minLength: MAX_EVENTS, maxLength: MAX_EVENTS }),
  order: fc.array(fc.integer({ min: 0, max: 1 << 30 }), { minLength: 2 * MAX_EVENTS, maxLength: 2 * MAX_EVENTS }),
  duplicates: fc.array(fc.nat(), { maxLength: Math.ceil(MAX_EVENTS / 3) }),
  batchSizes: fc.array(fc.integer({ min: 1, max: 25 }), { minLength: 2 * MAX_EVENTS, maxLength: 2 * MAX_EVENTS }),
});

function toEvent(d: Draft, time: number, base: bigint, composite: boolean): ChangeEvent {
  const key: Row = composite ? { id: base + BigInt(d.key >> 1), region: d.key & 1 ? 'us' : 'eu' } : { id: base + BigInt(d.key) };
  if (d.op === 'delete') return { op: 'delete', origin: d.origin, commitTimeMicros: T0 + BigInt(time), position: `p${time}`, key, after: null, changed: [] };
  const changed = d.op === 'update' ? d.changed : [...FIELDS];
  return { op: d.op, origin: d.origin, commitTimeMicros: T0 + BigInt(time), position: `p${time}`, key, after: { ...key, ...d.values }, changed };
}

const CASES = TARGETS.flatMap((t) => SHAPES.map((s) => ({ ...t, shape: s.label, key: s.key })));

describe.each(CASES)('merge property against $label, $shape', ({ name: target, schema, key }) => {
  let h: TargetHandle;
  let table: TableSchema;
  let run = 0n;
  const composite = key.length > 1;
  beforeAll(async () => {
    h = await openTarget(target, schema);
    const name = h.track(uniqueName('prop'));
    table = await h.sink.prepareTable(source(name, key), { schema, name }, { autoEvolve: true, createTable: true });
  });
  afterAll(async () => { await h.close(); });

  const inRange = (base: bigint) => (r: Row) => (r.id as bigint) >= base && (r.id as bigint) < base + KEY_SPACE;

  it(`equals the reference model for every order, duplication and batching (${RUNS} runs)`, async () => {
    const modelTable = { key: [...key], fields: [...FIELDS] };
    await fc.assert(fc.asyncProperty(scenarioArb, async (s) => {
      const base = ++run * KEY_SPACE;
      const events = s.drafts.map((d, i) => toEvent(d, s.times[i]!, base, composite));
      const expected = model.applyAll(modelTable, model.emptyState(), events);

      // random order with random duplicates, then random batch sizes
      const delivered = [...events, ...s.duplicates.map((i) => events[i % events.length]!)]
        .map((e, i) => ({ e, k: s.order[i]! }))
        .sort((x, y) => x.k - y.k)
        .map((x) => x.e);
      // the model itself must not care about order or duplicates
      const reordered = model.applyAll(modelTable, model.emptyState(), delivered);
      expect(sortRows(modelTable.key, model.clocks(modelTable, reordered))).toEqual(sortRows(modelTable.key, model.clocks(modelTable, expected)));
      expect(sortRows(modelTable.key, model.table(modelTable, reordered))).toEqual(sortRows(modelTable.key, model.table(modelTable, expected)));

      const consumer = `prop-${base}`;
      let offset = 0;
      for (let i = 0, b = 0; i < delivered.length; b++) {
        const batch = delivered.slice(i, i + s.batchSizes[b]!);
        i += batch.length;
        offset += batch.length;
        await h.sink.apply(consumer, [{ table, events: batch }], [{ topic: 'prop', partition: 0, nextOffset: String(offset) }]);
      }
      expect(await h.sink.storedOffsets(consumer)).toEqual([{ topic: 'prop', partition: 0, nextOffset: String(delivered.length) }]);

      const rows = (await readRows(h.app, table)).filter(inRange(base));
      expect(rows).toEqual(sortRows(modelTable.key, model.table(modelTable, expected)));
      const clocks = (await readRows(h.app, clockTable(table))).filter(inRange(base));
      expect(clocks).toEqual(sortRows(modelTable.key, model.clocks(modelTable, expected)));
      const tombs = (await readRows(h.app, tombTable(table))).filter(inRange(base));
      expect(tombs).toEqual(sortRows(modelTable.key, model.tombs(modelTable, expected)));
    }), { numRuns: RUNS, endOnFailure: true }); // shrinking through a database takes minutes: report the seed instead
  });
});
