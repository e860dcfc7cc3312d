/**
 * The MariaDB sink's set-based merge (large batches: LOAD DATA into a stage, clocks
 * compared in SQL) gives exactly what the row path (clocks read, planMerge in JS) gives on
 * the same events: rows, tombs, clocks, the merge outcome and the stored offsets, for every
 * column type, NULLs, conflicts with stored clocks, deletes, revivals, updates that arrive
 * before their insert, replays, and local edits made in the target between batches; and a
 * value the target cannot hold is refused for the batch exactly as on the row path.
 *
 * Two sinks on the same server: one with setMinRows 1 (every batch set-based), one with
 * setMinRows Infinity (every batch on the row path), each merging into its own table
 * (merge-set-based-support.ts).
 */
import { describe, it } from 'vitest';
import type { Db } from '../../lib/dialect/dialect.js';
import type { FoldedTable } from '../../lib/merge/fold.js';
import { MysqlSink } from '../../lib/sink/mysql-sink.js';
import type { ApplyMode, MergeTarget } from '../../lib/sink/sql-sink.js';
import type { MergeOutcome } from '../../lib/sink.js';
import {
  RUNS, STRING_UNITS, checkLocalEdits, checkNarrowRefusal, checkRaceWithLocalEdits, checkRandomEvents, countSetMerge, useSinkPair,
  type SetMergeCounts,
} from './merge-set-based-support.js';

/** A sink that counts the table batches its set-based merge took (the path under test must really run). */
class CountingSink extends MysqlSink implements SetMergeCounts {
  setMerges = 0;
  setFailures = 0;
  protected override mergeSetBased(tx: Db, folded: FoldedTable, m: MergeTarget, mode: ApplyMode): Promise<MergeOutcome | undefined> {
    return countSetMerge(this, () => super.mergeSetBased(tx, folded, m, mode));
  }
}

describe('MariaDB set-based merge', () => {
  const pair = useSinkPair({ db: 'maria', origin: 'maria', schema: '', newSink: (db, options) => new CountingSink('maria', db, options) });

  it.each([
    { shape: 'a bigint key', composite: false },
    { shape: 'a composite (bigint, string) key', composite: true },
  ])(`equals the row path and the reference model for random events of every column type, $shape (${RUNS} runs)`, async ({ composite }) => {
    // tabs, newlines, backslashes and quotes must survive the LOAD DATA text
    await checkRandomEvents(pair, { composite, stringUnits: STRING_UNITS });
  });

  it('keeps local edits made between batches exactly as the row path does: conflicts, deletes, revivals', async () => {
    await checkLocalEdits(pair);
  });

  it('refuses a batch holding a value the target cannot hold, as the row path does, and applies the rest', async () => {
    await checkNarrowRefusal(pair, (table) => `ALTER TABLE ${table} MODIFY s VARCHAR(3) NULL`);
  });

  it('leaves every field holding the value of the write its clock names while local edits race it (lock order)', async () => {
    await checkRaceWithLocalEdits(pair);
  });
});
