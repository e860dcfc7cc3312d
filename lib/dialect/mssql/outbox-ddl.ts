/**
 * SQL Server trigger outbox DDL (see lib/capture/outbox-layout.ts for the row layout),
 * for databases where CDC is not available (e.g. editions or permissions without it).
 * Generation only: the SQL Server capture path of this project is CDC (cdc-source.ts);
 * these statements are unit-tested for shape, not installed by `fieldsync capture install`.
 *
 * SQL Server triggers fire once per statement with the `inserted` and `deleted` pseudo
 * tables, so each table gets ONE trigger (AFTER INSERT, UPDATE, DELETE) that pairs rows
 * by key:
 *   inserted without a deleted partner → 'I'; deleted without an inserted partner → 'D'
 *   (so an update of the key is a delete of the old key plus an insert of the new one);
 *   pairs → 'U', recorded only when at least one column changed (NULL-safe comparison,
 *   strings compared under a binary collation so a change of case counts).
 * Row JSON is built with FOR JSON PATH, INCLUDE_NULL_VALUES, with exact value expressions:
 *   decimal/numeric/money  CONVERT(varchar) of the decimal   (digits as stored)
 *   float/real             CONVERT(varchar, col, 3)          (17 significant digits, round trip)
 *   binary/varbinary       CONVERT(varchar(max), col, 2)     (hex, FOR JSON would use base64)
 *   datetime2/datetime     CONVERT(varchar, col, 126)        (ISO 8601, all fractional digits)
 *   datetimeoffset         CONVERT(varchar, SWITCHOFFSET(col, 0), 126)  (UTC)
 *   date/time/uniqueidentifier  CONVERT(varchar, col[, 126])
 * Legacy text/ntext/image columns cannot be read from inserted/deleted and are rejected.
 *
 * Echo prevention: SESSION_CONTEXT(N'fieldsync.applier') (applierSessionSql). commit_micros
 * is the statement time (SYSUTCDATETIME()). The sequence is NO CACHE: a reader's visibility
 * barrier must be able to trust the sequence's current value (see visibility.ts; on SQL
 * Server the holders would be read from sys.dm_tran_locks on the outbox object).
 * Re-run safe: IF NOT EXISTS guards, CREATE OR ALTER TRIGGER (SQL Server 2016 SP1+).
 */
import { CHECKPOINT_TABLE, OUTBOX_SEQUENCE, OUTBOX_TABLE, TRIGGER_PREFIX } from '../../capture/outbox-layout.js';
import { DataError } from '../../errors.js';
import { applierSessionSql } from '../../merge/clock-layout.js';
import type { ColumnSpec, TableSchema } from '../../types.js';
import { mssqlDialect as d } from './dialect.js';

/** An N'…' literal. */
export const nlit = (s: string) => `N'${s.replace(/'/g, "''")}'`;
const sys = (fs: string, name: string) => `${d.quote(fs)}.${d.quote(name)}`;

export function mssqlInstallOutboxSql(fieldsyncSchema: string): string[] {
  const fs = fieldsyncSchema;
  return [
    `IF SCHEMA_ID(${nlit(fs)}) IS NULL EXEC(${nlit(`CREATE SCHEMA ${d.quote(fs)}`)})`,
    `IF OBJECT_ID(${nlit(sys(fs, OUTBOX_SEQUENCE))}, N'SO') IS NULL
  CREATE SEQUENCE ${sys(fs, OUTBOX_SEQUENCE)} AS bigint START WITH 1 INCREMENT BY 1 NO CACHE`,
    `IF OBJECT_ID(${nlit(sys(fs, OUTBOX_TABLE))}, N'U') IS NULL
  CREATE TABLE ${sys(fs, OUTBOX_TABLE)} (
    seq bigint NOT NULL CONSTRAINT ${d.quote(`PK_${fs}_${OUTBOX_TABLE}`)} PRIMARY KEY DEFAULT (NEXT VALUE FOR ${sys(fs, OUTBOX_SEQUENCE)}),
    table_schema sysname NOT NULL,
    table_name sysname NOT NULL,
    op char(1) NOT NULL,
    key_values nvarchar(max) NOT NULL,
    changed nvarchar(max) NULL,
    old_row nvarchar(max) NULL,
    new_row nvarchar(max) NULL,
    origin nvarchar(128) NOT NULL,
    commit_micros bigint NOT NULL)`,
    `IF OBJECT_ID(${nlit(sys(fs, CHECKPOINT_TABLE))}, N'U') IS NULL
  CREATE TABLE ${sys(fs, CHECKPOINT_TABLE)} (
    stream nvarchar(255) NOT NULL PRIMARY KEY,
    position nvarchar(max) NOT NULL,
    updated_at datetime2(6) NOT NULL DEFAULT SYSUTCDATETIME())`,
  ];
}

export function mssqlDropOutboxSql(fieldsyncSchema: string): string[] {
  const fs = fieldsyncSchema;
  return [
    `DROP TABLE IF EXISTS ${sys(fs, OUTBOX_TABLE)}`,
    `DROP SEQUENCE IF EXISTS ${sys(fs, OUTBOX_SEQUENCE)}`,
    `DROP TABLE IF EXISTS ${sys(fs, CHECKPOINT_TABLE)}`,
  ];
}

export function mssqlTriggerName(table: { name: string }): string {
  return `${TRIGGER_PREFIX}_${table.name}`.slice(0, 128);
}

/** The JSON value expression of one column read through `alias` (i or d). */
export function mssqlJsonValueExpr(alias: string, c: ColumnSpec, nativeType?: string): string {
  const ref = `${alias}.${d.quote(c.name)}`;
  const t = c.type;
  if (nativeType && /^(text|ntext|image)$/i.test(nativeType)) {
    throw new DataError(`column "${c.name}": ${nativeType} columns cannot be read in a trigger; use varchar(max)/nvarchar(max)/varbinary(max)`);
  }
  switch (t.kind) {
    case 'decimal': return `CONVERT(varchar(64), CAST(${ref} AS decimal(${Math.min(t.precision, 38)},${Math.min(t.scale, 38)})))`;
    case 'float': return `CONVERT(varchar(32), ${ref}, 3)`;
    case 'bytes': return `CONVERT(varchar(max), ${ref}, 2)`;
    case 'timestamp': return t.tz ? `CONVERT(varchar(40), SWITCHOFFSET(${ref}, 0), 126)` : `CONVERT(varchar(40), CAST(${ref} AS datetime2(7)), 126)`;
    case 'date': return `CONVERT(varchar(10), ${ref}, 23)`;
    case 'time': return `CONVERT(varchar(20), ${ref})`;
    case 'uuid': return `LOWER(CONVERT(varchar(36), ${ref}))`;
    case 'int': case 'bool': case 'string': case 'json': return ref;
  }
}

function rowJson(alias: string, columns: ColumnSpec[]): string {
  return `(SELECT ${columns.map((c) => `${mssqlJsonValueExpr(alias, c)} AS ${d.quote(c.name)}`).join(', ')} FOR JSON PATH, WITHOUT_ARRAY_WRAPPER, INCLUDE_NULL_VALUES)`;
}

function same(c: ColumnSpec): string {
  const i = `i.${d.quote(c.name)}`;
  const o = `d.${d.quote(c.name)}`;
  const eq = c.type.kind === 'string' || c.type.kind === 'json' ? `${i} COLLATE Latin1_General_BIN2 = ${o} COLLATE Latin1_General_BIN2` : `${i} = ${o}`;
  return `(${eq} OR (${i} IS NULL AND ${o} IS NULL))`;
}

/** The CREATE OR ALTER TRIGGER statement of one table. */
export function mssqlInstallTriggerSql(fieldsyncSchema: string, table: TableSchema, origin: string): string {
  if (table.columns.some((c) => c.name.includes('.'))) {
    throw new DataError(`table ${table.name}: column names with "." would nest in FOR JSON PATH output`);
  }
  const keyCols = table.key.map((k) => table.columns.find((c) => c.name === k)!);
  const joinOn = (a: string, b: string) => keyCols.map((k) => `${a}.${d.quote(k.name)} = ${b}.${d.quote(k.name)}`).join(' AND ');
  const outbox = sys(fieldsyncSchema, OUTBOX_TABLE);
  const cols = '(table_schema, table_name, op, key_values, changed, old_row, new_row, origin, commit_micros)';
  const head = `${nlit(table.schema || 'dbo')}, ${nlit(table.name)}`;
  // CONCAT takes at most 254 arguments: wide tables concatenate groups of 200
  const tests = table.columns.map((c) => `CASE WHEN ${same(c)} THEN N'' ELSE ${nlit(`,${JSON.stringify(c.name)}`)} END`);
  const groups: string[] = [];
  for (let g = 0; g < tests.length; g += 200) groups.push(`CONCAT(N'', ${tests.slice(g, g + 200).join(',\n        ')})`);
  const changedList = groups.join(',\n        ');
  return `CREATE OR ALTER TRIGGER ${d.quote(table.schema || 'dbo')}.${d.quote(mssqlTriggerName(table))} ON ${d.qualified({ schema: table.schema || 'dbo', name: table.name })}
AFTER INSERT, UPDATE, DELETE AS
BEGIN
  SET NOCOUNT ON;
  -- echo prevention: what a fieldsync applier wrote came from elsewhere and is not re-published
  IF ${applierSessionSql(d)} RETURN;
  DECLARE @now bigint = DATEDIFF_BIG(MICROSECOND, '1970-01-01', SYSUTCDATETIME());
  DECLARE @origin nvarchar(128) = ${nlit(origin)};
  INSERT INTO ${outbox} ${cols}
    SELECT ${head}, 'I', ${rowJson('i', keyCols)}, NULL, NULL, ${rowJson('i', table.columns)}, @origin, @now
      FROM inserted i WHERE NOT EXISTS (SELECT 1 FROM deleted d WHERE ${joinOn('d', 'i')});
  INSERT INTO ${outbox} ${cols}
    SELECT ${head}, 'U', ${rowJson('i', keyCols)}, N'[' + STUFF(ch.list, 1, 1, N'') + N']', ${rowJson('d', table.columns)}, ${rowJson('i', table.columns)}, @origin, @now
      FROM inserted i JOIN deleted d ON ${joinOn('i', 'd')}
      CROSS APPLY (SELECT CONCAT(N'',
        ${changedList}) AS list) ch
     WHERE ch.list <> N'';
  INSERT INTO ${outbox} ${cols}
    SELECT ${head}, 'D', ${rowJson('d', keyCols)}, NULL, ${rowJson('d', table.columns)}, NULL, @origin, @now
      FROM deleted d WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE ${joinOn('i', 'd')});
END`;
}

export function mssqlUninstallTriggerSql(table: { schema: string; name: string }): string {
  return `DROP TRIGGER IF EXISTS ${d.quote(table.schema || 'dbo')}.${d.quote(mssqlTriggerName(table))}`;
}
