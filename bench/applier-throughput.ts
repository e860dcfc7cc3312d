/**
 * Merge throughput of the Sinks: rows per second merged into MariaDB and PostgreSQL
 * through Sink.apply (fold, row locks, clock read, set-based merge, clock upsert, offsets,
 * commit: everything the applier does after decoding), next to the same run's ceiling, a
 * plain multi-row upsert of the same rows into the same 10-column table
 * (bench/support/table.ts) with no clocks at all. For PostgreSQL a second ceiling binds one
 * array per column (unnest), as the sink itself does: one parameter per value, the first
 * ceiling's form, is slow to parse there and would flatter the sink.
 *
 *   inserts         N insert events of new keys
 *   update-1col     N updates of one column (email) of existing rows, all newer
 *   conflict-30     N updates of three columns of existing rows; 30% carry stamps older
 *                   than the stored clocks (the target keeps its fields), 70% are newer
 *
 * Events are built before the clock starts (the applier receives them decoded). Each
 * figure is rows / wall-clock seconds around the apply calls only. Fieldsync and its
 * ceiling alternate in each of 3 rounds on fresh keys; each figure is the best round (a
 * shared, busy machine slows single rounds at random).
 *
 *   tsx bench/applier-throughput.ts   N = 10,000 rows per scenario and round, batch 2,000
 *   tsx bench/applier-throughput.ts pg     one target only (pg or maria): an A/B comparison
 *                                     of two checkouts alternates these runs
 *                                     (BENCH_SCALE, BENCH_BATCH, BENCH_ROUNDS)
 *
 * Prints one JSON document; runApplierThroughput() is reused by bench/run.ts.
 */
import { loadavg } from 'node:os';
import type { ChangeEvent } from '../lib/event/change-event.js';
import { createSink } from '../lib/sink/index.js';
import type { SqlSink } from '../lib/sink/sql-sink.js';
import type { Row, TableSchema } from '../lib/types.js';
import { stackConfig, uniqueName } from '../test/support/helpers.js';
import { scaled } from './support/env.js';
import { BENCH_COLUMNS, benchRow, createBenchTable, multiRowUpsert } from './support/table.js';

export interface ScenarioResult {
  rows: number;
  seconds: number;
  rowsPerSec: number;
}

export interface TargetThroughput {
  inserts: ScenarioResult;
  update1col: ScenarioResult;
  conflict30: ScenarioResult & { fieldsKept: number; fieldsTaken: number };
  ceilingInsert: ScenarioResult;
  ceilingUpdate: ScenarioResult;
  /**
   * PostgreSQL only: the same upserts binding one array per column (unnest), as the sink
   * does, instead of one parameter per value (which PostgreSQL parses slowly).
   */
  ceilingInsertArrays?: ScenarioResult;
  ceilingUpdateArrays?: ScenarioResult;
  /** fieldsync inserts / ceiling inserts, fieldsync single-column updates / ceiling updates. */
  insertRatio: number;
  updateRatio: number;
  /** The same against the array ceilings (PostgreSQL). */
  insertRatioArrays?: number;
  updateRatioArrays?: number;
}

export interface ApplierThroughput {
  /** Rows per scenario and round. */
  rows: number;
  batchSize: number;
  rounds: number;
  /** 1-minute load average before and after (other work on the machine skews the figures). */
  loadAverage: [number, number];
  mariadb: TargetThroughput;
  postgres: TargetThroughput;
}

const T0 = 1_750_000_000_000_000n;

function benchSchema(schema: string, name: string): TableSchema {
  const s = (n: string, maxLength: number) => ({ name: n, type: { kind: 'string' as const, maxLength }, nullable: true });
  return {
    schema, name, key: ['id'],
    columns: [
      { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
      s('name', 100), s('email', 200), s('phone', 40), s('city', 100), s('status', 20),
      { name: 'balance', type: { kind: 'decimal', precision: 14, scale: 2 }, nullable: true },
      { name: 'credit', type: { kind: 'decimal', precision: 18, scale: 4 }, nullable: true },
      { name: 'created_at', type: { kind: 'timestamp', precision: 6, tz: false }, nullable: true },
      { name: 'updated_at', type: { kind: 'timestamp', precision: 6, tz: false }, nullable: true },
    ],
  };
}

function rowOf(id: number, v: number): Row {
  const values = benchRow(id, v);
  const row: Row = {};
  BENCH_COLUMNS.forEach((c, i) => { row[c] = c === 'id' ? BigInt(id) : values[i]!; });
  return row;
}

function insertEvents(from: number, n: number): ChangeEvent[] {
  return Array.from({ length: n }, (_v, i) => from + i).map((id) => ({
    op: 'insert', origin: 'billing', commitTimeMicros: T0 + BigInt(id), position: `b:${id}`,
    key: { id: BigInt(id) }, after: rowOf(id, 0), changed: [...BENCH_COLUMNS],
  }));
}

function updateEvents(from: number, n: number, v: number, changed: string[], stampFor: (id: number) => bigint): ChangeEvent[] {
  return Array.from({ length: n }, (_v, i) => from + i).map((id) => ({
    op: 'update', origin: 'invoice', commitTimeMicros: stampFor(id), position: `u${v}:${id}`,
    key: { id: BigInt(id) }, after: rowOf(id, v), changed,
  }));
}

async function timed(rows: number, fn: () => Promise<void>): Promise<ScenarioResult> {
  const started = performance.now();
  await fn();
  const seconds = (performance.now() - started) / 1000;
  return { rows, seconds: Math.round(seconds * 1000) / 1000, rowsPerSec: Math.round(rows / seconds) };
}

async function applyAll(sink: SqlSink, table: TableSchema, events: ChangeEvent[], batchSize: number, consumer: string): Promise<{ fieldsKept: number; fieldsTaken: number }> {
  const totals = { fieldsKept: 0, fieldsTaken: 0 };
  for (let i = 0; i < events.length; i += batchSize) {
    const batch = events.slice(i, i + batchSize);
    const out = await sink.apply(consumer, [{ table, events: batch }], [{ topic: 'bench', partition: 0, nextOffset: String(i + batch.length) }]);
    totals.fieldsKept += out.fieldsKept;
    totals.fieldsTaken += out.fieldsTaken;
  }
  return totals;
}

export async function measureTarget(target: 'maria' | 'pg', rows: number, batchSize: number, rounds: number): Promise<TargetThroughput> {
  const cfg = stackConfig();
  const sink = createSink(cfg, target, { poolSize: 2 });
  await sink.connect();
  await sink.install();
  const dialect = sink.db.dialect.name === 'postgres' ? 'postgres' : 'mysql';
  const schema = dialect === 'postgres' ? 'public' : '';
  const name = uniqueName('bench_merge');
  const ceilingName = uniqueName('bench_ceiling');
  const best = (a: ScenarioResult | undefined, b: ScenarioResult) => (!a || b.rowsPerSec > a.rowsPerSec ? b : a);
  try {
    await createBenchTable(sink.db, name);
    await createBenchTable(sink.db, ceilingName);
    const table = await sink.prepareTable(benchSchema('bench', name), { schema, name }, { autoEvolve: false, createTable: false });
    const consumer = uniqueName('bench');
    const upsert = async (from: number, v: number) => {
      for (let i = from; i < from + rows; i += batchSize) {
        const { sql, params } = multiRowUpsert(dialect, ceilingName, i, Math.min(from + rows, i + batchSize), v);
        await sink.db.transaction(async (tx) => { await tx.execute(sql, params); });
      }
    };
    const arrayUpsert = async (from: number, v: number) => {
      const types = ['bigint', 'varchar', 'varchar', 'varchar', 'varchar', 'varchar', 'numeric', 'numeric', 'timestamp', 'timestamp'];
      const sql = `INSERT INTO "${ceilingName}" (${BENCH_COLUMNS.join(', ')}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}) `
        + `ON CONFLICT (id) DO UPDATE SET ${BENCH_COLUMNS.filter((c) => c !== 'id').map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`;
      for (let i = from; i < from + rows; i += batchSize) {
        const batch = Array.from({ length: Math.min(from + rows, i + batchSize) - i }, (_x, j) => benchRow(i + j, v));
        await sink.db.transaction(async (tx) => { await tx.execute(sql, BENCH_COLUMNS.map((_c, k) => batch.map((b) => b[k]))); });
      }
    };
    const r: Partial<TargetThroughput> = {};
    // fieldsync and its ceiling alternate within each round, on fresh keys per round, so a
    // busy machine slows both alike; each figure is the best round
    for (let round = 0; round < rounds; round++) {
      const from = round * rows;
      const inserts = insertEvents(from, rows);
      r.inserts = best(r.inserts, await timed(rows, async () => { await applyAll(sink, table, inserts, batchSize, consumer); }));
      r.ceilingInsert = best(r.ceilingInsert, await timed(rows, () => upsert(from, 0)));
      const oneCol = updateEvents(from, rows, 1, ['email'], (id) => T0 + 1_000_000_000n + BigInt(id));
      r.update1col = best(r.update1col, await timed(rows, async () => { await applyAll(sink, table, oneCol, batchSize, consumer); }));
      r.ceilingUpdate = best(r.ceilingUpdate, await timed(rows, () => upsert(from, 1)));
      if (dialect === 'postgres') {
        // a second ceiling table round: same keys, so the first is an insert only on round one
        await sink.db.execute(`TRUNCATE "${ceilingName}"`);
        r.ceilingInsertArrays = best(r.ceilingInsertArrays, await timed(rows, () => arrayUpsert(from, 0)));
        r.ceilingUpdateArrays = best(r.ceilingUpdateArrays, await timed(rows, () => arrayUpsert(from, 1)));
      }
      // 30% older than the stored clocks (name/phone/city were stamped at insert time, T0 + id)
      const mix = updateEvents(from, rows, 2, ['name', 'phone', 'city'], (id) => (id % 10 < 3 ? T0 - 1_000_000n : T0 + 2_000_000_000n + BigInt(id)));
      let totals = { fieldsKept: 0, fieldsTaken: 0 };
      const mixed = await timed(rows, async () => { totals = await applyAll(sink, table, mix, batchSize, consumer); });
      if (!r.conflict30 || mixed.rowsPerSec > r.conflict30.rowsPerSec) r.conflict30 = { ...mixed, ...totals };
    }
    const done = r as Omit<TargetThroughput, 'insertRatio' | 'updateRatio'>;
    const ratio = (a: ScenarioResult, b: ScenarioResult) => Math.round((a.rowsPerSec / b.rowsPerSec) * 100) / 100;
    return {
      ...done,
      insertRatio: ratio(done.inserts, done.ceilingInsert),
      updateRatio: ratio(done.update1col, done.ceilingUpdate),
      ...(done.ceilingInsertArrays && done.ceilingUpdateArrays
        ? { insertRatioArrays: ratio(done.inserts, done.ceilingInsertArrays), updateRatioArrays: ratio(done.update1col, done.ceilingUpdateArrays) }
        : {}),
    };
  } finally {
    const d = sink.db.dialect;
    for (const t of [name, `${name}__fs_clock`, `${name}__fs_tomb`, ceilingName]) await sink.db.execute(`DROP TABLE IF EXISTS ${d.qualified({ schema, name: t })}`);
    if (d.name === 'postgres') await sink.db.execute(`DROP FUNCTION IF EXISTS ${d.qualified({ schema, name: `${name}__fs_stamp` })}()`);
    await sink.close();
  }
}

export async function runApplierThroughput(opts: { rows?: number; batchSize?: number; rounds?: number } = {}): Promise<ApplierThroughput> {
  const rows = opts.rows ?? scaled(10_000);
  const batchSize = opts.batchSize ?? Number(process.env.BENCH_BATCH ?? 2000);
  const rounds = opts.rounds ?? Number(process.env.BENCH_ROUNDS ?? 3);
  const before = loadavg()[0]!;
  const mariadb = await measureTarget('maria', rows, batchSize, rounds);
  const postgres = await measureTarget('pg', rows, batchSize, rounds);
  return { rows, batchSize, rounds, loadAverage: [before, loadavg()[0]!], mariadb, postgres };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = process.argv[2];
  const run = only === 'pg' || only === 'maria'
    ? measureTarget(only, scaled(10_000), Number(process.env.BENCH_BATCH ?? 2000), Number(process.env.BENCH_ROUNDS ?? 3))
    : runApplierThroughput();
  run.then((r) => {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  }).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  });
}
