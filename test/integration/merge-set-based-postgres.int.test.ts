/**
 * The PostgreSQL sink's set-based merge (large batches: the folded batch as arrays, clocks
 * compared in one statement) gives exactly what the row path (clocks read, planMerge in JS) gives on
 * the same events: rows, tombs, clocks, the merge outcome and the stored offsets, for every
 * column type, NULLs, conflicts with stored clocks, deletes, revivals, updates that arrive
 * before their insert, replays, and local edits made in the target between batches; and a
 * value the target cannot hold is refused for the batch exactly as on the row path.
 *
 * Two sinks on the same server: one with setMinRows 1 (every batch set-based), one with
 * setMinRows Infinity (every batch on the row path), each merging into its own table
 * (merge-set-based-support.ts).
 */
import { describe, expect, it } from 'vitest';
import type { Db } from '../../lib/dialect/dialect.js';
import type { ChangeEvent } from '../../lib/event/change-event.js';
import { clockTable, tombTable } from '../../lib/merge/clock-layout.js';
import type { FoldedTable } from '../../lib/merge/fold.js';
import { PostgresSink } from '../../lib/sink/postgres-sink.js';
import type { ApplyMode, MergeTarget } from '../../lib/sink/sql-sink.js';
import type { MergeOutcome } from '../../lib/sink.js';
import type { Row, TableSchema } from '../../lib/types.js';
import { uniqueName } from '../support/helpers.js';
import {
  RUNS, STRING_UNITS, checkLocalEdits, checkNarrowRefusal, checkRaceWithLocalEdits, checkRandomEvents, countSetMerge, useSinkPair,
  type SetMergeCounts,
} from './merge-set-based-support.js';
import { T0 } from './merge-support.js';

/** A sink that counts the table batches its set-based merge took (the path under test must really run). */
class CountingSink extends PostgresSink implements SetMergeCounts {
  setMerges = 0;
  setFailures = 0;
  /** Statements run: the merge of new keys (no clock to compare) and the general one. */
  newKeyStatements = 0;
  compareStatements = 0;
  protected override mergeSetBased(tx: Db, folded: FoldedTable, m: MergeTarget, mode: ApplyMode): Promise<MergeOutcome | undefined> {
    const counted = Object.create(tx) as Db;
    counted.query = (sql, params) => {
      if (sql.startsWith('WITH n ')) this.newKeyStatements++;
      if (sql.startsWith('WITH w ')) this.compareStatements++;
      return tx.query(sql, params);
    };
    return countSetMerge(this, () => super.mergeSetBased(counted, folded, m, mode));
  }
}

/** jsonb keeps a document, not its text ({"a": 1} for {"a":1}): the model is compared by document. */
const jsonText = (rows: Row[]): Row[] => rows.map((r) => ({ ...r, j: typeof r.j === 'string' ? JSON.stringify(JSON.parse(r.j)) : r.j ?? null }));

describe('PostgreSQL set-based merge', () => {
  const pair = useSinkPair({ db: 'pg', origin: 'pgtarget', schema: 'public', newSink: (db, options) => new CountingSink('pg', db, options) });
  const qt = pair.qualified;
  const track = pair.track;

  it.each([
    { shape: 'a bigint key', composite: false },
    { shape: 'a composite (bigint, string) key', composite: true },
  ])(`equals the row path and the reference model for random events of every column type, $shape (${RUNS} runs)`, async ({ composite }) => {
    const { setSink } = pair;
    const statements = [setSink.newKeyStatements, setSink.compareStatements];
    // quotes, backslashes, braces, commas and the word NULL must survive the array literals
    await checkRandomEvents(pair, { composite, stringUnits: [...STRING_UNITS, 'NULL', '{', '}', ','], asModelRows: jsonText });
    // both statements ran: batches of new keys only, and batches meeting stored clocks
    expect(setSink.newKeyStatements).toBeGreaterThan(statements[0]!);
    expect(setSink.compareStatements).toBeGreaterThan(statements[1]!);
  });

  it('keeps local edits made between batches exactly as the row path does: conflicts, deletes, revivals', async () => {
    await checkLocalEdits(pair);
  });

  it('writes nothing when a batch is replayed: no row of T, its clock or its tomb gets a new version', async () => {
    const [table] = await pair.tablePair('replay');
    const ev = (op: ChangeEvent['op'], id: number, dt: number, s: string): ChangeEvent => ({
      op, origin: 'billing', commitTimeMicros: T0 + BigInt(dt), position: `r${dt}`, key: { id: BigInt(id) },
      after: op === 'delete' ? null : { id: BigInt(id), s, i: id }, changed: op === 'update' ? ['s'] : op === 'delete' ? [] : ['id', 's', 'i'],
    });
    const batch = [
      ...Array.from({ length: 300 }, (_v, id) => ev('insert', id, 10 + id, `v${id}`)),
      ...Array.from({ length: 100 }, (_v, id) => ev('update', id, 1_000 + id, `u${id}`)),
      ...Array.from({ length: 50 }, (_v, k) => ev('delete', 200 + k, 2_000 + k, '')),
      ...Array.from({ length: 20 }, (_v, k) => ev('update', 500 + k, 3_000 + k, `early${k}`)),
    ];
    const first = await pair.setSink.apply('replay', [{ table, events: batch }], []);
    expect(first.fieldsTaken).toBeGreaterThan(0);
    // xmin names the transaction that wrote a row version: a rewrite of an equal row changes it
    const versions = async () => Promise.all([table, clockTable(table), tombTable(table)].map(async (t) =>
      (await pair.app.query(`SELECT xmin::text AS x, count(*)::int AS n FROM ${qt(t.name)} GROUP BY 1 ORDER BY 1`))));
    const before = await versions();
    const merges = pair.setSink.setMerges;
    const again = await pair.setSink.apply('replay', [{ table, events: batch }], []);
    expect(pair.setSink.setMerges).toBe(merges + 1);
    expect(again).toEqual({ fieldsTaken: 0, fieldsKept: first.fieldsTaken + first.fieldsKept, rowsDeleted: 0 });
    expect(await versions()).toEqual(before);
  });

  it('merges a batch of more keys than one statement carries in parts, as the row path does', async () => {
    const [setTable, rowTable] = await pair.tablePair('big');
    const events: ChangeEvent[] = Array.from({ length: 20_010 }, (_v, id) => ({
      op: 'insert', origin: 'billing', commitTimeMicros: T0 + BigInt(id), position: `b${id}`, key: { id: BigInt(id) },
      after: { id: BigInt(id), s: `v${id}` }, changed: ['id', 's'],
    }));
    const outSet = await pair.setSink.apply('big', [{ table: setTable, events }], []);
    const outRow = await pair.rowSink.apply('big', [{ table: rowTable, events }], []);
    expect(outSet).toEqual(outRow);
    expect(outSet.fieldsTaken).toBe(20_010);
    const count = async (t: { name: string }) => Number((await pair.app.query(`SELECT count(*)::int AS n FROM ${qt(t.name)}`))[0]?.n);
    expect([await count(setTable), await count(clockTable(setTable))]).toEqual([20_010, 20_010]);
  });

  it('matches a key with more fractional digits than its column keeps to the row the column rounded it to', async () => {
    // a timestamp(3) key: the column rounds .123456 to .123; the key must find that row again.
    // Set-based only: the row path matches the clocks it reads back by canonical key in JS,
    // where .123000 is not .123456 (a known limitation of the row path)
    const schemaOf = (name: string): TableSchema => ({
      schema: 'src', name, key: ['at'],
      columns: [{ name: 'at', type: { kind: 'timestamp', precision: 3, tz: false }, nullable: false }, { name: 's', type: { kind: 'string', maxLength: 20 }, nullable: true }],
    });
    const at = (k: number) => `2024-01-01 00:${String(Math.floor(k / 60)).padStart(2, '0')}:${String(k % 60).padStart(2, '0')}.123456`;
    const ev = (op: 'insert' | 'update', k: number, dt: number, sv: string): ChangeEvent => ({
      op, origin: 'billing', commitTimeMicros: T0 + BigInt(dt), position: `a${dt}`, key: { at: at(k) }, after: { at: at(k), s: sv }, changed: op === 'update' ? ['s'] : ['at', 's'],
    });
    const name = track(uniqueName('ts3_set'));
    const table = await pair.setSink.prepareTable(schemaOf(name), { schema: 'public', name }, { autoEvolve: true, createTable: true });
    await pair.setSink.apply('ts3', [{ table, events: Array.from({ length: 250 }, (_v, k) => ev('insert', k, k, 'first')) }], []);
    const out = await pair.setSink.apply('ts3', [{ table, events: Array.from({ length: 250 }, (_v, k) => ev('update', k, 1_000 + k, 'second')) }], []);
    expect(out.fieldsTaken).toBe(250);
    expect(await pair.app.query(`SELECT s, count(*)::int AS n FROM ${qt(name)} GROUP BY s`)).toEqual([{ s: 'second', n: 250 }]);
    expect(await pair.app.query(`SELECT count(*)::int AS n FROM ${qt(tombTable({ schema: 'public', name }).name)}`)).toEqual([{ n: 0 }]);
  });

  it('refuses a batch holding a value the target cannot hold, as the row path does, and applies the rest', async () => {
    await checkNarrowRefusal(pair, (table) => `ALTER TABLE ${table} ALTER COLUMN s TYPE varchar(3)`);
  });

  it('leaves every field holding the value of the write its clock names while local edits race it (lock order)', async () => {
    await checkRaceWithLocalEdits(pair);
  });
});
