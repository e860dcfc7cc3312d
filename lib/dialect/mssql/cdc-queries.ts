/**
 * Every statement the SQL Server CDC source sends, behind one small interface.
 *
 * `CdcQueries` returns rows exactly as the `mssql` driver returns them (binary(10) LSNs
 * as Buffers, __$operation as a number, __$update_mask as a Buffer, datetime as a Date
 * whose UTC fields are the server's wall clock …); the classes that interpret them
 * (LsnWindowReader, CaptureInstanceResolver, CdcRowMapper, the source) hold all the
 * logic. `MssqlCdcQueries` is the real implementation over a Db; unit tests implement
 * the interface with canned SQL-Server-shaped result sets.
 *
 * The SQL builders are exported so a test can check the statements without a server.
 * Identifiers (instance, schema, table, columns) come from the catalog and config and
 * are always quoted; values are always parameters. LSN parameters are CAST to binary(10)
 * so that a NULL (bound untyped) never meets SQL Server's "implicit conversion from
 * nvarchar to binary is not allowed".
 */
import type { Db, DbRow } from '../dialect.js';
import type { ColumnType, Value } from '../../types.js';
import { mssqlDialect, readExpression } from './dialect.js';
import type { Lsn } from './lsn.js';

const q = (id: string) => mssqlDialect.quote(id);

export interface ReadColumn {
  name: string;
  type: ColumnType;
}

export interface ChangesRequest {
  instance: string;
  columns: readonly ReadColumn[];
  from: Lsn;
  to: Lsn;
  /**
   * Resume inside a transaction: only rows after (lsn, seqval), or at or after it when
   * `inclusive`; seqval null = the whole lsn.
   */
  resumeAt: { lsn: Lsn; seqval: Lsn | null; inclusive: boolean } | null;
  limit: number;
}

export interface SnapshotRequest {
  schema: string;
  table: string;
  columns: readonly ReadColumn[];
  key: readonly ReadColumn[];
  /** Key of the last row already read (keyset pagination), or null for the first chunk. */
  afterKey: readonly Value[] | null;
  limit: number;
}

export interface CdcQueries {
  /** capture_instance, start_lsn (binary(10) or NULL), create_date of every instance of the table. */
  listInstances(schema: string, table: string): Promise<DbRow[]>;
  /** column_name, column_ordinal and catalog type fields of the instance's captured columns. */
  capturedColumns(instance: string): Promise<DbRow[]>;
  /** column_name of the instance's unique index (cdc.index_columns), in index order. */
  indexColumns(instance: string): Promise<DbRow[]>;
  /** One row: min_lsn, max_lsn, next_lsn, switch_prev_lsn, utc_offset_minutes, now_utc. */
  lsnWindow(instance: string, saved: Lsn | null, switchAt: Lsn | null): Promise<DbRow[]>;
  /** Rows of cdc.fn_cdc_get_all_changes_<instance>(from, to, N'all update old') with __$tran_end_time. */
  changes(req: ChangesRequest): Promise<DbRow[]>;
  /** One row: max_lsn, min_lsn (of the instance), now_utc — taken when a snapshot starts. */
  snapshotStart(instance: string): Promise<DbRow[]>;
  /** Up to `limit` rows of the source table after `afterKey`, in key order. */
  snapshotChunk(req: SnapshotRequest): Promise<DbRow[]>;
  /** One row: window_end (the commit LSN of the n-th transaction in [from, to]) and transactions (how many, ≤ n). */
  windowEnd(from: Lsn, to: Lsn, transactions: number): Promise<DbRow[]>;
  /** One row: acked_time (commit time of the last transaction at or before `acked`) and max_time (of the newest), server-local. */
  lagTimes(acked: Lsn): Promise<DbRow[]>;
}

export const LIST_INSTANCES_SQL = `SELECT ct.capture_instance, ct.start_lsn, ct.create_date
  FROM cdc.change_tables AS ct
  JOIN sys.tables AS t ON t.object_id = ct.source_object_id
  JOIN sys.schemas AS s ON s.schema_id = t.schema_id
 WHERE s.name = @p1 AND t.name = @p2
 ORDER BY ct.create_date, ct.capture_instance`;

// Types come from the change table (cdc.<instance>_CT holds every captured column with
// its source type, also after the source column was dropped); nullability from the source.
export const CAPTURED_COLUMNS_SQL = `SELECT cc.column_name, cc.column_ordinal, col.DATA_TYPE AS data_type,
       col.CHARACTER_MAXIMUM_LENGTH AS char_len, col.NUMERIC_PRECISION AS num_prec, col.NUMERIC_SCALE AS num_scale,
       col.DATETIME_PRECISION AS dt_prec, COALESCE(src.IS_NULLABLE, N'YES') AS is_nullable
  FROM cdc.captured_columns AS cc
  JOIN cdc.change_tables AS ct ON ct.object_id = cc.object_id
  JOIN INFORMATION_SCHEMA.COLUMNS AS col
    ON col.TABLE_SCHEMA = N'cdc' AND col.TABLE_NAME = ct.capture_instance + N'_CT' AND col.COLUMN_NAME = cc.column_name
  LEFT JOIN INFORMATION_SCHEMA.COLUMNS AS src
    ON src.TABLE_SCHEMA = OBJECT_SCHEMA_NAME(ct.source_object_id) AND src.TABLE_NAME = OBJECT_NAME(ct.source_object_id)
   AND src.COLUMN_NAME = cc.column_name
 WHERE ct.capture_instance = @p1
 ORDER BY cc.column_ordinal`;

export const INDEX_COLUMNS_SQL = `SELECT ic.column_name
  FROM cdc.index_columns AS ic
  JOIN cdc.change_tables AS ct ON ct.object_id = ic.object_id
 WHERE ct.capture_instance = @p1
 ORDER BY ic.index_ordinal`;

// The server's UTC offset is read in the same statement as the window, once per poll:
// lsn_time_mapping holds server-local times, and the offset changes with DST.
export const LSN_WINDOW_SQL = `SELECT sys.fn_cdc_get_min_lsn(@p1) AS min_lsn,
       sys.fn_cdc_get_max_lsn() AS max_lsn,
       CASE WHEN @p2 IS NULL THEN NULL ELSE sys.fn_cdc_increment_lsn(CAST(@p2 AS binary(10))) END AS next_lsn,
       CASE WHEN @p3 IS NULL THEN NULL ELSE sys.fn_cdc_decrement_lsn(CAST(@p3 AS binary(10))) END AS switch_prev_lsn,
       DATEPART(TZOFFSET, SYSDATETIMEOFFSET()) AS utc_offset_minutes,
       SYSUTCDATETIME() AS now_utc`;

export const SNAPSHOT_START_SQL = `SELECT sys.fn_cdc_get_max_lsn() AS max_lsn, sys.fn_cdc_get_min_lsn(@p1) AS min_lsn, SYSUTCDATETIME() AS now_utc`;

// A backlog is read a bounded number of transactions at a time: the change query's
// ORDER BY (start_lsn, seqval, operation) is not the change table's clustered order
// (start_lsn, command_id, seqval, operation), so SQL Server sorts the whole window.
export const WINDOW_END_SQL = `SELECT MAX(w.start_lsn) AS window_end, COUNT(*) AS transactions
  FROM (SELECT TOP (@p3) start_lsn
          FROM cdc.lsn_time_mapping
         WHERE start_lsn >= CAST(@p1 AS binary(10)) AND start_lsn <= CAST(@p2 AS binary(10))
         ORDER BY start_lsn) AS w`;

// Both times are server-local, so their difference needs no time zone.
export const LAG_TIMES_SQL = `SELECT (SELECT TOP (1) a.tran_end_time FROM cdc.lsn_time_mapping AS a
          WHERE a.start_lsn <= CAST(@p1 AS binary(10)) ORDER BY a.start_lsn DESC) AS acked_time,
       (SELECT TOP (1) b.tran_end_time FROM cdc.lsn_time_mapping AS b ORDER BY b.start_lsn DESC) AS max_time`;

/** The change query for one window; parameters @p1 from, @p2 to, @p3 resume lsn, @p4 resume seqval, @p5 limit, @p6 resume inclusive (bit). */
export function changesSql(instance: string, columns: readonly ReadColumn[]): string {
  const fn = `cdc.${q(`fn_cdc_get_all_changes_${instance}`)}`;
  const cols = columns.map((c) => readExpression(`c.${q(c.name)}`, c.type, c.name));
  const [lsn, seq, op, mask, time] = ['__$start_lsn', '__$seqval', '__$operation', '__$update_mask', '__$tran_end_time'].map(q);
  return `SELECT TOP (@p5) c.${lsn}, c.${seq}, c.${op}, c.${mask}, m.tran_end_time AS ${time}${cols.length ? ',\n       ' : ''}${cols.join(',\n       ')}
  FROM ${fn}(CAST(@p1 AS binary(10)), CAST(@p2 AS binary(10)), N'all update old') AS c
  LEFT JOIN cdc.lsn_time_mapping AS m ON m.start_lsn = c.${lsn}
 WHERE @p3 IS NULL
    OR c.${lsn} > CAST(@p3 AS binary(10))
    OR (c.${lsn} = CAST(@p3 AS binary(10))
        AND (@p4 IS NULL OR c.${seq} > CAST(@p4 AS binary(10)) OR (@p6 = 1 AND c.${seq} = CAST(@p4 AS binary(10)))))
 ORDER BY c.${lsn}, c.${seq}, c.${op}`;
}

/** Parameter casts for keyset comparison: the canonical text forms become the column's type. */
function keyParam(index: number, t: ColumnType): string {
  const p = mssqlDialect.param(index);
  switch (t.kind) {
    case 'timestamp': case 'time': case 'decimal': case 'uuid': case 'date':
      return `CAST(${p} AS ${mssqlDialect.nativeType(t)})`;
    default:
      return p;
  }
}

/**
 * One snapshot chunk by keyset pagination: (k1 > @a) OR (k1 = @a AND k2 > @b) …, which
 * SQL Server needs spelled out (it has no row-value comparison). @p1 is the limit, the
 * key values follow from @p2.
 */
export function snapshotChunkSql(req: Pick<SnapshotRequest, 'schema' | 'table' | 'columns' | 'key'>, withAfterKey: boolean): string {
  const table = mssqlDialect.qualified({ schema: req.schema, name: req.table });
  const cols = req.columns.map((c) => readExpression(q(c.name), c.type, c.name));
  let where = '';
  if (withAfterKey) {
    const ors = req.key.map((_, i) => {
      const eqs = req.key.slice(0, i).map((k, j) => `${q(k.name)} = ${keyParam(j + 2, k.type)}`);
      return `(${[...eqs, `${q(req.key[i]!.name)} > ${keyParam(i + 2, req.key[i]!.type)}`].join(' AND ')})`;
    });
    where = `\n WHERE ${ors.join('\n    OR ')}`;
  }
  return `SELECT TOP (@p1) ${cols.join(', ')}
  FROM ${table}${where}
 ORDER BY ${req.key.map((k) => q(k.name)).join(', ')}`;
}

export class MssqlCdcQueries implements CdcQueries {
  constructor(private readonly db: Db) {}

  listInstances(schema: string, table: string): Promise<DbRow[]> {
    return this.db.query(LIST_INSTANCES_SQL, [schema, table]);
  }

  capturedColumns(instance: string): Promise<DbRow[]> {
    return this.db.query(CAPTURED_COLUMNS_SQL, [instance]);
  }

  indexColumns(instance: string): Promise<DbRow[]> {
    return this.db.query(INDEX_COLUMNS_SQL, [instance]);
  }

  lsnWindow(instance: string, saved: Lsn | null, switchAt: Lsn | null): Promise<DbRow[]> {
    return this.db.query(LSN_WINDOW_SQL, [instance, saved, switchAt]);
  }

  changes(req: ChangesRequest): Promise<DbRow[]> {
    return this.db.query(changesSql(req.instance, req.columns), [req.from, req.to, req.resumeAt?.lsn ?? null, req.resumeAt?.seqval ?? null, req.limit, req.resumeAt?.inclusive ?? false]);
  }

  snapshotStart(instance: string): Promise<DbRow[]> {
    return this.db.query(SNAPSHOT_START_SQL, [instance]);
  }

  snapshotChunk(req: SnapshotRequest): Promise<DbRow[]> {
    const keyParams = req.afterKey ? req.afterKey.map((v, i) => mssqlDialect.toDb(v, req.key[i]!.type)) : [];
    return this.db.query(snapshotChunkSql(req, req.afterKey !== null), [req.limit, ...keyParams]);
  }

  windowEnd(from: Lsn, to: Lsn, transactions: number): Promise<DbRow[]> {
    return this.db.query(WINDOW_END_SQL, [from, to, transactions]);
  }

  lagTimes(acked: Lsn): Promise<DbRow[]> {
    return this.db.query(LAG_TIMES_SQL, [acked]);
  }
}
