/**
 * The trigger-outbox change source (PostgreSQL, MySQL/MariaDB): a ChangeSource that
 *
 *   1. first publishes the initial snapshot of every configured table that has none
 *      recorded yet (snapshot.ts), chunk by chunk, progress stored per acknowledged chunk;
 *   2. then polls the outbox by sequence, in batches of `batchSize`, never beyond the safe
 *      sequence (visibility.ts explains the sequence trap), and turns rows into change
 *      events (outbox-events.ts) with position "outbox:<seq>".
 *
 * The checkpoint (last published sequence) is stored in the source's checkpoint table in
 * ack(), which the service calls only after Kafka acknowledged the whole batch; ack()
 * then has outbox rows up to the checkpoint that are older than outboxRetentionMs deleted
 * in the background.
 * A crash before ack re-reads the batch: duplicates, never losses.
 *
 * One capture entry (one process) per source database: the outbox, its checkpoint and
 * the deletion of published rows belong to that one reader.
 *
 * Schema evolution: a row JSON member that is not a known column (PostgreSQL captures new
 * columns by itself) makes the source re-introspect the table; the publisher then
 * registers the new schema version. MySQL triggers list their columns, so the MySQL source
 * re-checks the columns every schemaCheckIntervalMs and regenerates the triggers of a
 * table whose columns changed.
 */
import type { CaptureConfig, FieldsyncConfig } from '../config/schema.js';
import type { Db } from '../dialect/dialect.js';
import { mysqlOutboxTable } from '../dialect/mysql/outbox-ddl.js';
import { pgTriggerExistsSql } from '../dialect/postgres/outbox-ddl.js';
import { mysqlTriggersOfTableSql } from '../dialect/mysql/outbox-ddl.js';
import type { TableChange } from '../event/change-event.js';
import { ConfigError, DataError, errorMessage, FieldsyncError, wrap } from '../errors.js';
import { logger, type Logger } from '../log.js';
import { systemTable } from '../merge/clock-layout.js';
import type { ChangeSource, SourceBatch } from '../source.js';
import { nowMicros } from '../stamp.js';
import type { TableSchema } from '../types.js';
import { CheckpointStore, decodeKey, encodeKey } from './checkpoint-store.js';
import { installTableTriggers, openOutboxDb, outboxDbInfo, outboxSchemaOf, resolveTable, type OutboxDbInfo } from './install.js';
import { decodeOutboxRow, OUTBOX_COLUMNS, outboxRowFromArray, outboxRowFromDb, type OutboxRow } from './outbox-events.js';
import { OUTBOX_SEQUENCE, OUTBOX_TABLE, STREAM_CHECKPOINT, TRIGGER_PREFIX, snapshotCheckpoint } from './outbox-layout.js';
import { newRunId, readChunk, snapshotChanges, snapshotStampMicros, type SnapshotProgress } from './snapshot.js';
import { GapTracker, PgVisibilityBarrier } from './visibility.js';

interface CapturedTable {
  /** Name as configured (topic naming, logs). */
  configured: string;
  keyColumns: string[] | undefined;
  snapshot: boolean;
  ref: { schema: string; name: string };
  /** Schema/database the triggers record for this table. */
  outboxSchema: string;
  schema: TableSchema;
  /** Columns dropped at the source that older outbox rows still carry (their values have nowhere to go). */
  droppedColumns: Set<string>;
}

interface SnapshotItem {
  table: CapturedTable;
  /** Progress acknowledged (stored). */
  progress: SnapshotProgress;
  /** Progress after the last chunk handed out (ahead of `progress` while it is published). */
  read?: SnapshotProgress;
}

const EMPTY_ACK = async () => undefined;

export class OutboxSource implements ChangeSource {
  readonly name: string;
  private db: Db | undefined;
  private info: OutboxDbInfo | undefined;
  private store: CheckpointStore | undefined;
  private readonly tables = new Map<string, CapturedTable>();
  readonly readsAhead = true;
  /** Last sequence acknowledged (stored). */
  private checkpoint = 0n;
  /** Last sequence handed out by readBatch: ahead of the checkpoint while a batch is being published. */
  private readPosition = 0n;
  private snapshotQueue: SnapshotItem[] = [];
  private barrier: PgVisibilityBarrier | undefined;
  private gaps: GapTracker | undefined;
  private innodbTrxReadable = true;
  private prefetched: { after: bigint; rows: Promise<OutboxRow[]> } | undefined;
  private cleaning: Promise<void> | undefined;
  private cleanupAgain = false;
  private lastSchemaCheckMs = Date.now();
  private readonly log: Logger;

  constructor(private readonly cfg: FieldsyncConfig, private readonly capture: CaptureConfig) {
    this.name = capture.source;
    this.log = logger('capture-outbox', { source: capture.source });
  }

  private get outboxTable(): string {
    const info = this.info!;
    return info.dialect === 'mysql' ? mysqlOutboxTable(info.database) : systemTable(this.db!.dialect, info.fieldsyncSchema, OUTBOX_TABLE);
  }

  async connect(): Promise<void> {
    const db = openOutboxDb(this.cfg, this.capture);
    try {
      const info = await outboxDbInfo(db, this.cfg, this.capture);
      this.db = db;
      this.info = info;
      this.store = new CheckpointStore(db, info.fieldsyncSchema, info.database);
      try {
        await db.query(`SELECT seq FROM ${this.outboxTable} WHERE 1 = 0`);
      } catch (e) {
        if (isMissingRelation(e)) throw new ConfigError(`source "${this.name}": the outbox is not installed; run \`fieldsync capture install --config …\``);
        throw e;
      }
      this.tables.clear();
      for (const t of this.capture.tables) {
        const { schema, ref } = await resolveTable(db, t.name, t.keyColumns);
        const outboxSchema = outboxSchemaOf(info, ref);
        await this.checkTriggers(ref, outboxSchema, t.name);
        this.tables.set(tableKey(outboxSchema, ref.name), { configured: t.name, keyColumns: t.keyColumns, snapshot: t.snapshot, ref, outboxSchema, schema, droppedColumns: new Set() });
      }
      const cp = await this.store.get(STREAM_CHECKPOINT);
      this.checkpoint = cp ? BigInt(cp) : 0n;
      // reading starts again at what Kafka acknowledged: a batch read ahead but never
      // acknowledged (publishing failed) is read again
      this.readPosition = this.checkpoint;
      this.prefetched = undefined;
      this.snapshotQueue = [];
      for (const t of this.tables.values()) {
        if (!t.snapshot) continue;
        const saved = await this.store.get(snapshotCheckpoint(t.ref));
        const progress: SnapshotProgress = saved ? (JSON.parse(saved) as SnapshotProgress) : { state: 'running', run: newRunId(), chunk: 0 };
        if (progress.state !== 'done') this.snapshotQueue.push({ table: t, progress });
      }
      if (info.dialect === 'postgres') {
        this.barrier = new PgVisibilityBarrier(db, systemTable(db.dialect, info.fieldsyncSchema, OUTBOX_TABLE), systemTable(db.dialect, info.fieldsyncSchema, OUTBOX_SEQUENCE));
      } else {
        const [r] = await db.query('SELECT @@auto_increment_increment AS inc');
        this.gaps = new GapTracker(this.capture.outboxGapGraceMs, BigInt(String(r?.inc ?? 1)));
      }
      this.log.info({ checkpoint: this.checkpoint.toString(), tables: [...this.tables.values()].map((t) => t.configured), snapshots: this.snapshotQueue.map((s) => s.table.configured) }, 'outbox source connected');
    } catch (e) {
      this.db = undefined;
      await db.close().catch(() => undefined);
      throw e instanceof FieldsyncError ? e : wrap(`unable to connect to outbox source "${this.name}"`, e);
    }
  }

  private async checkTriggers(ref: { schema: string; name: string }, outboxSchema: string, configured: string): Promise<void> {
    const db = this.db!;
    const missing = db.dialect.name === 'postgres'
      ? (await db.query(pgTriggerExistsSql, [TRIGGER_PREFIX, outboxSchema, ref.name])).length === 0
      : (await db.query(mysqlTriggersOfTableSql, [outboxSchema, ref.name])).filter((r) => String(r.name).startsWith(TRIGGER_PREFIX)).length < 3;
    if (missing) throw new ConfigError(`source "${this.name}": table ${configured} has no outbox triggers; run \`fieldsync capture install --config …\``);
  }

  async readBatch(): Promise<SourceBatch> {
    if (!this.db) throw new FieldsyncError(`outbox source "${this.name}" is not connected`, { retriable: true });
    // a snapshot whose last chunk was handed out (not yet acknowledged) is done for reading
    const next = this.snapshotQueue.find((s) => s.read?.state !== 'done');
    if (next) return this.snapshotBatch(next);
    return this.streamBatch();
  }

  private async snapshotBatch(item: SnapshotItem): Promise<SourceBatch> {
    const { table } = item;
    const from = item.read ?? item.progress;
    const db = this.db!;
    const size = this.capture.snapshotChunkSize;
    let changes: TableChange[];
    let lastKey: string | undefined;
    try {
      const stamp = await snapshotStampMicros(db);
      const rows = await readChunk(db, table.schema, table.ref, from.lastKey ? decodeKey(from.lastKey) : undefined, size);
      changes = snapshotChanges(rows, table.schema, this.name, this.info!.origin, stamp, from.run, from.chunk);
      const last = changes[changes.length - 1];
      lastKey = last ? encodeKey(last.event.key) : from.lastKey;
    } catch (e) {
      throw wrap(`unable to read snapshot chunk ${from.chunk} of ${table.configured} from source "${this.name}"`, e);
    }
    const done = changes.length < size;
    const next: SnapshotProgress = { state: done ? 'done' : 'running', run: from.run, chunk: from.chunk + 1, lastKey };
    item.read = next;
    return {
      changes,
      ack: async () => {
        // progress is stored only after Kafka acknowledged the chunk
        await this.store!.set(snapshotCheckpoint(table.ref), JSON.stringify(next));
        item.progress = next;
        if (done) {
          this.snapshotQueue = this.snapshotQueue.filter((s) => s !== item);
          this.log.info({ table: table.configured, chunks: next.chunk }, 'initial snapshot done');
        }
      },
    };
  }

  /** Rows after sequence `after` that are safe to publish (see visibility.ts), at most batchSize. */
  private async readOutboxRows(after: bigint): Promise<OutboxRow[]> {
    const db = this.db!;
    const d = db.dialect;
    const cols = OUTBOX_COLUMNS.join(', ');
    if (this.barrier) {
      // rows up to a sequence once found safe stay safe: while working through a backlog the
      // barrier is asked again only when the batch would reach beyond what it last allowed
      const wanted = after + BigInt(this.capture.batchSize);
      // (our own DELETE of published rows runs alongside: the barrier knows it is no writer)
      const safe = await this.barrier.safeSeq(wanted);
      if (safe <= after) return [];
      return this.selectRows(`SELECT ${cols} FROM ${this.outboxTable} WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`,
        [after.toString(), safe.toString(), this.capture.batchSize]);
    }
    // never concurrently with our own DELETE: its transaction would count as a gap holder
    await this.cleaning;
    const gaps = this.gaps!;
    // holders of known gaps are checked BEFORE the read: a gap still missing afterwards is final
    if (gaps.openGaps().length > 0) {
      const running = await this.innodbTransactions();
      if (running) gaps.holdersGone(running);
    }
    const rows = await this.selectRows(`SELECT ${cols} FROM ${this.outboxTable} WHERE seq > ${d.param(1)} ORDER BY seq LIMIT ${d.param(2)}`,
      [after.toString(), this.capture.batchSize]);
    const { count, newGaps } = gaps.accept(after, rows.map((r) => r.seq), Date.now());
    if (newGaps.length > 0) {
      const running = await this.innodbTransactions();
      for (const g of newGaps) {
        g.holders = running ? [...running] : undefined;
        if (running && running.size === 0) g.holdersEnded = true;
      }
      this.log.debug({ gaps: newGaps.map((g) => `${g.lo}-${g.hi}`) }, 'outbox sequence gap: waiting for in-flight transactions');
    }
    return rows.slice(0, count);
  }

  /** Outbox rows of a SELECT of OUTBOX_COLUMNS, read as arrays where the driver can (no object per row). */
  private async selectRows(sql: string, params: unknown[]): Promise<OutboxRow[]> {
    const db = this.db!;
    if (db.queryArrays) return (await db.queryArrays(sql, params)).map(outboxRowFromArray);
    return (await db.query(sql, params)).map(outboxRowFromDb);
  }

  /** Ids of running InnoDB transactions, or undefined when innodb_trx is not readable. */
  private async innodbTransactions(): Promise<Set<string> | undefined> {
    if (!this.innodbTrxReadable) return undefined;
    try {
      const rows = await this.db!.query('SELECT trx_id FROM information_schema.innodb_trx');
      return new Set(rows.map((r) => String(r.trx_id)));
    } catch (e) {
      this.innodbTrxReadable = false;
      this.log.warn({ err: e }, `cannot read information_schema.innodb_trx (PROCESS privilege): outbox gaps are passed after outboxGapGraceMs (${this.capture.outboxGapGraceMs} ms)`);
      return undefined;
    }
  }

  private async streamBatch(): Promise<SourceBatch> {
    if (this.info!.dialect === 'mysql' && Date.now() - this.lastSchemaCheckMs >= this.capture.schemaCheckIntervalMs) {
      await this.checkMysqlColumns();
    }
    let rows: OutboxRow[];
    const prefetched = this.prefetched;
    this.prefetched = undefined;
    try {
      // a read-ahead is used only if it starts exactly at the read position
      rows = prefetched && prefetched.after === this.readPosition ? await prefetched.rows : await this.readOutboxRows(this.readPosition);
    } catch (e) {
      throw wrap(`unable to read the outbox of source "${this.name}"`, e);
    }
    if (rows.length === 0) return { changes: [], ack: EMPTY_ACK };
    const changes: TableChange[] = [];
    for (const r of rows) {
      const t = this.tables.get(tableKey(r.tableSchema, r.tableName));
      if (!t) continue; // a table whose triggers remain but which is no longer configured
      // the usual row decodes synchronously; a row that needs the table re-read takes decode()
      const known = this.decodeKnown(r, t);
      const decoded = known ?? await this.decode(r, t);
      for (const c of decoded) changes.push(c);
    }
    const position = rows[rows.length - 1]!.seq;
    this.readPosition = position;
    if (rows.length >= this.capture.batchSize) {
      // read ahead: the next rows load while this batch is decoded and published; the
      // checkpoint still moves only in ack()
      const next = this.readOutboxRows(position);
      next.catch(() => undefined); // a failed read-ahead is simply not used; the next poll reads again
      this.prefetched = { after: position, rows: next };
    }
    return {
      changes,
      ack: async () => {
        // the checkpoint moves only here, i.e. after Kafka acknowledged every event up to it
        // (batches are acknowledged in the order they were read: see ChangeSource.readsAhead)
        await this.store!.set(STREAM_CHECKPOINT, position.toString());
        this.checkpoint = position;
        this.scheduleCleanup();
      },
    };
  }

  /** decode() without a promise, or undefined when the row needs decode()'s re-introspection. */
  private decodeKnown(r: OutboxRow, t: CapturedTable): TableChange[] | undefined {
    try {
      const decoded = decodeOutboxRow(r, t.schema, this.name, this.info!.dialect);
      return decoded.unknownColumns.every((c) => t.droppedColumns.has(c)) ? decoded.changes : undefined;
    } catch (e) {
      if (e instanceof DataError) return undefined;
      throw e;
    }
  }

  /**
   * Decode one outbox row. A member that is not a known column, or a value that does not
   * decode with the known type, means the table changed: re-introspect once and decode
   * again (the publisher then registers the new schema version). Members of columns that
   * no longer exist at all (dropped after the row was written) are ignored with a warning:
   * the source has no such column any more. Anything else fails loudly — never skipped.
   */
  private async decode(r: OutboxRow, t: CapturedTable): Promise<TableChange[]> {
    const dialect = this.info!.dialect;
    const fresh = (d: ReturnType<typeof decodeOutboxRow>) => d.unknownColumns.filter((c) => !t.droppedColumns.has(c));
    try {
      const decoded = decodeOutboxRow(r, t.schema, this.name, dialect);
      if (fresh(decoded).length === 0) return decoded.changes;
      await this.refreshTable(t, fresh(decoded));
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      await this.refreshTable(t, [`(value did not decode: ${e.message})`]);
    }
    const decoded = decodeOutboxRow(r, t.schema, this.name, dialect);
    const gone = fresh(decoded);
    if (gone.length > 0) {
      gone.forEach((c) => t.droppedColumns.add(c));
      this.log.warn({ table: t.configured, columns: gone, seq: r.seq.toString() }, `outbox rows of ${t.configured} carry columns the table no longer has (${gone.join(', ')}): their values are not published`);
    }
    return decoded.changes;
  }

  /** Re-introspect a table that gained columns; the publisher registers the new schema. */
  private async refreshTable(t: CapturedTable, reason: string[]): Promise<void> {
    const { schema } = await resolveTable(this.db!, t.configured, t.keyColumns);
    this.log.info({ table: t.configured, columns: reason }, 'table gained columns: schema refreshed');
    t.schema = schema;
  }

  /** MySQL: regenerate the triggers of tables whose columns changed (new columns are then captured). */
  private async checkMysqlColumns(): Promise<void> {
    this.lastSchemaCheckMs = Date.now();
    for (const t of this.tables.values()) {
      const { schema } = await resolveTable(this.db!, t.configured, t.keyColumns);
      if (JSON.stringify(schema.columns) === JSON.stringify(t.schema.columns)) continue;
      await installTableTriggers(this.db!, this.info!, schema, t.ref);
      this.log.info({ table: t.configured, columns: schema.columns.map((c) => c.name) }, 'table columns changed: outbox triggers regenerated');
      t.schema = schema;
    }
  }

  /**
   * Delete published rows in the background, one deletion at a time, off the publishing
   * path: it only ever touches rows at or below the stored checkpoint, and a failure loses
   * nothing (the next acknowledgement tries again).
   */
  private scheduleCleanup(): void {
    if (this.cleaning) {
      // one is running: run once more when it ends, so rows up to the newest checkpoint go too
      this.cleanupAgain = true;
      return;
    }
    this.cleanupAgain = false;
    this.cleaning = this.deleteOldRows()
      .catch((e: unknown) => this.log.warn({ err: e }, `${errorMessage(e)} (retried after the next batch)`))
      .finally(() => {
        this.cleaning = undefined;
        if (this.cleanupAgain && this.db) this.scheduleCleanup();
      });
  }

  private async deleteOldRows(): Promise<void> {
    // both taken now: close() clears this.db while a deletion may still be running
    const db = this.db!;
    const outbox = this.outboxTable;
    const cutoff = (nowMicros() - BigInt(this.capture.outboxRetentionMs) * 1000n).toString();
    const limit = this.capture.batchSize * 2;
    let deleted = 0;
    try {
      if (db.dialect.name === 'postgres') {
        const barrier = this.barrier!;
        let done: (() => void) | undefined;
        try {
          await db.transaction(async (tx) => {
            const [me] = await tx.query('SELECT pg_backend_pid() AS pid');
            done = barrier.notAWriter(Number(me?.pid));
            deleted = await tx.execute(`DELETE FROM ${outbox} WHERE seq IN (SELECT seq FROM ${outbox} WHERE seq <= $1 AND commit_micros < $2 ORDER BY seq LIMIT $3)`,
              [this.checkpoint.toString(), cutoff, limit]);
          });
        } finally {
          done?.(); // only after the transaction ended: its lock is gone by then
        }
      } else {
        deleted = await db.execute(`DELETE FROM ${outbox} WHERE seq <= ? AND commit_micros < ? ORDER BY seq LIMIT ?`, [this.checkpoint.toString(), cutoff, limit]);
      }
    } catch (e) {
      throw wrap(`unable to delete published outbox rows of source "${this.name}"`, e);
    }
    // A full deletion may have left more behind (a backlog published faster than it was
    // deleted): go on without waiting for another acknowledgement, which a source that has
    // gone quiet would never send, and which would leave published rows in the outbox.
    if (deleted >= limit) this.cleanupAgain = true;
  }

  async lagSeconds(): Promise<number | undefined> {
    if (!this.db) return undefined;
    const d = this.db.dialect;
    const rows = await this.db.query(`SELECT commit_micros FROM ${this.outboxTable} WHERE seq > ${d.param(1)} ORDER BY seq LIMIT 1`, [this.checkpoint.toString()]);
    const first = rows[0];
    if (!first) return 0;
    return Math.max(0, Number(nowMicros() - BigInt(String(first.commit_micros))) / 1e6);
  }

  /** The checkpoint as last stored (tests and logs). */
  get position(): bigint {
    return this.checkpoint;
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = undefined;
    const pending = this.prefetched?.rows;
    this.prefetched = undefined;
    await pending?.catch(() => undefined);
    while (this.cleaning) await this.cleaning;
    await db?.close();
  }
}

function tableKey(schema: string, name: string): string {
  return `${schema}\u0000${name}`;
}

function isMissingRelation(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === '42P01' || code === 'ER_NO_SUCH_TABLE' || code === '3F000';
}
