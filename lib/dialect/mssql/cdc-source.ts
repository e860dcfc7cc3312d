/**
 * SqlServerCdcSource: streams SQL Server change data capture (CDC) into change events,
 * Debezium-style, one poll at a time.
 *
 * Per configured table, per poll (readBatch):
 *   1. Resolve the table's capture instances (cdc.change_tables) and pick the one for
 *      the saved position (CaptureInstanceResolver): normally the only one; with two
 *      (a DDL change created a second), the old one is read up to the new one's
 *      start_lsn (exclusive), then the source switches to the new one from start_lsn —
 *      no gap, no duplicate.
 *   2. Read the LSN window (LsnWindowReader): min LSN of the instance, max LSN, `from` =
 *      sys.fn_cdc_increment_lsn(saved commit LSN) (or the saved LSN itself when the
 *      saved transaction was cut by a batch limit, or the min LSN for a new table), and
 *      check it BEFORE querying: from < min → cleanup gap (metric
 *      fieldsync_capture_position_gap_total, an error log, and onCdcGap: `stop` throws a
 *      non-retriable error naming the table, `resnapshot` re-reads the table as
 *      snapshot events and continues after the max LSN taken at its start); from > to →
 *      empty window.
 *   3. Read up to batchSize + 1 rows of cdc.fn_cdc_get_all_changes_<instance>(from, to,
 *      N'all update old') with their commit time (cdc.lsn_time_mapping), ordered by
 *      (__$start_lsn, __$seqval, __$operation), and map them (CdcRowMapper: operations
 *      1–4, update mask, LOB rules, server-local time → UTC with the offset read in this
 *      poll).
 *   4. The new position: if the window was read to its end, (to, complete) — also when
 *      it held no rows, so an idle table keeps up with the cleanup job; otherwise the
 *      last complete (commit LSN, seqval) group read, with `complete` telling whether
 *      its transaction continues. Row groups are never split (a row 3 stays with its 4),
 *      and a transaction cut by the limit resumes at its commit LSN after that group.
 *
 * Positions advance in memory per batch and are stored (CdcOffsetStore, a table in the
 * source's fieldsync schema) only in ack(), after Kafka acknowledged the batch. If
 * readBatch is called again while the previous batch was not acknowledged (publishing
 * failed), the source rewinds to the acknowledged positions and reads that batch again:
 * it never runs ahead of Kafka by more than one batch, so a restart or a failure
 * re-emits at most the last unacknowledged batch (harmless duplicates), never loses.
 * A poll whose batch carries no event but moved positions (empty windows, instance
 * switches) stores them at once: nothing is waiting for Kafka.
 *
 * New tables: with `snapshot: true` (the default) the table is first read as snapshot
 * events (CdcSnapshotReader), then streamed; otherwise streamed from the instance's min
 * LSN. All SQL is behind CdcQueries (cdc-queries.ts), so the logic here is unit-tested
 * on SQL-Server-shaped rows.
 */
import type { CaptureConfig, FieldsyncConfig } from '../../config/schema.js';
import { FieldsyncError } from '../../errors.js';
import type { TableChange } from '../../event/change-event.js';
import { logger } from '../../log.js';
import { capturePositionGap, snapshotRows } from '../../observability/metrics.js';
import type { ChangeSource, SourceBatch } from '../../source.js';
import type { Db } from '../dialect.js';
import { splitTableName } from '../introspect.js';
import { CaptureInstanceResolver, type CaptureInstance } from './capture-instance.js';
import { type CdcOffset, type StreamOffset, streamStart } from './cdc-offset.js';
import { type CdcOffsetStore, MssqlCdcOffsetStore } from './cdc-offset-store.js';
import { type CdcQueries, MssqlCdcQueries } from './cdc-queries.js';
import { CdcRowMapper, type CdcRow, parseCdcRow, sameGroup } from './cdc-rows.js';
import { CdcSnapshotReader } from './cdc-snapshot.js';
import { connectMssql } from './db.js';
import { asLsn, compareLsn, lsnToHex } from './lsn.js';
import { LsnWindowReader } from './lsn-window.js';

/** Injected collaborators (unit tests); by default the source opens its own SQL Server pool. */
export interface CdcSourceDeps {
  queries?: CdcQueries;
  store?: CdcOffsetStore;
}

interface TableState {
  key: string;
  schema: string;
  name: string;
  snapshot: boolean;
  /** Configured capture instance, if given explicitly. */
  instance: string | undefined;
  resolver: CaptureInstanceResolver;
  /** Position stored (acknowledged); undefined for a table never acknowledged. */
  acked: CdcOffset | undefined;
  /** Position read up to (runs at most one batch ahead of `acked`). */
  read: CdcOffset | undefined;
}

interface TableRead {
  changes: TableChange[];
  /** The position after these changes; undefined when it did not move. */
  offset: CdcOffset | undefined;
}

const log = logger('mssql-cdc');

/** Windows, switches and gap decisions one table may go through in one poll. */
const MAX_STEPS_PER_POLL = 8;

export class SqlServerCdcSource implements ChangeSource {
  readonly name: string;
  private readonly origin: string;
  private db: Db | undefined;
  private queries: CdcQueries | undefined;
  private store: CdcOffsetStore | undefined;
  private tables: TableState[] = [];
  private windowReader: LsnWindowReader | undefined;
  private snapshotReader: CdcSnapshotReader | undefined;
  /** Generation of the last batch handed out; an ack of an older generation is stale. */
  private generation = 0;
  private pendingGeneration: number | undefined;
  private nextTable = 0;

  constructor(
    private readonly config: FieldsyncConfig,
    private readonly capture: CaptureConfig,
    private readonly deps: CdcSourceDeps = {},
  ) {
    const db = config.databases[capture.source];
    if (!db) throw new FieldsyncError(`capture source "${capture.source}" is not in databases`);
    if (db.dialect !== 'mssql') throw new FieldsyncError(`capture source "${capture.source}" uses mode cdc, which needs dialect mssql (it is ${db.dialect})`);
    this.name = capture.source;
    this.origin = db.origin ?? capture.source;
  }

  async connect(): Promise<void> {
    const dbConfig = this.config.databases[this.name]!;
    if (this.deps.queries) {
      this.queries = this.deps.queries;
    } else {
      this.db = await connectMssql(dbConfig.url, { poolSize: dbConfig.poolSize });
      this.queries = new MssqlCdcQueries(this.db);
    }
    if (this.deps.store) {
      this.store = this.deps.store;
    } else {
      if (!this.db) throw new FieldsyncError('a CDC source with injected queries needs an injected offset store');
      const store = new MssqlCdcOffsetStore(this.db, dbConfig.fieldsyncSchema, this.name);
      await store.ensure();
      this.store = store;
    }
    this.windowReader = new LsnWindowReader(this.queries);
    this.snapshotReader = new CdcSnapshotReader(this.queries, this.name, this.origin, this.capture.snapshotChunkSize);
    this.tables = [];
    this.pendingGeneration = undefined; // positions are reloaded from the store below
    for (const t of this.capture.tables) {
      const { schema, name } = splitTableName(t.name, 'dbo');
      const key = `${schema}.${name}`;
      const acked = await this.store.load(key);
      this.tables.push({
        key, schema, name, snapshot: t.snapshot, instance: t.captureInstance,
        resolver: new CaptureInstanceResolver(this.queries, schema, name, t.keyColumns),
        acked, read: acked,
      });
      log.info({ source: this.name, table: key, offset: acked ? describe(acked) : 'none' }, 'CDC table loaded');
    }
  }

  async readBatch(signal?: AbortSignal): Promise<SourceBatch> {
    if (!this.store) throw new Error('SqlServerCdcSource.readBatch called before connect');
    if (this.pendingGeneration !== undefined) {
      // The previous batch was never acknowledged: read it again from the stored positions.
      log.warn({ source: this.name }, 'previous CDC batch was not acknowledged: re-reading from the stored positions');
      for (const t of this.tables) t.read = t.acked;
      this.pendingGeneration = undefined;
    }
    const limit = this.capture.batchSize;
    const changes: TableChange[] = [];
    const moved = new Map<string, CdcOffset>();
    const movedStates: TableState[] = [];
    // Round-robin start so that a busy table cannot starve the others.
    const n = this.tables.length;
    const start = this.nextTable;
    this.nextTable = n ? (start + 1) % n : 0;
    for (let i = 0; i < n && changes.length < limit; i++) {
      if (signal?.aborted) break;
      const t = this.tables[(start + i) % n]!;
      const r = await this.readTable(t, limit - changes.length);
      changes.push(...r.changes);
      if (r.offset) {
        t.read = r.offset;
        moved.set(t.key, r.offset);
        movedStates.push(t);
      }
    }
    const generation = ++this.generation;
    if (changes.length === 0) {
      // Nothing for Kafka to acknowledge: store moved positions (idle windows) now.
      if (moved.size) await this.store.save(moved);
      for (const t of movedStates) t.acked = t.read;
      return { changes, ack: async () => undefined };
    }
    this.pendingGeneration = generation;
    return {
      changes,
      ack: async () => {
        if (this.pendingGeneration !== generation) return; // stale: that batch was re-read
        await this.store!.save(moved);
        for (const [key, o] of moved) {
          const t = this.tables.find((s) => s.key === key)!;
          t.acked = o;
        }
        for (const c of changes) if (c.event.op === 'snapshot') snapshotRows.inc({ source: this.name, table: `${c.table.schema}.${c.table.name}` });
        this.pendingGeneration = undefined;
      },
    };
  }

  async close(): Promise<void> {
    await this.db?.close();
    this.db = undefined;
  }

  /** Read one table: snapshot chunk or stream window, following instance switches. */
  private async readTable(t: TableState, limit: number): Promise<TableRead> {
    let offset = t.read ?? (await this.initialOffset(t));
    let moved = t.read === undefined;
    // A poll may switch instances, start a re-snapshot, or pass windows holding no change
    // of this table (other tables' transactions, the old instance before a switch) before
    // it finds events: a bounded number of steps, then the position reached is returned.
    for (let step = 0; step < MAX_STEPS_PER_POLL; step++) {
      if (offset.phase === 'snapshot') {
        const meta = await t.resolver.describe(offset.instance);
        const r = await this.snapshotReader!.readChunk(meta, offset, limit);
        return { changes: r.changes.map((c) => ({ ...c, table: meta.table })), offset: r.offset };
      }
      const instances = await t.resolver.require();
      const current = CaptureInstanceResolver.forPosition(instances, offset.commitLsn, offset.instance ?? t.instance ?? null);
      const successor = CaptureInstanceResolver.successor(instances, current);
      const w = await this.windowReader!.read(current.name, offset, successor?.startLsn ?? null);
      if (w.gap) {
        t.resolver.invalidate();
        offset = await this.onGap(t, offset, w.from, w.minLsn, current, instances);
        moved = true;
        continue;
      }
      if (w.switchReady && successor && w.switchPrev) {
        log.info({ source: this.name, table: t.key, from: current.name, to: successor.name, at: lsnToHex(successor.startLsn) }, 'switching to the newer CDC capture instance');
        offset = { phase: 'stream', instance: successor.name, commitLsn: w.switchPrev, seqval: null, serial: 0, complete: true };
        moved = true;
        continue;
      }
      if (w.empty) {
        if (offset.instance !== current.name) { offset = { ...offset, instance: current.name }; moved = true; }
        return { changes: [], offset: moved ? offset : undefined };
      }
      const r = await this.readWindow(t, offset, current.name, w.from, await this.boundedTo(w.from, w.to, limit), w.utcOffsetMinutes, limit);
      if (r.changes.length > 0 || !r.offset) return r;
      offset = r.offset as StreamOffset;
      moved = true;
    }
    return { changes: [], offset: moved ? offset : undefined };
  }

  private async readWindow(t: TableState, offset: StreamOffset, instance: string, from: Buffer, to: Buffer, utcOffsetMinutes: number, limit: number): Promise<TableRead> {
    const meta = await t.resolver.describe(instance);
    // At least 5 rows: an inclusive resume re-reads its group (≤ 2 rows) and must still
    // see one more complete group (≤ 2 rows) plus the row that shows the cut.
    const rowLimit = Math.max(limit + 1, 5);
    const inclusive = offset.groupDone !== true;
    const resumeAt = !offset.complete && offset.commitLsn ? { lsn: offset.commitLsn, seqval: offset.seqval, inclusive } : null;
    const raw = await this.queries!.changes({
      instance, from, to, resumeAt, limit: rowLimit,
      columns: meta.columns.map((c) => ({ name: c.spec.name, type: c.spec.type })),
    });
    let rows: CdcRow[] = raw.map(parseCdcRow);
    const truncated = raw.length >= rowLimit;
    let firstUnread: CdcRow | undefined;
    if (truncated) {
      // The last group may continue beyond the limit: leave it for the next poll.
      const last = rows[rows.length - 1]!;
      let cut = rows.length;
      while (cut > 0 && sameGroup(rows[cut - 1]!, last)) cut--;
      if (cut === 0) throw new FieldsyncError(`capture of table ${t.key}: ${rowLimit} CDC rows share one (LSN, seqval); raise batchSize`);
      firstUnread = rows[cut];
      rows = rows.slice(0, cut);
    }
    let events = new CdcRowMapper(meta, this.origin).map(rows, utcOffsetMinutes);
    if (resumeAt && offset.seqval && inclusive) {
      // Resuming inside a group: skip the events already emitted (serial ≤ saved serial).
      const { commitLsn, seqval, serial } = offset;
      events = events.filter((e) => !(e.lsn.equals(commitLsn!) && e.seqval.equals(seqval!) && e.serial <= serial));
    }
    // The last group read, and the commit LSN of the first thing not read (when the read stopped early).
    let lastGroup: { lsn: Buffer; seqval: Buffer } | undefined = truncated ? rows[rows.length - 1]! : undefined;
    let nextLsn = firstUnread?.lsn;
    if (events.length > limit) {
      // More events than the batch takes: stop after the group of the limit-th event.
      let end = limit;
      const last = events[end - 1]!;
      while (end < events.length && events[end]!.lsn.equals(last.lsn) && events[end]!.seqval.equals(last.seqval)) end++;
      if (end < events.length) {
        nextLsn = events[end]!.lsn;
        lastGroup = { lsn: last.lsn, seqval: last.seqval };
        events = events.slice(0, end);
      }
    }
    const changes: TableChange[] = events.map((e) => ({ table: meta.table, source: this.name, event: e.event }));
    if (!lastGroup || !nextLsn) {
      // The whole window was read: the position is `to`, also when it held no rows.
      return { changes, offset: { phase: 'stream', instance, commitLsn: to, seqval: null, serial: 0, complete: true } };
    }
    const lastSerial = events.length ? events[events.length - 1]!.serial : offset.serial;
    return {
      changes,
      offset: {
        phase: 'stream', instance, commitLsn: lastGroup.lsn, seqval: lastGroup.seqval, serial: lastSerial, groupDone: true,
        // The transaction is complete when the next unread change belongs to a later one.
        complete: !nextLsn.equals(lastGroup.lsn),
      },
    };
  }

  /**
   * Cap a window at the commit LSN of its `limit`-th transaction, so a backlog is read
   * (and sorted by SQL Server) a bounded slice at a time. A window with fewer
   * transactions keeps its `to`, so an idle table still moves up to the max LSN.
   */
  private async boundedTo(from: Buffer, to: Buffer, limit: number): Promise<Buffer> {
    const r = (await this.queries!.windowEnd(from, to, limit))[0];
    if (!r || Number(r.transactions) < limit || r.window_end === null || r.window_end === undefined) return to;
    const end = asLsn(r.window_end, 'window end LSN');
    return compareLsn(end, to) < 0 ? end : to;
  }

  /**
   * Seconds between the newest captured transaction and the oldest acknowledged stream
   * position of any table (0 when caught up); undefined before any table streams.
   */
  async lagSeconds(): Promise<number | undefined> {
    if (!this.queries) return undefined;
    let oldest: Buffer | undefined;
    for (const t of this.tables) {
      const o = t.acked;
      if (o?.phase !== 'stream' || !o.commitLsn) continue;
      if (!oldest || compareLsn(o.commitLsn, oldest) < 0) oldest = o.commitLsn;
    }
    if (!oldest) return undefined;
    const r = (await this.queries.lagTimes(oldest))[0];
    if (!(r?.max_time instanceof Date)) return 0; // nothing captured yet
    if (!(r.acked_time instanceof Date)) return undefined; // position older than every mapping row: unknown
    return Math.max(0, (r.max_time.getTime() - r.acked_time.getTime()) / 1000);
  }

  private async initialOffset(t: TableState): Promise<CdcOffset> {
    const instances = await t.resolver.require();
    if (t.instance && !instances.some((i) => i.name === t.instance)) {
      throw new FieldsyncError(`capture instance ${t.instance} configured for ${t.key} does not exist (the table has: ${instances.map((i) => i.name).join(', ')})`);
    }
    if (!t.snapshot) return streamStart(t.instance ?? instances[0]!.name);
    // A snapshot reads today's columns: the configured instance, else the newest.
    const instance = t.instance ?? instances[instances.length - 1]!.name;
    log.info({ source: this.name, table: t.key, instance }, 'new CDC table: snapshot first');
    return this.snapshotReader!.start(instance, 'initial');
  }

  private async onGap(t: TableState, offset: StreamOffset, from: Buffer, min: Buffer, current: CaptureInstance, instances: CaptureInstance[]): Promise<CdcOffset> {
    capturePositionGap.inc({ source: this.name, table: t.key });
    const detail = {
      source: this.name, table: t.key, instance: current.name,
      savedLsn: offset.commitLsn ? lsnToHex(offset.commitLsn) : null, fromLsn: lsnToHex(from), minLsn: lsnToHex(min), onCdcGap: this.capture.onCdcGap,
    };
    log.error(detail, 'CDC position gap: the cleanup job removed changes that were never published');
    if (this.capture.onCdcGap === 'stop') {
      throw new FieldsyncError(
        `capture of table ${t.key} stopped: its saved CDC position 0x${detail.savedLsn} is older than the minimum LSN 0x${detail.minLsn} of capture instance ${current.name} ` +
        '(the CDC cleanup job removed changes that were never published). Set onCdcGap: resnapshot to re-read the table, or lengthen the CDC retention.',
        { retriable: false },
      );
    }
    const newest = instances[instances.length - 1]!;
    log.warn({ ...detail, snapshotInstance: newest.name }, 'CDC position gap: re-snapshotting the table (onCdcGap = resnapshot)');
    return this.snapshotReader!.start(newest.name, 'gap');
  }
}

function describe(o: CdcOffset): string {
  if (o.phase === 'snapshot') return `snapshot ${o.run} chunk ${o.chunk} of ${o.instance}`;
  return `${o.instance ?? '?'} @ ${o.commitLsn ? lsnToHex(o.commitLsn) : 'min'}${o.complete ? '' : ` seqval ${o.seqval ? lsnToHex(o.seqval) : '-'} #${o.serial}`}`;
}
