/**
 * Initial snapshot of a captured table: its existing rows published as op = snapshot, in
 * chunks ordered by key (keyset pagination: `WHERE (k1, k2) > (last) ORDER BY k1, k2`).
 *
 * No gap and no lost change between snapshot and stream:
 *   - the table's outbox triggers exist before the snapshot starts (checked at connect),
 *     so every change committed after a chunk was read is in the outbox;
 *   - the stream checkpoint does not move while a snapshot runs, and the stream then
 *     publishes everything after it; changes already reflected in a chunk are re-emitted
 *     as harmless duplicates (the merge is idempotent);
 *   - each chunk is one statement, i.e. one consistent read of its key range.
 * Progress (run id, chunk number, last key) is stored in the checkpoint table after Kafka
 * acknowledged the chunk; a crash resumes after the last acknowledged chunk (rows already
 * published are newer in the stream anyway), and "done" is recorded at the end so a
 * restart never repeats a finished snapshot.
 *
 * The stamp of a snapshot row: the read's start time, lowered to the start of the oldest
 * transaction open at that moment. A write whose statement ran before the read but whose
 * transaction commits after it is not in the chunk; its own event (statement time) must
 * still beat the snapshot's older value in the merge, so the snapshot must be stamped
 * older than every such write.
 */
import type { Db } from '../dialect/dialect.js';
import type { TableChange } from '../event/change-event.js';
import { logger } from '../log.js';
import { nowMicros } from '../stamp.js';
import type { Row, TableSchema } from '../types.js';

const log = logger('capture-snapshot');

export interface SnapshotProgress {
  state: 'running' | 'done';
  run: string;
  chunk: number;
  /** encodeKey() of the last key published, absent before the first chunk. */
  lastKey?: string | undefined;
}

/** Stamp for rows read now (see above). */
export async function snapshotStampMicros(db: Db): Promise<bigint> {
  if (db.dialect.name === 'postgres') {
    const [r] = await db.query(
      `SELECT floor(extract(epoch from clock_timestamp()) * 1000000)::bigint::text AS now_us,
              floor(extract(epoch from min(xact_start)) * 1000000)::bigint::text AS oldest_us
         FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`);
    const now = BigInt(String(r?.now_us));
    const oldest = r?.oldest_us === null || r?.oldest_us === undefined ? now : BigInt(String(r.oldest_us));
    return (oldest < now ? oldest : now) - 1n;
  }
  const [n] = await db.query(`SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED) AS now_us`);
  const now = BigInt(String(n?.now_us));
  try {
    // innodb_trx.trx_started is in the server's system time zone and whole seconds
    const [r] = await db.query(`SELECT TIMESTAMPDIFF(SECOND, MIN(trx_started), CONVERT_TZ(NOW(), @@session.time_zone, 'SYSTEM')) AS age_s FROM information_schema.innodb_trx`);
    const age = r?.age_s === null || r?.age_s === undefined ? 0n : BigInt(String(r.age_s));
    return now - (age + 1n) * 1_000_000n;
  } catch (e) {
    log.warn({ err: e }, 'cannot read information_schema.innodb_trx (PROCESS privilege): snapshot rows are stamped with the read time');
    return now - 1_000_000n;
  }
}

/** Read one chunk of the table after `after` (a key row), in key order. */
export async function readChunk(db: Db, table: TableSchema, ref: { schema: string; name: string }, after: Row | undefined, limit: number): Promise<Row[]> {
  const d = db.dialect;
  const cols = table.columns.map((c) => d.quote(c.name)).join(', ');
  const keyCols = table.key.map((k) => table.columns.find((c) => c.name === k)!);
  const keyList = keyCols.map((c) => d.quote(c.name)).join(', ');
  const params: unknown[] = [];
  let where = '';
  if (after) {
    const ps = keyCols.map((c) => { params.push(d.toDb(after[c.name] ?? null, c.type)); return d.param(params.length); });
    where = keyCols.length === 1 ? `WHERE ${keyList} > ${ps[0]}` : `WHERE (${keyList}) > (${ps.join(', ')})`;
  }
  params.push(limit);
  const rows = await db.query(`SELECT ${cols} FROM ${d.qualified(ref)} ${where} ORDER BY ${keyList} LIMIT ${d.param(params.length)}`, params);
  return rows.map((r) => Object.fromEntries(table.columns.map((c) => [c.name, d.fromDb(r[c.name], c.type)])) as Row);
}

export function snapshotChanges(rows: Row[], table: TableSchema, source: string, origin: string, stamp: bigint, run: string, chunk: number): TableChange[] {
  const columns = table.columns.map((c) => c.name);
  return rows.map((row, i) => ({
    table,
    source,
    event: {
      op: 'snapshot',
      origin,
      commitTimeMicros: stamp,
      position: `snapshot:${run}:${chunk}:${i}`,
      key: Object.fromEntries(table.key.map((k) => [k, row[k] ?? null])) as Row,
      after: row,
      changed: columns,
    },
  }));
}

export function newRunId(): string {
  return nowMicros().toString(36);
}
