/**
 * The harness shared by the set-based merge tests of the SQL sinks (merge-set-based*.int.test.ts):
 * two sinks on the same server, one with setMinRows 1 (every batch set-based) and one with
 * setMinRows Infinity (every batch on the row path), each merging into its own table; random
 * events of every column type; and the checks both test files run, each comparing the
 * set-based merge with the row path (and the reference model) on the same events.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect } from 'vitest';
import { unscaledToDecimal } from '../../lib/canonical.js';
import type { Db } from '../../lib/dialect/dialect.js';
import { openDb } from '../../lib/dialect/index.js';
import { DataError } from '../../lib/errors.js';
import type { ChangeEvent } from '../../lib/event/change-event.js';
import { clockTable, tombTable } from '../../lib/merge/clock-layout.js';
import * as model from '../../lib/merge/reference-model.js';
import { retry } from '../../lib/retry.js';
import type { SinkOptions, SqlSink } from '../../lib/sink/sql-sink.js';
import type { MergeOutcome } from '../../lib/sink.js';
import { ORIGIN_SPACE, nowMicros, originCode, stampOf } from '../../lib/stamp.js';
import type { Row, TableSchema } from '../../lib/types.js';
import { stackConfig, uniqueName } from '../support/helpers.js';
import { T0, readRows, sortRows } from './merge-support.js';

export const RUNS = Number(process.env.FIELDSYNC_PROPERTY_RUNS ?? 12);
const ORIGINS = ['billing', 'invoice', 'crm'];

/** What a test sink counts: the table batches its set-based merge took (the path under test must really run). */
export interface SetMergeCounts {
  setMerges: number;
  setFailures: number;
}

/** Runs one set-based merge (a sink's super.mergeSetBased) and counts it as taken or failed. */
export async function countSetMerge(counts: SetMergeCounts, merge: () => Promise<MergeOutcome | undefined>): Promise<MergeOutcome | undefined> {
  try {
    const out = await merge();
    if (out) counts.setMerges++;
    return out;
  } catch (e) {
    counts.setFailures++;
    throw e;
  }
}

/** Every column type the merge carries (the key is a bigint). */
export const FIELDS = ['s', 'i', 'n', 'f', 'b', 'bin', 'd', 'ts', 'tm', 'j', 'u'] as const;

export const sourceTable = (name: string, narrow = false, composite = false): TableSchema => ({
  schema: 'src', name, key: composite ? ['id', 'region'] : ['id'],
  columns: [
    { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
    ...(composite ? [{ name: 'region', type: { kind: 'string' as const, maxLength: 10 }, nullable: false }] : []),
    { name: 's', type: { kind: 'string', maxLength: narrow ? 5 : 40 }, nullable: true },
    { name: 'i', type: { kind: 'int', bits: 32 }, nullable: true },
    { name: 'n', type: { kind: 'decimal', precision: 12, scale: 2 }, nullable: true },
    { name: 'f', type: { kind: 'float', bits: 64 }, nullable: true },
    { name: 'b', type: { kind: 'bool' }, nullable: true },
    { name: 'bin', type: { kind: 'bytes', maxLength: 16 }, nullable: true },
    { name: 'd', type: { kind: 'date' }, nullable: true },
    { name: 'ts', type: { kind: 'timestamp', precision: 6, tz: false }, nullable: true },
    { name: 'tm', type: { kind: 'time', precision: 6 }, nullable: true },
    { name: 'j', type: { kind: 'json' }, nullable: true },
    { name: 'u', type: { kind: 'uuid' }, nullable: true },
  ],
});

/** The pieces random strings are made of: tabs, newlines, backslashes and quotes that a text format must keep. */
export const STRING_UNITS = ['a', 'Z', 'é', '例', '🎉', "'", '"', '\\', '\t', '\n', '\r', ' ', 'N'];

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const valueArb = (stringUnits: readonly string[]) => ({
  s: fc.option(fc.string({ maxLength: 6, unit: fc.constantFrom(...stringUnits) }), { nil: null }),
  i: fc.option(fc.integer({ min: -2_147_483_648, max: 2_147_483_647 }), { nil: null }),
  n: fc.option(fc.bigInt({ min: -99_999_999_999n, max: 99_999_999_999n }).map((u) => unscaledToDecimal(u, 2)), { nil: null }),
  f: fc.option(fc.integer().map((x) => x / 64), { nil: null }),
  b: fc.option(fc.boolean(), { nil: null }),
  bin: fc.option(fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)), { nil: null }),
  d: fc.option(fc.date({ min: new Date('1000-01-01T00:00:00Z'), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true }).map((x) => x.toISOString().slice(0, 10)), { nil: null }),
  ts: fc.option(fc.tuple(fc.date({ min: new Date('1970-01-02T00:00:00Z'), max: new Date('2999-12-31T00:00:00Z'), noInvalidDate: true }), fc.integer({ min: 0, max: 999_999 }))
    .map(([x, us]) => `${x.toISOString().slice(0, 19).replace('T', ' ')}.${pad(us, 6)}`), { nil: null }),
  tm: fc.option(fc.tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 999_999 }))
    .map(([h, m, s, us]) => `${pad(h)}:${pad(m)}:${pad(s)}.${pad(us, 6)}`), { nil: null }),
  j: fc.option(fc.constantFrom('{"a":1}', '[1,2,"x\\ty"]', '"é"', 'null', '{"k":{"n":[true,false]}}'), { nil: null }),
  u: fc.option(fc.uuid(), { nil: null }),
});

/** A random event before it gets its key range and commit time. */
interface Draft { op: ChangeEvent['op']; origin: string; key: number; values: Row; changed: string[] }
const draftArb = (keys: number, stringUnits: readonly string[]): fc.Arbitrary<Draft> => fc.record({
  op: fc.constantFrom<ChangeEvent['op']>('insert', 'snapshot', 'update', 'update', 'update', 'delete'),
  origin: fc.constantFrom(...ORIGINS),
  key: fc.integer({ min: 0, max: keys - 1 }),
  values: fc.record(valueArb(stringUnits)),
  changed: fc.subarray([...FIELDS], { minLength: 1 }),
});

function toEvent(d: Draft, time: number, base: bigint, composite: boolean): ChangeEvent {
  const key: Row = composite ? { id: base + BigInt(d.key >> 1), region: d.key & 1 ? 'us' : 'eü' } : { id: base + BigInt(d.key) };
  const commitTimeMicros = T0 + BigInt(time);
  if (d.op === 'delete') return { op: 'delete', origin: d.origin, commitTimeMicros, position: `p${time}`, key, after: null, changed: [] };
  return { op: d.op, origin: d.origin, commitTimeMicros, position: `p${time}`, key, after: { ...key, ...d.values }, changed: d.op === 'update' ? d.changed : [...FIELDS] };
}

const sum = (a: MergeOutcome, b: MergeOutcome): MergeOutcome => ({
  fieldsTaken: a.fieldsTaken + b.fieldsTaken, fieldsKept: a.fieldsKept + b.fieldsKept, rowsDeleted: a.rowsDeleted + b.rowsDeleted,
});

/** The target server the two sinks merge into. */
export interface SinkPairTarget<S extends SqlSink & SetMergeCounts> {
  /** The stack database, by its config name. */
  db: 'maria' | 'pg';
  /** The origin the target's own (local) edits are stamped with. */
  origin: string;
  /** The schema the test tables are created in. */
  schema: string;
  newSink(db: Db, options: SinkOptions): S;
}

export interface TableSnapshot { rows: Row[]; clocks: Row[]; tombs: Row[] }

export interface SinkPair<S extends SqlSink & SetMergeCounts> {
  readonly target: SinkPairTarget<S>;
  /** Merges every batch set-based. */
  readonly setSink: S;
  /** Merges every batch on the row path. */
  readonly rowSink: S;
  /** A plain (non-applier) session: what the target's own application uses. */
  readonly app: Db;
  /** A table of the target schema, quoted for SQL. */
  qualified(name: string): string;
  /** Drop this table, its clock, tomb and stamping function after the file; returns the name. */
  track(name: string): string;
  /** One table per sink, prepared from the same source schema. */
  tablePair(prefix: string, narrow?: boolean, composite?: boolean): Promise<[TableSchema, TableSchema]>;
  snapshot(t: TableSchema): Promise<TableSnapshot>;
}

/** Opens the two sinks and the application session before the tests of a describe block, and closes them after. */
export function useSinkPair<S extends SqlSink & SetMergeCounts>(target: SinkPairTarget<S>): SinkPair<S> {
  const cfg = stackConfig();
  const database = cfg.databases[target.db]!;
  const options = { origin: target.origin, fieldsyncSchema: database.fieldsyncSchema };
  let setSink!: S;
  let rowSink!: S;
  let app!: Db;
  const tables: string[] = [];
  const qualified = (name: string) => app.dialect.qualified({ schema: target.schema, name });
  const track = (name: string) => { tables.push(name); return name; };

  beforeAll(async () => {
    const pool = () => openDb(database, { applierSession: true, poolSize: 1 });
    setSink = target.newSink(pool(), { ...options, setMinRows: 1 });
    rowSink = target.newSink(pool(), { ...options, setMinRows: Number.POSITIVE_INFINITY });
    for (const s of [setSink, rowSink]) { await s.connect(); await s.install(); }
    app = openDb(database);
  });
  afterAll(async () => {
    for (const t of tables) {
      for (const n of [t, `${t}__fs_clock`, `${t}__fs_tomb`]) await app.execute(`DROP TABLE IF EXISTS ${qualified(n)}`);
      // PostgreSQL stamps local edits through a function per table; MariaDB's triggers go with the table
      if (app.dialect.name === 'postgres') await app.execute(`DROP FUNCTION IF EXISTS ${qualified(`${t}__fs_stamp`)}()`);
    }
    await setSink.close();
    await rowSink.close();
    await app.close();
  });

  return {
    target,
    get setSink() { return setSink; },
    get rowSink() { return rowSink; },
    get app() { return app; },
    qualified,
    track,
    async tablePair(prefix, narrow = false, composite = false) {
      const a = track(uniqueName(`${prefix}_set`));
      const b = track(uniqueName(`${prefix}_row`));
      return [
        await setSink.prepareTable(sourceTable(a, narrow, composite), { schema: target.schema, name: a }, { autoEvolve: true, createTable: true }),
        await rowSink.prepareTable(sourceTable(b, narrow, composite), { schema: target.schema, name: b }, { autoEvolve: true, createTable: true }),
      ];
    },
    snapshot: async (t) => ({
      rows: await readRows(app, t), clocks: await readRows(app, clockTable(t)), tombs: await readRows(app, tombTable(t)),
    }),
  };
}

export interface RandomEventsOptions {
  composite: boolean;
  /** What random strings are made of: what the dialect's bulk format must carry. */
  stringUnits: readonly string[];
  /** Puts rows and tombs read back into the form the reference model gives (a value the target keeps differently but equal). */
  asModelRows?: (rows: Row[]) => Row[];
}

/**
 * Random batches of random events (plus one batch replayed at the end) through both sinks: the
 * outcome, stored offsets, rows, clocks and tombs must be equal, and equal to the reference model.
 */
export async function checkRandomEvents<S extends SqlSink & SetMergeCounts>(pair: SinkPair<S>, opts: RandomEventsOptions): Promise<void> {
  const { setSink, rowSink } = pair;
  const { composite, stringUnits, asModelRows = (rows: Row[]) => rows } = opts;
  const [setTable, rowTable] = await pair.tablePair('prop', false, composite);
  const key = composite ? ['id', 'region'] : ['id'];
  const modelTable = { key, fields: [...FIELDS] };
  let run = 0n;
  let applies = 0;
  const before = setSink.setMerges;
  await fc.assert(fc.asyncProperty(
    fc.array(draftArb(24, stringUnits), { minLength: 1, maxLength: 160 }),
    fc.uniqueArray(fc.integer({ min: 0, max: 100_000 }), { minLength: 160, maxLength: 160 }),
    fc.array(fc.integer({ min: 1, max: 90 }), { minLength: 160, maxLength: 160 }),
    fc.nat(),
    async (drafts, times, sizes, replay) => {
      const base = ++run * 1000n;
      const events = drafts.map((d, i) => toEvent(d, times[i]!, base, composite));
      const consumer = uniqueName(`set${base}`);
      let outSet: MergeOutcome = { fieldsTaken: 0, fieldsKept: 0, rowsDeleted: 0 };
      let outRow: MergeOutcome = { ...outSet };
      const batches: ChangeEvent[][] = [];
      for (let i = 0, b = 0; i < events.length; b++) { batches.push(events.slice(i, i + sizes[b]!)); i += sizes[b]!; }
      // one batch again at the end: a replay after a crash changes nothing
      batches.push(batches[replay % batches.length]!);
      let offset = 0;
      for (const batch of batches) {
        offset += batch.length;
        const offsets = [{ topic: 'set', partition: 0, nextOffset: String(offset) }];
        outSet = sum(outSet, await setSink.apply(consumer, [{ table: setTable, events: batch }], offsets));
        applies++;
        outRow = sum(outRow, await rowSink.apply(consumer, [{ table: rowTable, events: batch }], offsets));
      }
      expect(outSet).toEqual(outRow);
      expect(await setSink.storedOffsets(consumer)).toEqual([{ topic: 'set', partition: 0, nextOffset: String(offset) }]);

      const inRange = (r: Row) => (r.id as bigint) >= base && (r.id as bigint) < base + 1000n;
      const got = await pair.snapshot(setTable);
      const want = await pair.snapshot(rowTable);
      for (const k of ['rows', 'clocks', 'tombs'] as const) expect(got[k].filter(inRange)).toEqual(want[k].filter(inRange));
      const expected = model.applyAll(modelTable, model.emptyState(), events);
      expect(asModelRows(got.rows.filter(inRange))).toEqual(asModelRows(sortRows(key, model.table(modelTable, expected))));
      expect(got.clocks.filter(inRange)).toEqual(sortRows(key, model.clocks(modelTable, expected)));
      expect(asModelRows(got.tombs.filter(inRange))).toEqual(asModelRows(sortRows(key, model.tombs(modelTable, expected))));
    },
  ), { numRuns: RUNS, endOnFailure: true });
  // every batch took the set-based merge, none fell back to the row path
  expect(setSink.setMerges - before).toBe(applies);
  expect(setSink.setFailures).toBe(0);
}

/** Three batches with local edits in the target after the first: both sinks keep them alike (conflicts, deletes, revivals). */
export async function checkLocalEdits<S extends SqlSink & SetMergeCounts>(pair: SinkPair<S>): Promise<void> {
  const { setSink, rowSink, app, qualified } = pair;
  const [setTable, rowTable] = await pair.tablePair('local');
  const row = (id: number, s: string): Row => ({ id: BigInt(id), s, i: id, n: '1.50', f: 0.5, b: true, bin: Buffer.from([id & 255]), d: '2024-02-29', ts: '2024-01-01 00:00:00.000001', tm: '23:59:59.999999', j: '{"a":1}', u: '00000000-0000-4000-8000-000000000000' });
  const ins = (id: number, dt: number, s: string): ChangeEvent => ({ op: 'insert', origin: 'billing', commitTimeMicros: T0 + BigInt(dt), position: `i${dt}`, key: { id: BigInt(id) }, after: row(id, s), changed: [...FIELDS] });
  const upd = (id: number, dt: number, s: string, origin = 'crm'): ChangeEvent => ({ op: 'update', origin, commitTimeMicros: T0 + BigInt(dt), position: `u${dt}`, key: { id: BigInt(id) }, after: row(id, s), changed: ['s', 'i'] });
  const del = (id: number, dt: number): ChangeEvent => ({ op: 'delete', origin: 'billing', commitTimeMicros: T0 + BigInt(dt), position: `d${dt}`, key: { id: BigInt(id) }, after: null, changed: [] });

  const first = Array.from({ length: 300 }, (_v, id) => ins(id, 10 + id, `v${id}`));
  // local edits (stamped now, newer than every event here): update, delete, insert of a new key
  const local = async (t: TableSchema) => {
    await app.execute(`UPDATE ${qualified(t.name)} SET s = 'local', n = NULL WHERE id < 20`);
    await app.execute(`DELETE FROM ${qualified(t.name)} WHERE id >= 20 AND id < 40`);
    await app.execute(`INSERT INTO ${qualified(t.name)} (id, s) VALUES (5000, 'app')`);
  };
  const second = [
    ...Array.from({ length: 100 }, (_v, id) => upd(id, 5_000 + id, `late${id}`)), // 0-19 lose s/i to the local edit; 20-39 are deleted
    ...Array.from({ length: 50 }, (_v, k) => del(100 + k, 6_000 + k)), // bury
    ...Array.from({ length: 30 }, (_v, k) => upd(400 + k, 7_000 + k, `early${k}`)), // update before its insert: tomb
    ins(5000, 8_000, 'older than the app'), // the app's newer insert keeps its fields
  ];
  const third = [
    ...Array.from({ length: 50 }, (_v, k) => ins(100 + k, 9_000 + k, `back${k}`)), // revive from the tomb, newer than the delete
    ...Array.from({ length: 30 }, (_v, k) => ins(400 + k, 6_500 + k, `ins${k}`)), // older insert arrives: the tomb's newer field stays
    ...Array.from({ length: 20 }, (_v, k) => upd(120 + k, 1, 'ancient', 'billing')), // older than everything held
  ];
  const outs: MergeOutcome[][] = [[], []];
  for (const [i, [sink, table]] of ([[setSink, setTable], [rowSink, rowTable]] as const).entries()) {
    outs[i]!.push(await sink.apply('local', [{ table, events: first }], []));
    await local(table);
    outs[i]!.push(await sink.apply('local', [{ table, events: second }], []));
    outs[i]!.push(await sink.apply('local', [{ table, events: third }], []));
  }
  expect(outs[0]).toEqual(outs[1]);
  expect(setSink.setFailures).toBe(0);
  const got = await pair.snapshot(setTable);
  const want = await pair.snapshot(rowTable);
  expect(got.rows).toEqual(want.rows);
  expect(got.tombs).toEqual(want.tombs);
  // local stamps come from each server's clock: compare which stamps are local, and the event stamps exactly
  const newest = stampOf(T0 + 1_000_000_000n, 'billing');
  const local_ = (v: unknown) => (typeof v === 'bigint' && v > newest ? 'local' : v);
  const mask = (rows: Row[]) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k === 'id' ? v : local_(v)])));
  expect(mask(got.clocks)).toEqual(mask(want.clocks));
  expect(got.rows.find((r) => r.id === 5n)?.s).toBe('local');
  expect(got.rows.find((r) => r.id === 25n)).toBeUndefined();
  expect(got.rows.find((r) => r.id === 110n)?.s).toBe('back10');
  expect(got.rows.find((r) => r.id === 5000n)?.s).toBe('app');
}

/**
 * A batch with one value too long for the target column is refused by both sinks alike and
 * leaves nothing; the batch without it then merges set-based.
 * `narrowColumn` gives the statement that shrinks column s of a (quoted) table to 3 characters.
 */
export async function checkNarrowRefusal<S extends SqlSink & SetMergeCounts>(pair: SinkPair<S>, narrowColumn: (table: string) => string): Promise<void> {
  const { setSink, rowSink, app } = pair;
  // the source says 5 characters, the target column holds 3
  const [setTable, rowTable] = await pair.tablePair('narrow', true);
  for (const t of [setTable, rowTable]) await app.execute(narrowColumn(pair.qualified(t.name)));
  const events: ChangeEvent[] = Array.from({ length: 250 }, (_v, id) => ({
    op: 'insert', origin: 'billing', commitTimeMicros: T0 + BigInt(id), position: `n${id}`, key: { id: BigInt(id) },
    after: { id: BigInt(id), s: id === 137 ? 'toolong' : 'ok', i: id }, changed: ['id', 's', 'i'],
  }));
  const consumer = uniqueName('narrow');
  const errors: unknown[] = [];
  for (const [sink, table] of [[setSink, setTable], [rowSink, rowTable]] as const) {
    const err = await sink.apply(consumer, [{ table, events }], [{ topic: 'n', partition: 0, nextOffset: '250' }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    errors.push((err as DataError).message);
    // nothing of the refused batch stayed
    expect(await readRows(app, table)).toEqual([]);
    expect(await sink.storedOffsets(consumer)).toEqual([]);
  }
  // the same refusal (the row path decides): the applier bisects to the same message
  expect(errors[0]).toBe(String(errors[1]).replace(rowTable.name, setTable.name));
  const before = setSink.setMerges;
  const good = events.filter((_e, i) => i !== 137);
  const outSet = await setSink.apply(consumer, [{ table: setTable, events: good }], [{ topic: 'n', partition: 0, nextOffset: '250' }]);
  const outRow = await rowSink.apply(consumer, [{ table: rowTable, events: good }], [{ topic: 'n', partition: 0, nextOffset: '250' }]);
  expect(outSet).toEqual(outRow);
  // a data refusal does not take the table off the set-based merge
  expect(setSink.setMerges).toBe(before + 1);
  expect((await readRows(app, setTable)).length).toBe(249);
  expect((await pair.snapshot(setTable)).clocks).toEqual((await pair.snapshot(rowTable)).clocks);
}

/** Set-based batches race local edits of the same rows: every field ends holding the value of the write its clock names. */
export async function checkRaceWithLocalEdits<S extends SqlSink & SetMergeCounts>(pair: SinkPair<S>): Promise<void> {
  const { setSink, app } = pair;
  const [table] = await pair.tablePair('race');
  const keys = 400;
  const consumer = uniqueName('race');
  const row = (id: number, sv: string): Row => ({ id: BigInt(id), s: sv });
  const inserts: ChangeEvent[] = Array.from({ length: keys }, (_v, id) => ({ op: 'insert', origin: 'billing', commitTimeMicros: T0, position: `r${id}`, key: { id: BigInt(id) }, after: row(id, 'initial'), changed: ['id', 's'] }));
  await setSink.apply(consumer, [{ table, events: inserts }], []);
  // by key and stamp: two keys of one batch may draw the same time
  const incoming = new Map<string, string>();
  const mergesBefore = setSink.setMerges;
  const applier = (async () => {
    for (let b = 0; b < 12; b++) {
      // whole-table batches with stamps just before and just after "now": some win over local edits, some lose
      const events: ChangeEvent[] = Array.from({ length: keys }, (_v, id) => {
        const time = nowMicros() + BigInt(Math.round((Math.random() - 0.5) * 400_000));
        const value = `ev-${b}-${id}`;
        incoming.set(`${id}/${stampOf(time, 'billing')}`, value);
        return { op: 'update', origin: 'billing', commitTimeMicros: time, position: `e${b}-${id}`, key: { id: BigInt(id) }, after: row(id, value), changed: ['s'] };
      });
      await retry(() => setSink.apply(consumer, [{ table, events }], [{ topic: 'race', partition: 0, nextOffset: String(b + 1) }]), { initialDelayMs: 5, maxElapsedMs: 60_000 });
    }
  })();
  const update = `UPDATE ${pair.qualified(table.name)} SET s = ${app.dialect.param(1)} WHERE id = ${app.dialect.param(2)}`;
  const local = (async () => {
    for (let i = 0; i < 150; i++) {
      const id = Math.floor(Math.random() * keys);
      await retry(() => app.execute(update, [`local-${i}`, id]), { initialDelayMs: 5, maxElapsedMs: 60_000 });
    }
  })();
  await Promise.all([applier, local]);

  const localCode = BigInt(originCode(pair.target.origin));
  const clocks = new Map((await readRows(app, clockTable(table))).map((c) => [c.id, c.s as bigint]));
  const rows = await readRows(app, table);
  expect(rows).toHaveLength(keys);
  for (const r of rows) {
    const stamp = clocks.get(r.id)!;
    if (stamp % ORIGIN_SPACE === localCode) expect(String(r.s)).toMatch(/^local-/);
    else expect(r.s).toBe(stamp === stampOf(T0, 'billing') ? 'initial' : incoming.get(`${r.id}/${stamp}`));
  }
  // transient failures (deadlocks, lock timeouts) are retried by the caller, on the set-based merge again
  expect(setSink.setMerges).toBeGreaterThan(mergesBefore);
  expect(await setSink.storedOffsets(consumer)).toEqual([{ topic: 'race', partition: 0, nextOffset: '12' }]);
}
