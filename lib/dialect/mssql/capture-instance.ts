/**
 * Finds a table's capture instances and describes one of them.
 *
 * A table has one or two capture instances (SQL Server allows two, so that a DDL change
 * can be followed: a new instance with the new columns is created while the old one
 * keeps capturing). `cdc.change_tables.start_lsn` is where an instance's change data
 * begins (the cleanup job moves it forward; it is also what sys.fn_cdc_get_min_lsn
 * returns). An instance whose start_lsn is still NULL has no low endpoint yet and is
 * not read until it has one.
 *
 * Choosing the instance for a position p (the saved commit LSN):
 *   the newest instance whose start_lsn ≤ p, or the instance named in the offset if it
 *   still exists and is newer (that is how a switch is remembered); with none, the
 *   oldest instance (the gap check then decides whether changes were lost).
 * The source reads that instance up to (excluding) the start_lsn of the next newer
 * instance, then switches: no gap (the old instance captured everything before the new
 * one's start) and no duplicate (the new one is read from its start on).
 *
 * `describe` turns an instance into the TableSchema events carry (captured columns
 * only, in ordinal order, LOB columns flagged) plus the ordinals the update-mask
 * decoder needs. Key columns: the configured keyColumns, else the instance's unique
 * index (cdc.index_columns, normally the primary key); a table with neither is rejected.
 */
import { DataError, FieldsyncError } from '../../errors.js';
import { checkColumnNames, type ColumnSpec, type TableSchema } from '../../types.js';
import type { DbRow, NativeColumn } from '../dialect.js';
import type { CdcQueries } from './cdc-queries.js';
import { type LobKind, lobKindOf, mssqlDialect } from './dialect.js';
import { type Lsn, asLsn, compareLsn } from './lsn.js';
import { UpdateMaskDecoder } from './update-mask.js';

export interface CaptureInstance {
  name: string;
  startLsn: Lsn;
  createDate: Date | null;
}

export interface CdcColumn {
  spec: ColumnSpec;
  ordinal: number;
  lob: LobKind;
}

export interface InstanceMeta {
  instance: string;
  table: TableSchema;
  columns: CdcColumn[];
  decoder: UpdateMaskDecoder;
}

/** How long a table's single-instance list is reused (see require). */
export const INSTANCE_LIST_TTL_MS = 10_000;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export class CaptureInstanceResolver {
  private readonly described = new Map<string, InstanceMeta>();
  private cached: { instances: CaptureInstance[]; until: number } | undefined;

  constructor(
    private readonly queries: CdcQueries,
    private readonly schema: string,
    private readonly table: string,
    private readonly keyColumns: readonly string[] | undefined,
  ) {}

  /** Instances with an established start LSN, oldest first (by start LSN), and how many still have none. */
  async list(): Promise<{ instances: CaptureInstance[]; pending: string[] }> {
    const rows = await this.queries.listInstances(this.schema, this.table);
    const instances: CaptureInstance[] = [];
    const pending: string[] = [];
    for (const r of rows) {
      if (r.start_lsn === null || r.start_lsn === undefined) { pending.push(String(r.capture_instance)); continue; }
      instances.push({ name: String(r.capture_instance), startLsn: asLsn(r.start_lsn, `start_lsn of capture instance ${String(r.capture_instance)}`), createDate: r.create_date instanceof Date ? r.create_date : null });
    }
    instances.sort((a, b) => compareLsn(a.startLsn, b.startLsn) || (a.createDate?.getTime() ?? 0) - (b.createDate?.getTime() ?? 0));
    return { instances, pending };
  }

  /**
   * The table's instances, or an error: non-retriable when CDC is not enabled for the
   * table (with the command to enable it), retriable while its only instance has no
   * start LSN yet (the capture job has not run since sys.sp_cdc_enable_table).
   *
   * A list with a single instance is reused for INSTANCE_LIST_TTL_MS: idle tables then
   * cost one statement per poll. A new instance (after a DDL change) is noticed within
   * that time, which is harmless — the old instance keeps capturing and the switch is
   * made at the new one's start LSN whenever it is noticed. A list with two instances is
   * always read fresh, so the switch uses the current start LSN.
   */
  async require(now = Date.now()): Promise<CaptureInstance[]> {
    if (this.cached && this.cached.until > now) return this.cached.instances;
    const { instances, pending } = await this.list();
    if (instances.length === 0) {
      if (pending.length) {
        throw new FieldsyncError(`capture instance ${pending.join(', ')} of table ${this.schema}.${this.table} has no start LSN yet (the CDC capture job has not run since it was enabled; is SQL Server Agent running?)`, { retriable: true });
      }
      throw new FieldsyncError(`table ${this.schema}.${this.table} has no CDC capture instance: enable it with sys.sp_cdc_enable_table (and sys.sp_cdc_enable_db for the database)`);
    }
    this.cached = instances.length === 1 ? { instances, until: now + INSTANCE_LIST_TTL_MS } : undefined;
    return instances;
  }

  /** Forget the cached list (after a switch or a gap the next poll must see the current state). */
  invalidate(): void {
    this.cached = undefined;
  }

  /** The instance to read at a position (see the module comment). */
  static forPosition(instances: readonly CaptureInstance[], position: Lsn | null, named: string | null): CaptureInstance {
    const byName = named ? instances.find((i) => i.name === named) : undefined;
    if (position === null) return byName ?? instances[0]!;
    let chosen: CaptureInstance | undefined;
    for (const i of instances) if (compareLsn(i.startLsn, position) <= 0) chosen = i;
    if (byName && (!chosen || instances.indexOf(byName) > instances.indexOf(chosen))) chosen = byName;
    return chosen ?? instances[0]!;
  }

  /** The next newer instance after `current`, if any. */
  static successor(instances: readonly CaptureInstance[], current: CaptureInstance): CaptureInstance | undefined {
    // `instances` is sorted by (start_lsn, create_date): the next one is the newer one,
    // also when the cleanup job moved both start LSNs to the same low watermark.
    const at = instances.findIndex((i) => i.name === current.name);
    return at < 0 ? undefined : instances[at + 1];
  }

  /** The columns, key and mask decoder of an instance (cached: an instance's columns never change). */
  async describe(instance: string): Promise<InstanceMeta> {
    const cached = this.described.get(instance);
    if (cached) return cached;
    const rows = await this.queries.capturedColumns(instance);
    if (rows.length === 0) throw new FieldsyncError(`capture instance ${instance} has no captured columns (dropped, or the login cannot read the cdc schema)`, { retriable: true });
    const columns = rows.map((r) => CaptureInstanceResolver.column(r));
    let key = this.keyColumns ? [...this.keyColumns] : (await this.queries.indexColumns(instance)).map((r) => String(r.column_name));
    if (key.length === 0) {
      throw new DataError(`table ${this.schema}.${this.table} (capture instance ${instance}) has no primary key or CDC index: give keyColumns for it in the config`);
    }
    for (const k of key) {
      if (!columns.some((c) => c.spec.name === k)) throw new DataError(`table ${this.schema}.${this.table}: key column "${k}" is not captured by instance ${instance}`);
    }
    key = key.slice();
    checkColumnNames(`${this.schema}.${this.table}`, columns.map((c) => c.spec.name));
    const meta: InstanceMeta = {
      instance,
      table: { schema: this.schema, name: this.table, columns: columns.map((c) => c.spec), key },
      columns,
      decoder: new UpdateMaskDecoder(columns.map((c) => ({ name: c.spec.name, ordinal: c.ordinal }))),
    };
    this.described.set(instance, meta);
    return meta;
  }

  static column(r: DbRow): CdcColumn {
    const nc: NativeColumn = {
      name: String(r.column_name),
      dataType: String(r.data_type).toLowerCase(),
      charMaxLength: num(r.char_len),
      numericPrecision: num(r.num_prec),
      numericScale: num(r.num_scale),
      datetimePrecision: num(r.dt_prec),
      nullable: String(r.is_nullable ?? 'YES').toUpperCase() === 'YES',
    };
    const lob = lobKindOf(nc);
    const spec: ColumnSpec = { name: nc.name, type: mssqlDialect.columnType(nc), nullable: nc.nullable };
    if (lob !== 'none') spec.lob = true;
    return { spec, ordinal: Number(r.column_ordinal), lob };
  }
}
