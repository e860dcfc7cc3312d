import { describe, expect, it } from 'vitest';
import type { TableSchema } from '../../types.js';
import { mssqlDropOutboxSql, mssqlInstallOutboxSql, mssqlInstallTriggerSql, mssqlJsonValueExpr, mssqlTriggerName, mssqlUninstallTriggerSql } from './outbox-ddl.js';

const table: TableSchema = {
  schema: 'dbo', name: 'Clients', key: ['id', 'region'],
  columns: [
    { name: 'id', type: { kind: 'int', bits: 64 }, nullable: false },
    { name: 'region', type: { kind: 'string', maxLength: 10 }, nullable: false },
    { name: 'balance', type: { kind: 'decimal', precision: 19, scale: 4 }, nullable: true },
    { name: 'rate', type: { kind: 'float', bits: 64 }, nullable: true },
    { name: 'photo', type: { kind: 'bytes' }, nullable: true },
    { name: 'seen', type: { kind: 'timestamp', precision: 7, tz: true }, nullable: true },
    { name: 'born', type: { kind: 'date' }, nullable: true },
    { name: 'o\'dd ]name', type: { kind: 'string' }, nullable: true },
  ],
};

describe('SQL Server outbox DDL', () => {
  it('creates schema, NO CACHE sequence, outbox and checkpoint idempotently', () => {
    const sql = mssqlInstallOutboxSql('fieldsync');
    expect(sql).toHaveLength(4);
    expect(sql[0]).toBe("IF SCHEMA_ID(N'fieldsync') IS NULL EXEC(N'CREATE SCHEMA [fieldsync]')");
    expect(sql[1]).toMatch(/IF OBJECT_ID\(N'\[fieldsync\]\.\[outbox_seq\]', N'SO'\) IS NULL\s+CREATE SEQUENCE \[fieldsync\]\.\[outbox_seq\] AS bigint START WITH 1 INCREMENT BY 1 NO CACHE/);
    expect(sql[2]).toMatch(/DEFAULT \(NEXT VALUE FOR \[fieldsync\]\.\[outbox_seq\]\)/);
    for (const c of ['table_schema', 'table_name', 'op', 'key_values', 'changed', 'old_row', 'new_row', 'origin', 'commit_micros']) expect(sql[2]).toContain(`${c} `);
    expect(sql[3]).toContain('[fieldsync].[capture_checkpoint]');
    expect(mssqlDropOutboxSql('fieldsync')).toEqual(['DROP TABLE IF EXISTS [fieldsync].[outbox]', 'DROP SEQUENCE IF EXISTS [fieldsync].[outbox_seq]', 'DROP TABLE IF EXISTS [fieldsync].[capture_checkpoint]']);
  });

  it('generates one statement-level trigger that pairs inserted/deleted by key and skips applier sessions', () => {
    const sql = mssqlInstallTriggerSql('fieldsync', table, "bill'ing");
    expect(sql).toMatch(/^CREATE OR ALTER TRIGGER \[dbo\]\.\[fieldsync_outbox_Clients\] ON \[dbo\]\.\[Clients\]\nAFTER INSERT, UPDATE, DELETE AS/);
    expect(sql).toContain("IF coalesce(CAST(SESSION_CONTEXT(N'fieldsync.applier') AS int), 0) = 1 RETURN;");
    expect(sql).toContain("DECLARE @origin nvarchar(128) = N'bill''ing';");
    expect(sql).toContain("DATEDIFF_BIG(MICROSECOND, '1970-01-01', SYSUTCDATETIME())");
    // inserts without a deleted partner, deletes without an inserted partner, updates as pairs
    expect(sql).toContain("FROM inserted i WHERE NOT EXISTS (SELECT 1 FROM deleted d WHERE d.[id] = i.[id] AND d.[region] = i.[region])");
    expect(sql).toContain("FROM deleted d WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE i.[id] = d.[id] AND i.[region] = d.[region])");
    expect(sql).toContain('FROM inserted i JOIN deleted d ON i.[id] = d.[id] AND i.[region] = d.[region]');
    expect(sql).toContain("WHERE ch.list <> N''");
    // NULL-safe, binary-collation comparison for strings; JSON-escaped names in the changed list
    expect(sql).toContain("CASE WHEN (i.[region] COLLATE Latin1_General_BIN2 = d.[region] COLLATE Latin1_General_BIN2 OR (i.[region] IS NULL AND d.[region] IS NULL)) THEN N'' ELSE N',\"region\"' END");
    expect(sql).toContain("CASE WHEN (i.[balance] = d.[balance] OR (i.[balance] IS NULL AND d.[balance] IS NULL)) THEN N'' ELSE N',\"balance\"' END");
    expect(sql).toContain("ELSE N',\"o''dd ]name\"' END");
    expect(sql).toContain('i.[o\'dd ]]name] AS [o\'dd ]]name]');
    expect(sql).toContain('FOR JSON PATH, WITHOUT_ARRAY_WRAPPER, INCLUDE_NULL_VALUES');
    expect(sql.match(/INSERT INTO \[fieldsync\]\.\[outbox\]/g)).toHaveLength(3);
  });

  it('reads every value exactly (no base64, no rounding, UTC)', () => {
    const c = (name: string) => table.columns.find((x) => x.name === name)!;
    expect(mssqlJsonValueExpr('i', c('balance'))).toBe('CONVERT(varchar(64), CAST(i.[balance] AS decimal(19,4)))');
    expect(mssqlJsonValueExpr('i', c('rate'))).toBe('CONVERT(varchar(32), i.[rate], 3)');
    expect(mssqlJsonValueExpr('i', c('photo'))).toBe('CONVERT(varchar(max), i.[photo], 2)');
    expect(mssqlJsonValueExpr('d', c('seen'))).toBe('CONVERT(varchar(40), SWITCHOFFSET(d.[seen], 0), 126)');
    expect(mssqlJsonValueExpr('i', c('born'))).toBe('CONVERT(varchar(10), i.[born], 23)');
    expect(() => mssqlJsonValueExpr('i', c('region'), 'ntext')).toThrow(/ntext columns cannot be read in a trigger/);
  });

  it('chunks the changed-column CONCAT for wide tables (CONCAT takes at most 254 arguments)', () => {
    const wide: TableSchema = { schema: 'dbo', name: 'w', key: ['c0'], columns: Array.from({ length: 450 }, (_, i) => ({ name: `c${i}`, type: { kind: 'int', bits: 32 }, nullable: true })) };
    const sql = mssqlInstallTriggerSql('fs', wide, 'o');
    expect(sql.match(/CONCAT\(N'', CASE/g)).toHaveLength(3);
  });

  it('drops the trigger by the same name and rejects names FOR JSON PATH would nest', () => {
    expect(mssqlTriggerName(table)).toBe('fieldsync_outbox_Clients');
    expect(mssqlUninstallTriggerSql(table)).toBe('DROP TRIGGER IF EXISTS [dbo].[fieldsync_outbox_Clients]');
    expect(() => mssqlInstallTriggerSql('fs', { ...table, columns: [...table.columns, { name: 'a.b', type: { kind: 'int', bits: 32 }, nullable: true }] }, 'o')).toThrow(/nest/);
  });
});
